#pragma once
// What the benchmarks share to make a ratio honest (issue 16): the machine's load around a timed
// block, and peers run in fresh processes, each figure confirmed by a second fresh run.
//
//   const bench::PeerFigure torch = bench::run_peer_confirmed(command, [](const json& row) {
//     return row.at("model") == "mlp_32_32_1_b8" ? &row : nullptr; });
//   if (torch.valid()) ratio = torch.min_ms / mine_ms;   // else print torch.why
//
// The peers (issue 16): PyTorch 1.13 from Debian (/usr/bin/python3), and from PyPI in the pinned
// environments of tools/peers/setup.sh: PyTorch 2.x eager and torch.compile (build/peers/torch2)
// and JAX jax.jit (build/peers/jax). Each benchmark has one script per framework,
// bench/peer_pytorch_<bench>.py (--compile selects torch.compile) and bench/peer_jax_<bench>.py,
// printing the same JSON rows.
//   for (const bench::Peer& p : bench::peers(selection)) if (p.available()) run_twice(p.command("attention", args) ...
//
// A peer figure is void when either run says it was disturbed (bench/peer_timing.py: other
// processes used > 0.3 CPUs, or page faults were slow because of the VM's memory state) or the
// two runs' minimums differ by more than 20%.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace bench {

using json = nlohmann::json;

inline constexpr double kOthersLimit = 0.3;   // CPUs used by other processes during a block
inline constexpr double kRerunLimit = 0.20;   // largest relative difference between two runs of a peer

// The machine and this process at one instant: busy CPU seconds from /proc/stat (all but idle
// and iowait, so steal counts), our own CPU seconds and minor faults.
struct CpuSample {
  double busy = 0, own = 0;
  long minflt = 0;
  static CpuSample now() {
    CpuSample s;
    static const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    if (std::FILE* f = std::fopen("/proc/stat", "r")) {
      unsigned long long v[8] = {};
      if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                      &v[6], &v[7]) == 8)
        s.busy = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick;
      std::fclose(f);
    }
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    s.own = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
            static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
    s.minflt = u.ru_minflt;
    return s;
  }
};

// CPUs that other processes used between two samples `seconds` apart.
inline double others_cpus(const CpuSample& a, const CpuSample& b, double seconds) {
  return seconds > 0 ? std::max(0.0, ((b.busy - a.busy) - (b.own - a.own)) / seconds) : 0.0;
}

// The 1-minute load average.
inline double load_average() {
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

// CPUs other processes use over `seconds` of this process sleeping: the idle check before a run.
inline double idle_check(double seconds = 1.0) {
  const CpuSample a = CpuSample::now();
  usleep(static_cast<useconds_t>(seconds * 1e6));
  return others_cpus(a, CpuSample::now(), seconds);
}

// Touches and frees `gib` GiB so that the pages the next process faults in are backed by the
// host: on this KVM guest a page the host has taken back (virtio-balloon free-page reporting,
// DAMON pageout) costs 8-11 us to fault in, a recycled one 0.4 us (bench/RESULTS.md, "Why the
// recorded PyTorch figures were 4-6x slow"). Returns microseconds per page.
inline double warm_memory(size_t gib = 2) {
  const size_t bytes = gib << 30;
  const auto t0 = std::chrono::steady_clock::now();
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -1;
  for (size_t off = 0; off < bytes; off += 4096) static_cast<volatile char*>(p)[off] = 1;
  munmap(p, bytes);
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         static_cast<double>(bytes / 4096);
}

// Runs `command` in a fresh process; one JSON object per line of its standard output.
inline std::vector<json> run_json_lines(const std::string& command) {
  std::vector<json> out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char line[16384];
  while (std::fgets(line, sizeof(line), pipe)) {
    try {
      out.push_back(json::parse(line));
    } catch (const std::exception&) {
      std::fprintf(stderr, "[%s] %s", command.substr(0, 60).c_str(), line);
    }
  }
  const int status = pclose(pipe);
  if (status != 0) std::fprintf(stderr, "command failed (status %d): %s\n", status, command.c_str());
  return out;
}

// One peer figure after its confirming re-run.
struct PeerFigure {
  double min_ms = -1, median_ms = -1;  // the lower minimum of the two runs, and that run's median
  double first_ms = -1, second_ms = -1;
  double faults = -1, fresh_page_us = -1;  // the faster run's fastest call: its page faults, the VM's fault cost
  std::string why;  // empty: valid; else why the figure is void
  bool valid() const { return min_ms > 0 && why.empty(); }
  // "12.3" or "void (reason)"
  std::string text(int decimals = 2) const;
};

inline std::string PeerFigure::text(int decimals) const {
  char buf[64];
  if (min_ms <= 0) return "-";
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, min_ms);
  return valid() ? std::string(buf) : std::string(buf) + " void: " + why;
}

// `stat` is a peer_timing result ({"min_ms", "median_ms", "disturbed": [...]}) from each run.
inline PeerFigure confirm(const json* first, const json* second) {
  PeerFigure f;
  if (first == nullptr || second == nullptr) {
    f.why = "a run gave no figure";
    return f;
  }
  f.first_ms = first->at("min_ms").get<double>();
  f.second_ms = second->at("min_ms").get<double>();
  const bool first_is_min = f.first_ms <= f.second_ms;
  f.min_ms = std::min(f.first_ms, f.second_ms);
  const json& faster = *(first_is_min ? first : second);
  f.median_ms = faster.at("median_ms").get<double>();
  if (faster.contains("at_min")) {
    f.faults = faster["at_min"].value("faults", -1.0);
    f.fresh_page_us = faster["at_min"].value("fresh_page_us", -1.0);
  }
  std::vector<std::string> reasons;
  for (const json* run : {first, second}) {
    for (const json& r : run->value("disturbed", json::array())) reasons.push_back(r.get<std::string>());
  }
  const double spread = std::fabs(f.first_ms - f.second_ms) / f.min_ms;
  if (spread > kRerunLimit) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "re-run differs by %.0f%% (%.3f vs %.3f ms)", spread * 100, f.first_ms,
                  f.second_ms);
    reasons.push_back(buf);
  }
  for (const std::string& r : reasons) f.why += (f.why.empty() ? "" : "; ") + r;
  return f;
}

// Runs `command` twice, each in a fresh process, and confirms the figure that `pick` finds in
// each run's output (pick returns the peer_timing object of the wanted row, or nullptr).
inline std::vector<json> run_twice(const std::string& command, std::vector<json>* second) {
  warm_memory();
  std::vector<json> first = run_json_lines(command);
  warm_memory();
  *second = run_json_lines(command);
  return first;
}

inline PeerFigure confirm_in(const std::vector<json>& first, const std::vector<json>& second,
                             const std::function<const json*(const json&)>& pick) {
  const json* a = nullptr;
  const json* b = nullptr;
  for (const json& row : first) a = a ? a : pick(row);
  for (const json& row : second) b = b ? b : pick(row);
  return confirm(a, b);
}

// One peer: a framework and mode under an interpreter.
struct Peer {
  std::string name;       // "PyTorch 1.13", "PyTorch 2 eager", "torch.compile", "jax.jit"
  std::string key;        // its name on the command line: torch1, torch2, compile, jax
  std::string python;     // the interpreter
  std::string framework;  // the script family: peer_<framework>_<bench>.py
  std::string flags;      // "--compile" for torch.compile
  bool available() const { return std::filesystem::exists(python); }
  // The shell command that runs this peer's script for `bench` with `args`. The peer sets its own
  // thread count; the OpenMP settings the bench was started with tune minidl's team and must not
  // reach the peer's (OMP_WAIT_POLICY=passive, which rnn_bench's runs used, made PyTorch 2's 2-thread
  // LSTM step 2x slower: 20.2 against 9.4 ms).
  std::string command(const std::string& bench, const std::string& args) const {
    return "env -u OMP_WAIT_POLICY -u OMP_NUM_THREADS -u OMP_PROC_BIND -u OMP_PLACES " + python + " " + std::string(MINIDL_BENCH_DIR) + "/peer_" + framework + "_" + bench + ".py " + flags +
           (flags.empty() ? "" : " ") + args;
  }
};

// The peers' --check mode: writes `payload` (minidl's inputs, weights and results) to a file in
// the temporary folder and runs each available peer of `framework` in the selection on it as
// `peer_<framework>_<bench>.py --threads 1 --check FILE`; returns the JSON rows each printed,
// with that peer. A peer that is not installed is said on standard output and skipped.
inline std::vector<std::pair<Peer, std::vector<json>>> run_checks(const std::vector<Peer>& selection,
                                                                  const std::string& bench, const json& payload,
                                                                  const std::string& framework = "jax") {
  const std::string path = (std::filesystem::temp_directory_path() / (bench + "_bench_check.json")).string();
  if (std::FILE* f = std::fopen(path.c_str(), "w")) {
    std::fputs(payload.dump().c_str(), f);
    std::fclose(f);
  }
  std::vector<std::pair<Peer, std::vector<json>>> out;
  for (const Peer& p : selection) {
    if (p.framework != framework) continue;
    if (!p.available()) {
      std::printf("%s: not installed (%s)\n", p.name.c_str(), p.python.c_str());
      continue;
    }
    out.emplace_back(p, run_json_lines(p.command(bench, "--threads 1 --check " + path)));
  }
  return out;
}

// Where tools/peers/setup.sh made the environments: $MINIDL_PEER_ENVS, else build/peers in the
// source tree.
inline std::string peer_envs() {
  if (const char* dir = std::getenv("MINIDL_PEER_ENVS"); dir != nullptr && *dir) return dir;
  return std::string(MINIDL_BENCH_DIR) + "/../build/peers";
}

// The peers named in `selection` ("all", or comma-separated keys: torch1,torch2,compile,jax), in
// that order. Whether each is installed is for the caller to ask (available()), so that a missing
// one is reported, not silently dropped.
inline std::vector<Peer> peers(const std::string& selection = "all") {
  const std::string envs = peer_envs();
  const std::vector<Peer> every = {
      {"PyTorch 1.13", "torch1", "/usr/bin/python3", "pytorch", ""},
      {"PyTorch 2 eager", "torch2", envs + "/torch2/bin/python", "pytorch", ""},
      {"torch.compile", "compile", envs + "/torch2/bin/python", "pytorch", "--compile"},
      {"jax.jit", "jax", envs + "/jax/bin/python", "jax", ""},
  };
  if (selection == "all") return every;
  std::vector<Peer> out;
  size_t start = 0;
  while (start <= selection.size()) {
    const size_t end = std::min(selection.find(',', start), selection.size());
    const std::string key = selection.substr(start, end - start);
    bool found = false;
    for (const Peer& p : every) {
      if (p.key == key) {
        out.push_back(p);
        found = true;
      }
    }
    if (!found && !key.empty()) {
      std::fprintf(stderr, "unknown peer '%s' (all, or a list of torch1,torch2,compile,jax)\n", key.c_str());
      std::exit(2);
    }
    start = end + 1;
  }
  return out;
}

}  // namespace bench
