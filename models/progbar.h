#pragma once
// Keras's progress bar (keras/src/utils/progbar.py), as fit() and evaluate() print it.
//
//   md::Progbar bar(100);                      // 100 steps, verbose 1
//   bar.update(1, {{"loss", 0.71}});
//   bar.update(100, {{"loss", 0.42}}, true);   // "100/100 ━━━━━━━━━━━━━━━━━━━━ 1s 5ms/step - loss: 0.4200"
//
// verbose 1 redraws one line (dynamic when stdout is a terminal: "\b...\r", else starting a
// new line each update); verbose 2 prints only the finished line. Values shown are the ones
// passed in (Keras 3.15+: the logs are already running means, so no averaging here).
#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace minidl {

struct ProgbarOptions {
  int verbose = 1;
  double interval = 0.05;  // seconds between redraws (the final one always draws)
  std::ostream* out = nullptr;  // null: std::cout
  int dynamic_display = -1;     // -1: when `out` is std::cout on a terminal; 0 or 1 to force
  std::function<double()> clock{};  // seconds; null = steady_clock (tests inject a fake one)
};

class Progbar {
 public:
  explicit Progbar(int64_t target, ProgbarOptions options = {});
  void update(int64_t current, const std::vector<std::pair<std::string, double>>& values = {},
              bool finalize = false);

  // Keras's time formats, exposed for tests: "12s" / "1:05" / "1:01:05" and "5ms/step".
  static std::string format_eta(double seconds);
  static std::string format_time_per_step(double seconds);
  static std::string format_value(double value, bool absolute = true);

 private:
  double now() const;
  int64_t target_;
  ProgbarOptions options_;
  bool dynamic_;
  double start_;
  double last_update_ = 0.0;
  double first_step_seconds_ = 0.0;  // the first step, left out of time/step once there are more
  int64_t seen_ = 0;
  size_t previous_width_ = 0;
};

// Whether standard output is a terminal (decides verbose "auto" rendering).
bool stdout_is_terminal();

}  // namespace minidl
