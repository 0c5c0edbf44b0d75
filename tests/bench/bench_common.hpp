// What the tapegrad and LibTorch benchmark programs share: the command line,
// the clock, medians and the result lines the driver (compare.py) parses.
// Header-only and free of both libraries, so each program stays independent.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

// --only a,b  --threads N  --mnist DIR  --quick  --steps N
struct Args {
  std::vector<std::string> only;
  int threads = 1;
  std::string mnist;
  bool quick = false;
  int steps = -1;  // overrides the step count of the MLP workloads (peak-memory runs)

  bool wants(const std::string& name) const {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  }
};

inline Args parse(int argc, char** argv, const char* program) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(std::string("[") + program + "] " + s + " needs a value");
      return argv[++i];
    };
    if (s == "--only") {
      std::string v = value();
      for (size_t p = 0; p <= v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        if (q > p) a.only.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    } else if (s == "--threads") {
      a.threads = std::stoi(value());
      if (a.threads < 1) throw std::runtime_error(std::string("[") + program + "] --threads must be at least 1");
    } else if (s == "--mnist") {
      a.mnist = value();
    } else if (s == "--steps") {
      a.steps = std::stoi(value());
    } else if (s == "--quick") {
      a.quick = true;
    } else {
      throw std::runtime_error(std::string("[") + program + "] unknown option '" + s +
                               "' (options: --only a,b --threads N --mnist DIR --steps N --quick)");
    }
  }
  return a;
}

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds of each of `repeats` calls of f after `warmup` unmeasured ones.
template <class F>
std::vector<double> time_runs(int warmup, int repeats, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  t.reserve(static_cast<size_t>(repeats));
  for (int i = 0; i < repeats; ++i) {
    const double t0 = now();
    f();
    t.push_back(now() - t0);
  }
  return t;
}

// One parsed line: "result WORKLOAD METRIC VALUE UNIT".
inline void result(const std::string& workload, const std::string& metric, double value, const char* unit) {
  std::printf("result %s %s %.6g %s\n", workload.c_str(), metric.c_str(), value, unit);
  std::fflush(stdout);
}

inline void skipped(const std::string& workload, const std::string& why) {
  std::printf("skipped %s %s\n", workload.c_str(), why.c_str());
  std::fflush(stdout);
}

// Sizes shared by both programs, so they measure the same work.
inline constexpr int kChainOps = 20000;
inline constexpr int kMlpWarmup = 20, kMlpSteps = 200;
inline constexpr long kElementwiseN = 16L << 20;
// cnn_simple: the book's SimpleConvNet (conv 30x5x5 - relu - pool 2 - affine 100 - relu - affine 10) on batch 100
inline constexpr int kCnnWarmup = 3, kCnnSteps = 20;
inline constexpr int64_t kCnnBatch = 100, kCnnFilters = 30, kCnnKernel = 5, kCnnHidden = 100;

// The median seconds of a cnn_simple step: kCnnSteps after kCnnWarmup (fewer with --quick; --steps sets the count).
template <class F>
double median_cnn_step(const Args& args, F&& step) {
  const int steps = args.steps > 0 ? args.steps : (args.quick ? 5 : kCnnSteps);
  return median(time_runs(args.quick ? 1 : kCnnWarmup, steps, step));
}

// The median seconds of an MLP training step: kMlpSteps after kMlpWarmup (fewer with --quick, --steps).
template <class F>
double median_step(const Args& args, F&& step) {
  const int steps = args.steps > 0 ? args.steps : (args.quick ? 30 : kMlpSteps);
  return median(time_runs(args.quick ? 5 : kMlpWarmup, steps, step));
}

// tape_overhead's lines: nanoseconds per op of the chain's forward, backward and both.
inline void report_chain(const std::string& name, const std::vector<double>& fwd, const std::vector<double>& bwd) {
  const double f = median(fwd) * 1e9 / kChainOps, b = median(bwd) * 1e9 / kChainOps;
  result(name, "forward", f, "ns/op");
  result(name, "backward", b, "ns/op");
  result(name, "total", f + b, "ns/op");
}

// The suite, in order, with each workload's sizes: both programs run exactly
// this list. Impl provides the workloads for its library as static functions.
template <class Impl>
void run_suite(const Args& args) {
  if (args.wants("tape_overhead")) {
    Impl::tape_overhead("tape_overhead_1", {1}, args);
    Impl::tape_overhead("tape_overhead_4x4", {4, 4}, args);
  }
  if (args.wants("mlp_small")) Impl::mlp("mlp_small", {784, 100, 10}, "sigmoid", 100, args, 1e6, "us");
  if (args.wants("mlp_large")) Impl::mlp("mlp_large", {784, 1024, 1024, 10}, "relu", 256, args, 1e3, "ms");
  if (args.wants("matmul")) {
    Impl::matmul(256, args);
    Impl::matmul(1024, args);
  }
  if (args.wants("elementwise")) Impl::elementwise(args);
  if (args.wants("mnist_epoch")) Impl::mnist_epoch(args);
  // convolution and pooling
  if (args.wants("cnn_simple")) Impl::cnn_simple(args);
}

}  // namespace bench
