// Progbar: Keras's progress-bar lines (keras/src/utils/progbar.py, keras-semantics.md E.4),
// with a fake clock so that times are exact.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <sstream>

namespace md = minidl;

namespace {

struct ProgbarClock {
  double t = 100.0;
};

}  // namespace

TEST_CASE("Progbar verbose=2 prints one Keras line when finished", "[models][progbar]") {
  std::ostringstream out;
  ProgbarClock clock;
  md::Progbar bar(32, {.verbose = 2, .out = &out, .dynamic_display = 0, .clock = [&] { return clock.t; }});
  clock.t += 0.5;
  bar.update(1, {{"loss", 0.9}});
  clock.t += 0.155;  // 31 more steps at 5 ms
  bar.update(31, {{"loss", 0.5}});
  CHECK(out.str().empty());
  bar.update(32, {{"loss", 0.1234}, {"val_loss", 0.0004}}, true);
  // elapsed 0.655 s -> "1s"; (0.655 - 0.5) / 31 = 5 ms per step (the first step left out).
  CHECK(out.str() == "32/32 - 1s - 5ms/step - loss: 0.1234 - val_loss: 4.0000e-04\n");
}

TEST_CASE("Progbar verbose=1 draws the bar, ETA and metrics, then the final line", "[models][progbar]") {
  std::ostringstream out;
  ProgbarClock clock;
  md::Progbar bar(10, {.verbose = 1, .out = &out, .dynamic_display = 1, .clock = [&] { return clock.t; }});
  clock.t += 2.0;
  bar.update(5, {{"loss", 0.5}});
  const std::string first = out.str();
  // 5/10: 10 green and 10 grey bar characters, ETA 5 * 0.4 s = 2s, 400 ms per step.
  CHECK(first == "\r\x1b[1m 5/10\x1b[0m \x1b[32m" + std::string("━━━━━━━━━━") + "\x1b[0m\x1b[37m" +
                     std::string("━━━━━━━━━━") + "\x1b[0m \x1b[1m2s\x1b[0m 400ms/step - loss: 0.5000");
  out.str("");
  clock.t += 2.0;
  bar.update(10, {{"loss", 0.25}}, true);
  const std::string last = out.str();
  // The line is redrawn in place: backspaces over the previous width, then the finished line.
  const size_t width = 5 + 1 + 20 + 3 + 11 + 15;  // " 5/10" bar " 2s" " 400ms/step" " - loss: 0.5000"
  CHECK(last.substr(0, width) == std::string(width, '\b'));
  CHECK(last.substr(width) == "\r\x1b[1m10/10\x1b[0m \x1b[32m" + std::string("━━━━━━━━━━━━━━━━━━━━") +
                                  "\x1b[0m\x1b[37m\x1b[0m \x1b[1m4s\x1b[0m 400ms/step - loss: 0.2500\n");
}

TEST_CASE("Progbar formats times and values as Keras does", "[models][progbar]") {
  CHECK(md::Progbar::format_eta(12.7) == "12s");
  CHECK(md::Progbar::format_eta(65) == "1:05");
  CHECK(md::Progbar::format_eta(3665) == "1:01:05");
  CHECK(md::Progbar::format_time_per_step(0.0) == "0s/step");
  CHECK(md::Progbar::format_time_per_step(2.4) == "2s/step");
  CHECK(md::Progbar::format_time_per_step(0.0052) == "5ms/step");
  CHECK(md::Progbar::format_time_per_step(0.00052) == "520us/step");
  CHECK(md::Progbar::format_value(0.12345) == "0.1235");
  CHECK(md::Progbar::format_value(-0.5) == "-0.5000");
  CHECK(md::Progbar::format_value(0.0001234) == "1.2340e-04");
  CHECK(md::Progbar::format_value(-0.5, /*absolute=*/false) == "-5.0000e-01");
}

TEST_CASE("Progbar verbose=1 without a terminal starts each update on a new line", "[models][progbar]") {
  std::ostringstream out;
  ProgbarClock clock;
  md::Progbar bar(2, {.verbose = 1, .out = &out, .dynamic_display = 0, .clock = [&] { return clock.t; }});
  clock.t += 1.0;
  bar.update(1);
  CHECK(out.str().rfind("\n\x1b[1m1/2\x1b[0m", 0) == 0);
}
