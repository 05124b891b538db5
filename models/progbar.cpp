#include "minidl/models/progbar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <iostream>

namespace minidl {
namespace {

// Bytes of escape codes in a line, which take no columns (Keras counts them the same way).
constexpr size_t kBoldCodes = 8;   // "\x1b[1m" + "\x1b[0m"
constexpr size_t kColorCodes = 9;  // "\x1b[32m" + "\x1b[0m"
constexpr int kBarWidth = 20;

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Columns a UTF-8 string takes (the bar character is 3 bytes, 1 column).
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

Progbar::Progbar(int64_t target, ProgbarOptions options) : target_(target), options_(std::move(options)) {
  if (options_.out == nullptr) options_.out = &std::cout;
  dynamic_ = options_.dynamic_display >= 0 ? options_.dynamic_display == 1
                                          : (options_.out == &std::cout && stdout_is_terminal());
  start_ = now();
}

double Progbar::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Progbar::format_eta(double eta) {
  const auto e = static_cast<int64_t>(eta);
  if (eta > 3600) return fmt::format("{}:{:02d}:{:02d}", e / 3600, (e % 3600) / 60, e % 60);
  if (eta > 60) return fmt::format("{}:{:02d}", e / 60, e % 60);
  return fmt::format("{}s", e);
}

std::string Progbar::format_time_per_step(double t) {
  if (t >= 1 || t == 0) return fmt::format("{:.0f}s/step", t);
  if (t >= 1e-3) return fmt::format("{:.0f}ms/step", t * 1e3);
  return fmt::format("{:.0f}us/step", t * 1e6);
}

std::string Progbar::format_value(double v, bool absolute) {
  const bool plain = absolute ? std::fabs(v) > 1e-3 : v > 1e-3;
  // Python's "%.4e" writes at least two exponent digits, as fmt does.
  return plain ? fmt::format("{:.4f}", v) : fmt::format("{:.4e}", v);
}

void Progbar::update(int64_t current, const std::vector<std::pair<std::string, double>>& values, bool finalize) {
  finalize = finalize || (target_ > 0 && current >= target_);
  const double t = now();
  // Time per step, leaving out the first step once there are more (it holds one-off costs).
  double per_step = 0.0;
  if (current > 0) {
    per_step = (first_step_seconds_ > 0.0 && current > 1) ? (t - first_step_seconds_) / double(current - 1)
                                                          : (t - start_) / double(current);
    if (current == 1) first_step_seconds_ = t;
  }
  seen_ = current;
  std::ostream& out = *options_.out;

  if (options_.verbose == 1) {
    if (t - last_update_ < options_.interval && !finalize) return;
    std::string message = dynamic_ ? std::string(previous_width_, '\b') + "\r" : "\n";
    std::string bar;
    size_t special = 0;
    if (target_ > 0) {
      const int digits = static_cast<int>(std::log10(double(target_))) + 1;
      bar = fmt::format("\x1b[1m{:>{}}/{}\x1b[0m ", current, digits, target_);
      special += kBoldCodes;
      const int filled = static_cast<int>(kBarWidth * (double(current) / double(target_)));
      if (filled > 0) {
        bar += "\x1b[32m" + repeat("━", filled) + "\x1b[0m";
        special += kColorCodes;
      }
      bar += "\x1b[37m" + repeat("━", kBarWidth - filled) + "\x1b[0m";
      special += kColorCodes;
    } else {
      bar = fmt::format("{:>7}/Unknown", current);
    }
    std::string info;
    if (target_ > 0 && !finalize) {
      info = " \x1b[1m" + format_eta(per_step * double(target_ - current)) + "\x1b[0m";
    } else {
      info = fmt::format(" \x1b[1m{:.0f}s\x1b[0m", t - start_);
    }
    special += kBoldCodes;
    info += " " + format_time_per_step(per_step);
    for (const auto& [name, value] : values) info += " - " + name + ": " + format_value(value, true);
    message += bar + info;
    const size_t width = columns(bar) + columns(info) - special;
    if (previous_width_ > width) message += std::string(previous_width_ - width, ' ');
    if (finalize) message += "\n";
    out << message << std::flush;
    previous_width_ = width;
  } else if (options_.verbose == 2 && finalize && target_ > 0) {
    const int digits = static_cast<int>(std::log10(double(target_))) + 1;
    std::string line = fmt::format("{:>{}}/{} - {:.0f}s - {}", current, digits, target_, t - start_,
                                   format_time_per_step(per_step));
    for (const auto& [name, value] : values) line += " - " + name + ": " + format_value(value, false);
    out << line << "\n" << std::flush;
  }
  last_update_ = t;
}

}  // namespace minidl
