// The GPU benchmarks of issue #6: matrix products against a direct cuBLAS call,
// element-wise ops against the device's copy bandwidth, and the MNIST MLP's
// training step with the share of it spent outside kernels. Prints the
// "result WORKLOAD METRIC VALUE UNIT" lines of the CPU suite and
// "ceiling NAME RATIO" lines (docs/performance.md, section GPU).
//
//   build/tests/bench/bench_cuda [--device cuda|cuda_host] [--quick] [--only matmul,conv2d,elementwise,mlp_step] [--reps N]
//
// Without a usable GPU, --device cuda prints why and exits with 77 (skipped).
// --device cuda_host runs the same code on the host emulation, where the
// direct baseline is OpenBLAS's cblas_sgemm, as in the emulated kernels.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if defined(AG_BENCH_CUDA)
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include "autograd/tapegrad.hpp"
#include "cuda/allocator.hpp"
#include "cuda/cuda.hpp"
#include "cuda/runtime.hpp"
#include "nn/nn.hpp"
#include "tests/bench/bench_common.hpp"

using ag::Tensor;

namespace {

constexpr const char* kProgram = "bench_cuda";

#if defined(AG_BENCH_CUDA)
using BlasType = cudaDataType;
using BlasCompute = cublasComputeType_t;
#else
// A build without nvcc has no CUDA headers: stand-ins with the same names keep
// the matmul table below one table. Only cuda_host runs in such a build.
enum BlasType { CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF };
enum BlasCompute { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32 };
#endif

struct Options {
  ag::Device device = ag::Device::cuda(0);
  bool quick = false;
  int reps = -1;  // timed repetitions; -1: each workload's default
  std::vector<std::string> only;

  bool gpu() const { return device.kind == ag::Device::Kind::cuda; }
  bool wants(const std::string& name) const {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  }
  int repeats(int full, int quick_count) const { return reps > 0 ? reps : quick ? quick_count : full; }
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(std::string("[") + kProgram + "] " + s + " needs a value");
      return argv[++i];
    };
    if (s == "--device") {
      const std::string d = value();
      if (d == "cuda" || d == "cuda:0") o.device = ag::Device::cuda(0);
      else if (d == "cuda_host" || d == "cuda_host:0") o.device = ag::Device::cuda_host(0);
      else throw std::runtime_error(std::string("[") + kProgram + "] unknown device '" + d + "' (cuda or cuda_host)");
    } else if (s == "--only") {
      const std::string v = value();
      for (size_t p = 0; p <= v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        if (q > p) o.only.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    } else if (s == "--reps") {
      o.reps = std::stoi(value());
      if (o.reps < 1) throw std::runtime_error(std::string("[") + kProgram + "] --reps must be at least 1");
    } else if (s == "--quick") {
      o.quick = true;
    } else {
      throw std::runtime_error(std::string("[") + kProgram + "] unknown option '" + s +
                               "' (options: --device cuda|cuda_host --quick --only a,b --reps N)");
    }
  }
  return o;
}

void ceiling(const std::string& name, double ratio) {
  std::printf("ceiling %s %.3f\n", name.c_str(), ratio);
  std::fflush(stdout);
}

// The device address of a tensor's data (Tensor::data refuses device tensors).
template <class T> T* raw(const Tensor& t) { return t.impl_ptr()->data<T>(); }

// Waits for all work queued on the device; the emulation's kernels have finished on return.
void sync(const Options& o) {
  if (o.gpu()) ag::cuda::rt::synchronize(o.device.index, kProgram);
}

// Times work queued on the device's stream: CUDA events around it on a GPU, the
// host's clock on cuda_host, whose kernels run before their launch returns.
class DeviceTimer {
 public:
  explicit DeviceTimer(const Options& o) : o_(o) {
#if defined(AG_BENCH_CUDA)
    if (o_.gpu()) {
      CUDA_CHECK(kProgram, cudaEventCreate(&start_));
      CUDA_CHECK(kProgram, cudaEventCreate(&end_));
    }
#endif
  }
  ~DeviceTimer() {
#if defined(AG_BENCH_CUDA)
    if (o_.gpu()) {
      cudaEventDestroy(start_);
      cudaEventDestroy(end_);
    }
#endif
  }
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;

  void start() {
#if defined(AG_BENCH_CUDA)
    if (o_.gpu()) {
      CUDA_CHECK(kProgram, cudaEventRecord(start_, stream()));
      return;
    }
#endif
    t0_ = bench::now();
  }
  // Seconds since start(), on the device.
  double stop() {
#if defined(AG_BENCH_CUDA)
    if (o_.gpu()) {
      float ms = 0;
      CUDA_CHECK(kProgram, cudaEventRecord(end_, stream()));
      CUDA_CHECK(kProgram, cudaEventSynchronize(end_));
      CUDA_CHECK(kProgram, cudaEventElapsedTime(&ms, start_, end_));
      return ms * 1e-3;
    }
#endif
    return bench::now() - t0_;
  }

#if defined(AG_BENCH_CUDA)
  static cudaStream_t stream() { return static_cast<cudaStream_t>(ag::cuda::rt::current_stream()); }
#endif

 private:
  const Options& o_;
  double t0_ = 0;
#if defined(AG_BENCH_CUDA)
  cudaEvent_t start_ = nullptr, end_ = nullptr;
#endif
};

// Device seconds of each of `repeats` calls of f, after `warmup` untimed ones.
template <class F>
std::vector<double> time_device(const Options& o, int warmup, int repeats, F&& f) {
  DeviceTimer timer(o);
  for (int i = 0; i < warmup; ++i) f();
  sync(o);
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    timer.start();
    f();
    t.push_back(timer.stop());
  }
  return t;
}

// ---- matmul ---------------------------------------------------------------

// One row of the matmul table: tapegrad's product in `dtype` (with TF32 allowed
// or not) against a direct GEMM with cuBLAS's data and compute types.
struct MatmulCase {
  const char* name;
  ag::DType dtype;
  bool tf32;
  BlasType blas_type;
  BlasCompute compute;
};

// The 16-bit rows store A, B and C in 16 bits and accumulate in float32.
const MatmulCase kMatmulCases[] = {
    {"matmul_f32", ag::DType::float32, false, CUDA_R_32F, CUBLAS_COMPUTE_32F},
    {"matmul_tf32", ag::DType::float32, true, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
    {"matmul_bf16", ag::DType::bfloat16, false, CUDA_R_16BF, CUBLAS_COMPUTE_32F},
    {"matmul_f16", ag::DType::float16, false, CUDA_R_16F, CUBLAS_COMPUTE_32F},
};

// C = A B (row-major: A m x k, B k x n) straight through the BLAS, on the tensors' buffers.
void direct_gemm(const Options& o, const MatmulCase& c, const Tensor& a, const Tensor& b, Tensor& out) {
  const int m = static_cast<int>(a.shape()[0]), k = static_cast<int>(a.shape()[1]), n = static_cast<int>(b.shape()[1]);
#if defined(AG_BENCH_CUDA)
  if (o.gpu()) {
    using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                      const void*, cudaDataType, int, const void*, cudaDataType, int, const void*,
                                      void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    static const auto gemm_ex = reinterpret_cast<GemmEx>(ag::cuda::rt::blas_symbol("cublasGemmEx", kProgram));
    // tapegrad's own handle, so the call runs on the same stream (and workspace)
    auto handle = static_cast<cublasHandle_t>(ag::cuda::rt::blas_handle(kProgram));
    const float one = 1, zero = 0;  // scale type float: every row's compute type is 32F
    // row-major C = A B is column-major C^T = B^T A^T
    const cublasStatus_t s = gemm_ex(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, raw<void>(b), c.blas_type, n,
                                     raw<void>(a), c.blas_type, k, &zero, raw<void>(out), c.blas_type, n, c.compute,
                                     CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
      throw std::runtime_error(std::string("[") + kProgram + "] cublasGemmEx failed with status " + std::to_string(s));
    return;
  }
#endif
  (void)o;
  (void)c;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, raw<float>(a), k, raw<float>(b), n, 0.0f,
              raw<float>(out), n);
}

void matmul(const Options& o) {
  const int64_t n = o.quick ? 256 : 4096;
  const int repeats = o.repeats(20, 3);
  const double flops = 2.0 * n * n * n;
  for (const MatmulCase& c : kMatmulCases) {
    if (!o.gpu() && c.dtype != ag::DType::float32) {
      bench::skipped(c.name, "the cuda_host baseline is cblas_sgemm, float32 only");
      continue;
    }
    ag::Generator gen(2);
    Tensor a = ag::randn({n, n}, gen, c.dtype).to(o.device), b = ag::randn({n, n}, gen, c.dtype).to(o.device);
    Tensor direct_out = ag::zeros({n, n}, c.dtype, o.device);
    ag::NoGradGuard no_grad;
    ag::cuda::set_allow_tf32(c.tf32);
    Tensor engine_out;
    auto engine = time_device(o, 3, repeats, [&] { engine_out = ag::matmul(a, b); });
    auto direct = time_device(o, 3, repeats, [&] { direct_gemm(o, c, a, b, direct_out); });
    ag::cuda::set_allow_tf32(false);
    // Both sides must compute the same product, or the comparison means nothing.
    const double scale = ag::max(ag::abs(direct_out)).value_at(0);
    const double diff = ag::max(ag::abs(engine_out - direct_out)).value_at(0);
    if (!(diff <= (ag::is_half(c.dtype) ? 2e-2 : 1e-3) * scale))
      throw std::runtime_error(std::string("[") + kProgram + "] " + c.name + ": tapegrad's product differs from the " +
                               "direct GEMM's by " + std::to_string(diff) + " (largest element " +
                               std::to_string(scale) + ")");
    const double mine = flops / bench::median(engine) * 1e-9, theirs = flops / bench::median(direct) * 1e-9;
    bench::result(c.name, "tapegrad", mine, "GFLOP/s");
    bench::result(c.name, "direct", theirs, "GFLOP/s");
    ceiling(c.name, mine / theirs);
  }
}

// ---- conv2d ---------------------------------------------------------------

// conv2d forward (im2col, the product, reshape and permute) against the product
// alone, a direct GEMM on the same im2col matrix: the ceiling says how much of
// the GEMM's speed the whole convolution keeps. (cuDNN is not a dependency of
// the library, so the comparison is with the GEMM the convolution is built on.)
struct ConvCase {
  const char* name;
  int64_t n, c, hw, f, k, pad;
};
const ConvCase kConvCases[] = {
    {"conv2d_simple", 100, 1, 28, 30, 5, 0},  // the book's SimpleConvNet, batch 100
    {"conv2d_3x3_64", 64, 64, 28, 64, 3, 1},  // a deeper net's 3x3 conv
};

void conv2d(const Options& o) {
  const int repeats = o.repeats(20, 3);
  const MatmulCase& f32 = kMatmulCases[0];
  for (const ConvCase& c : kConvCases) {
    const int64_t n = o.quick ? std::min<int64_t>(c.n, 8) : c.n;
    ag::Generator gen(4);
    Tensor x = ag::randn({n, c.c, c.hw, c.hw}, gen).to(o.device), w = ag::randn({c.f, c.c, c.k, c.k}, gen).to(o.device);
    ag::NoGradGuard no_grad;
    const Tensor col = ag::im2col(x, c.k, 1, c.pad);                                // (N·OH·OW, C·K·K)
    const Tensor wt = ag::permute(ag::reshape(w, {c.f, -1}), {1, 0});  // (C·K·K, F), a contiguous copy
    Tensor direct_out = ag::zeros({col.shape()[0], c.f}, ag::DType::float32, o.device), y;
    auto engine = time_device(o, 2, repeats, [&] { y = ag::conv2d(x, w, {}, 1, c.pad); });
    auto direct = time_device(o, 2, repeats, [&] { direct_gemm(o, f32, col, wt, direct_out); });
    // the same numbers: y (N, F, OH, OW) is the product's (N·OH·OW, F) rows, permuted
    const Tensor same = ag::permute(ag::reshape(direct_out, {n, y.shape()[2], y.shape()[3], c.f}), {0, 3, 1, 2});
    const double scale = ag::max(ag::abs(same)).value_at(0), diff = ag::max(ag::abs(y - same)).value_at(0);
    if (!(diff <= 1e-3 * scale))
      throw std::runtime_error(std::string("[") + kProgram + "] " + c.name + ": conv2d differs from the GEMM on its " +
                               "im2col matrix by " + std::to_string(diff));
    const double flops = 2.0 * static_cast<double>(col.shape()[0] * col.shape()[1] * c.f);
    const double mine = flops / bench::median(engine) * 1e-9, theirs = flops / bench::median(direct) * 1e-9;
    bench::result(c.name, "tapegrad", mine, "GFLOP/s");
    bench::result(c.name, "gemm_on_im2col", theirs, "GFLOP/s");
    ceiling(c.name, mine / theirs);
  }
}

// ---- elementwise ----------------------------------------------------------

void elementwise(const Options& o) {
  const int64_t n = o.quick ? (int64_t{1} << 20) : (int64_t{256} << 20), cols = 1024;
  const int repeats = o.repeats(20, 3);
  const double bytes = 2.0 * static_cast<double>(n) * sizeof(float);  // read n floats, write n floats
  ag::Generator gen(3);
  Tensor x = ag::randn({n / cols, cols}, gen).to(o.device), b = ag::randn({cols}, gen).to(o.device);
  ag::NoGradGuard no_grad;
  // The ceiling: a device-to-device copy of the same bytes (cudaMemcpyAsync on the stream), best of the reps.
  Tensor dst = ag::empty({n / cols, cols}, ag::DType::float32, o.device);
  auto copy = time_device(o, 2, repeats, [&] {
    ag::cuda::copy_bytes(raw<void>(dst), o.device, raw<void>(x), o.device, static_cast<size_t>(n) * sizeof(float),
                         kProgram);
  });
  const double copy_bw = bytes / *std::min_element(copy.begin(), copy.end()) * 1e-9;
  bench::result("elementwise_copy", "bandwidth", copy_bw, "GB/s");
  Tensor y;
  auto sigmoid = time_device(o, 2, repeats, [&] { y = ag::sigmoid(x); });
  y = Tensor();
  auto add = time_device(o, 2, repeats, [&] { y = x + b; });
  const double sigmoid_bw = bytes / bench::median(sigmoid) * 1e-9, add_bw = bytes / bench::median(add) * 1e-9;
  bench::result("elementwise_sigmoid", "throughput", sigmoid_bw, "GB/s");
  bench::result("elementwise_add_broadcast", "throughput", add_bw, "GB/s");
  ceiling("elementwise_sigmoid", sigmoid_bw / copy_bw);
  ceiling("elementwise_add_broadcast", add_bw / copy_bw);
}

// ---- mlp_step -------------------------------------------------------------

#if defined(AG_BENCH_CUDA)
// Note [Gated step]: the GPU's busy time of a training step, without CUPTI. A
// host callback queued first holds the stream until the host has issued a
// whole phase of the step (forward, loss, backward, update), so the phase's
// kernels then run back to back, and the CUDA events around them time the
// kernels without the launch and tape overhead between them. A phase that
// synchronises inside (a copy to the host, a cudaFree) would wait on the closed
// gate, so the gate also opens after a timeout; such a phase is reported, and
// its time then includes the host's work after that synchronisation, which
// makes it an upper bound on the phase's busy time.
struct Gate {
  std::atomic<bool> open{false}, timed_out{false};
  static constexpr double kTimeout = 0.02;  // seconds: far above the host's time to issue one phase

  static void CUDART_CB wait(void* p) {
    auto* g = static_cast<Gate*>(p);
    const double t0 = bench::now();
    while (!g->open.load(std::memory_order_acquire)) {
      if (bench::now() - t0 > kTimeout) {
        g->timed_out.store(true);
        return;
      }
      std::this_thread::yield();
    }
  }
};
#endif

// A named part of the training step, run one after the other.
struct Phase {
  const char* name;
  std::function<void()> run;
};

void mlp_step(const Options& o) {
  const int64_t batch = 256;
  ag::Generator gen(0);
  nn::MLP model({784, 1024, 1024, 10}, gen, "relu");  // Linear, ReLU, Linear, ReLU, Linear
  model.to(o.device);
  nn::SGD opt(model.parameters(), 0.1);
  Tensor x = ag::rand({batch, 784}, gen).to(o.device);
  Tensor t = ag::randint({batch}, 0, 10, gen).to(o.device);
  Tensor logits, loss;
  const Phase phases[] = {
      {"forward", [&] { opt.zero_grad(); logits = model(x); }},
      {"loss", [&] { loss = ag::softmax_cross_entropy(logits, t); }},
      {"backward", [&] { loss.backward(); }},
      {"update", [&] { opt.step(); logits = loss = Tensor(); }},
  };
  auto step = [&] {
    for (const Phase& p : phases) p.run();
  };
  const int warmup = o.quick ? 2 : 20, repeats = o.repeats(200, 5);
  for (int i = 0; i < warmup; ++i) step();
  // Each step alone, the device idle at its start: the host's time to issue it, and the time until it has finished.
  std::vector<double> issue, whole;
  for (int i = 0; i < repeats; ++i) {
    sync(o);
    const double t0 = bench::now();
    step();
    const double t1 = bench::now();
    sync(o);
    issue.push_back(t1 - t0);
    whole.push_back(bench::now() - t0);
  }
  // Steps back to back with one synchronisation at the end, as a training loop runs.
  sync(o);
  const double p0 = bench::now();
  for (int i = 0; i < repeats; ++i) step();
  sync(o);
  const double pipelined = (bench::now() - p0) / repeats;
  const double step_time = bench::median(whole);
  bench::result("mlp_step", "step", step_time * 1e3, "ms");
  bench::result("mlp_step", "pipelined", pipelined * 1e3, "ms");
  bench::result("mlp_step", "host_issue", bench::median(issue) * 1e3, "ms");
#if defined(AG_BENCH_CUDA)
  if (o.gpu()) {
    DeviceTimer timer(o);
    double gpu = 0;
    for (const Phase& p : phases) {
      std::vector<double> busy;
      int synchronised = 0;
      for (int i = 0; i < repeats; ++i) {
        // the phases before this one, ungated, so that it finds its inputs
        for (const Phase& q : phases) {
          if (&q == &p) break;
          q.run();
        }
        sync(o);
        Gate gate;
        CUDA_CHECK(kProgram, cudaLaunchHostFunc(DeviceTimer::stream(), Gate::wait, &gate));
        timer.start();
        p.run();
        gate.open.store(true, std::memory_order_release);
        busy.push_back(timer.stop());
        sync(o);
        synchronised += gate.timed_out.load() ? 1 : 0;
        for (const Phase* q = &p + 1; q != std::end(phases); ++q) q->run();
      }
      gpu += bench::median(busy);
      bench::result("mlp_step", std::string("gpu_") + p.name, bench::median(busy) * 1e3, "ms");
      if (synchronised > 0)
        bench::result("mlp_step", std::string("sync_inside_") + p.name, 100.0 * synchronised / repeats, "%");
    }
    sync(o);
    bench::result("mlp_step", "gpu_busy", gpu * 1e3, "ms");
    bench::result("mlp_step", "share_outside_kernels", std::clamp(1.0 - gpu / step_time, 0.0, 1.0), "ratio");
    return;
  }
#endif
  bench::skipped("mlp_step", "gpu_busy and share_outside_kernels: cuda_host runs its kernels on the host");
}

// The device's name and the build, first line of the output.
void describe(const Options& o) {
#if defined(AG_BENCH_CUDA)
  if (o.gpu()) {
    cudaDeviceProp prop{};
    CUDA_CHECK(kProgram, cudaGetDeviceProperties(&prop, o.device.index));
    std::printf("bench_cuda: cuda:%d, %s (compute capability %d.%d)%s\n", o.device.index, prop.name, prop.major,
                prop.minor, o.quick ? ", quick" : "");
    return;
  }
#endif
  std::printf("bench_cuda: cuda_host:%d, the CUDA kernels emulated on the host, OpenBLAS for cuBLAS%s\n",
              o.device.index, o.quick ? ", quick" : "");
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  if (o.gpu()) {
    const std::string why = ag::cuda::unavailable_reason();
    if (!why.empty()) {
      std::printf("bench_cuda: skipped, no usable GPU for --device cuda: %s\n", why.c_str());
      return 77;
    }
#if !defined(AG_BENCH_CUDA)
    std::printf("bench_cuda: skipped, this program was built without the CUDA headers (nvcc not found)\n");
    return 77;
#endif
    ag::cuda::rt::set_device(o.device.index, kProgram);
  }
  describe(o);
  if (o.wants("matmul")) matmul(o);
  if (o.wants("conv2d")) conv2d(o);
  if (o.wants("elementwise")) elementwise(o);
  if (o.wants("mlp_step")) mlp_step(o);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
}
