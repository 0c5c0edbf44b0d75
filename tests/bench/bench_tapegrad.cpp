// The benchmark workloads of issue #7, written against tapegrad. Each prints
// "result WORKLOAD METRIC VALUE UNIT" lines; compare.py runs this program and
// bench_libtorch.cpp (the same workloads in LibTorch) alternately and prints
// the table. Run alone: build/tests/bench/bench_tapegrad [--threads N] [--only mlp_small].
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#ifdef AG_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

#include "autograd/cpu/gemm.hpp"
#include "autograd/parallel.hpp"
#include "autograd/tapegrad.hpp"
#include "nn/nn.hpp"
#include "tests/bench/bench_common.hpp"

using ag::Tensor;

// The workloads of bench_common.hpp's run_suite, for this library.
struct Workloads {
  // 20,000 ops alternating * c1, + c2, sigmoid on a tensor that requires grad, then backward.
  static void tape_overhead(const std::string& name, const ag::Shape& shape, const bench::Args& args) {
    ag::Generator gen(1);
    Tensor x = ag::randn(shape, gen).requires_grad_();
    Tensor c1 = ag::full(shape, 1.001), c2 = ag::full(shape, 0.001);
    std::vector<double> fwd, bwd;
    const int repeats = args.quick ? 3 : 11;
    for (int r = 0; r < repeats + 2; ++r) {
      const double t0 = bench::now();
      Tensor y = x;
      for (int i = 0; i < bench::kChainOps; ++i) {
        switch (i % 3) {
          case 0: y = y * c1; break;
          case 1: y = y + c2; break;
          default: y = ag::sigmoid(y); break;
        }
      }
      Tensor loss = ag::sum(y);
      const double t1 = bench::now();
      loss.backward();
      const double t2 = bench::now();
      x.zero_grad();
      if (r >= 2) {
        fwd.push_back(t1 - t0);
        bwd.push_back(t2 - t1);
      }
    }
    bench::report_chain(name, fwd, bwd);
  }

  // SGD steps of an MLP with softmax cross-entropy on seeded random data.
  static void mlp(const std::string& name, const std::vector<int64_t>& sizes, const std::string& activation,
                  int64_t batch, const bench::Args& args, double unit_scale, const char* unit) {
    ag::Generator gen(0);
    nn::MLP model(sizes, gen, activation, nn::Init::pytorch);
    nn::SGD opt(model.parameters(), 0.1);
    Tensor x = ag::rand({batch, sizes.front()}, gen);
    Tensor t = ag::randint({batch}, 0, sizes.back(), gen);
    auto step = [&] {
      opt.zero_grad();
      Tensor loss = ag::softmax_cross_entropy(model(x), t);
      loss.backward();
      opt.step();
    };
    bench::result(name, "step", bench::median_step(args, step) * unit_scale, unit);
  }

  // The engine's product next to each GEMM library of the build called directly
  // on the same data, on its own threads; the ceiling is the fastest of them.
  // OpenBLAS runs as gemm_with runs it (cblas_sgemm on ag::num_threads());
  // oneDNN is dnnl_sgemm itself, not gemm_with, which may split the product
  // over the pool (Note [Splitting a product] in autograd/cpu/gemm.cpp).
  static void matmul(int64_t n, const bench::Args& args) {
    ag::Generator gen(2);
    Tensor a = ag::randn({n, n}, gen), b = ag::randn({n, n}, gen);
    ag::NoGradGuard no_grad;
    const int repeats = args.quick ? 3 : (n <= 256 ? 200 : 15);
    const double flops = 2.0 * n * n * n;
    const std::string name = "matmul_" + std::to_string(n);
    auto engine = bench::time_runs(2, repeats, [&] { Tensor c = ag::matmul(a, b); });
    bench::result(name, "throughput", flops / bench::median(engine) * 1e-9, "GFLOP/s");
    std::vector<float> c(static_cast<size_t>(n * n));
    const float *pa = a.data<float>(), *pb = b.data<float>();
    double best = 0;
    auto direct = [&](const char* library, auto&& product) {
      const double gflops = flops / bench::median(bench::time_runs(2, repeats, product)) * 1e-9;
      bench::result(name, std::string("direct_") + library, gflops, "GFLOP/s");
      best = std::max(best, gflops);
    };
    direct("openblas", [&] {
      ag::cpu::gemm_with(ag::cpu::GemmBackend::openblas, false, false, n, n, n, pa, n, pb, n, 0.0f, c.data(), n);
    });
#ifdef AG_HAVE_DNNL
    omp_set_num_threads(ag::num_threads());
    direct("dnnl", [&] { dnnl_sgemm('N', 'N', n, n, n, 1.0f, pa, n, pb, n, 0.0f, c.data(), n); });
#endif
    bench::result(name, "ceiling", best, "GFLOP/s");
  }

  // A copy loop the compiler vectorises but may not turn into a memcpy call.
  static __attribute__((optimize("no-tree-loop-distribute-patterns"))) void copy_loop(const float* __restrict x,
                                                                              float* __restrict y, long n) {
    for (long i = 0; i < n; ++i) y[i] = x[i];
  }

  // Runs f(begin, end) over [0, n) split across `threads` threads (the ceiling's own split).
  template <class F>
  static void split(long n, int threads, F f) {
    if (threads == 1) return f(0L, n);
    std::vector<std::thread> pool;
    const long chunk = (n + threads - 1) / threads;
    for (int i = 1; i < threads; ++i)
      pool.emplace_back([=] { f(std::min(n, i * chunk), std::min(n, (i + 1) * chunk)); });
    f(0L, std::min(n, chunk));
    for (auto& th : pool) th.join();
  }

  static void elementwise(const bench::Args& args) {
    const long n = bench::kElementwiseN;
    ag::Generator gen(3);
    Tensor x = ag::randn({n}, gen);
    ag::NoGradGuard no_grad;
    const double bytes = 2.0 * n * sizeof(float);
    const int repeats = args.quick ? 3 : 21;
    auto engine = bench::time_runs(2, repeats, [&] { Tensor y = ag::sigmoid(x); });
    std::vector<float> y(static_cast<size_t>(n));
    const float* src = x.data<float>();
    auto memcpy_t = bench::time_runs(2, repeats, [&] {
      split(n, args.threads, [&](long b, long e) { std::memcpy(y.data() + b, src + b, (e - b) * sizeof(float)); });
    });
    auto loop_t = bench::time_runs(2, repeats, [&] {
      split(n, args.threads, [&](long b, long e) { copy_loop(src + b, y.data() + b, e - b); });
    });
    bench::result("elementwise", "throughput", bytes / bench::median(engine) * 1e-9, "GB/s");
    bench::result("elementwise", "memcpy", bytes / bench::median(memcpy_t) * 1e-9, "GB/s");
    bench::result("elementwise", "copy_loop", bytes / bench::median(loop_t) * 1e-9, "GB/s");
    bench::result("elementwise", "ceiling", bytes / std::min(bench::median(memcpy_t), bench::median(loop_t)) * 1e-9,
                  "GB/s");
  }

  // One epoch of the book's TwoLayerNet (784-50-10, sigmoid, SGD 0.1, batch 100) on the MNIST training set.
  static void mnist_epoch(const bench::Args& args) {
    if (args.mnist.empty() || !std::filesystem::is_directory(args.mnist))
      return bench::skipped("mnist_epoch", "no MNIST directory (--mnist DIR)");
    nn::Mnist data = nn::load_mnist(args.mnist);
    ag::Generator gen(0);
    nn::TwoLayerNet net(784, 50, 10, gen, 0.01);
    nn::SGD opt(net.parameters(), 0.1);
    nn::DataLoader loader(data.train, {.batch_size = 100, .seed = 1});
    auto epoch = [&] {
      for (const nn::Batch& b : loader) {
        opt.zero_grad();
        net.loss(b.x, b.t).backward();
        opt.step();
      }
    };
    auto times = bench::time_runs(1, args.quick ? 1 : 3, epoch);
    bench::result("mnist_epoch", "epoch", bench::median(times), "s");
  }

  // One Adam step of the book's SimpleConvNet (conv 30 5x5 stride 1 pad 0 - ReLU - max pool 2x2 -
  // affine 100 - ReLU - affine 10, softmax cross entropy) on 100 random 1x28x28 images; also the
  // share of the step its im2col and col2im calls take (timed alone on the same shapes).
  static void cnn_simple(const bench::Args& args) {
    ag::Generator gen(0);
    const int64_t n = bench::kCnnBatch, fn = bench::kCnnFilters, k = bench::kCnnKernel, o = 28 - k + 1, p = o / 2;
    nn::Sequential net;
    net.add(std::make_shared<nn::Conv2d>(1, fn, k, gen))
        .add(nn::ReLU())
        .add(std::make_shared<nn::MaxPool2d>(2))
        .add(std::make_shared<nn::Flatten>())
        .add(std::make_shared<nn::Linear>(fn * p * p, bench::kCnnHidden, gen))
        .add(nn::ReLU())
        .add(std::make_shared<nn::Linear>(bench::kCnnHidden, 10, gen));
    nn::Adam opt(net.parameters(), 1e-3);
    Tensor x = ag::rand({n, 1, 28, 28}, gen);
    Tensor t = ag::randint({n}, 0, 10, gen);
    auto step = [&] {
      opt.zero_grad();
      Tensor loss = ag::softmax_cross_entropy(net.forward(x), t);
      loss.backward();
      opt.step();
    };
    const double s = bench::median_cnn_step(args, step);
    bench::result("cnn_simple", "step", s * 1e3, "ms");
    // the step's unfoldings: im2col of the images (conv) and of the conv output (pool), col2im of the pool's gradient
    ag::NoGradGuard no_grad;
    Tensor h = ag::rand({n, fn, o, o}, gen);
    Tensor g = ag::rand({n * p * p, fn * 4}, gen);
    auto unfold = bench::time_runs(1, args.quick ? 3 : 10, [&] {
      Tensor a = ag::im2col(x, k);
      Tensor b = ag::im2col(h, 2, 2);
      Tensor c = ag::col2im(g, {n, fn, o, o}, 2, 2);
    });
    bench::result("cnn_simple", "im2col_share", 100.0 * bench::median(unfold) / s, "%");
  }

  // One core's FP32 FMA throughput: 12 independent FMA chains of the widest
  // vectors the CPU has (AVX-512: 16 floats, which Intel cores run at twice
  // the AVX2 rate; else AVX2: 8), the peak that mlp_small is measured against.
  // The same loop compiled for each instruction set (a template would be
  // compiled for the baseline only, splitting the vectors into SSE halves).
#define AG_FMA_LOOP(NAME, TARGET, WIDTH)                                                \
  static __attribute__((target(TARGET))) float NAME(long iters) {                       \
    using vec = float __attribute__((vector_size(WIDTH * 4)));                          \
    vec acc[12];                                                                        \
    for (int k = 0; k < 12; ++k) acc[k] = vec{} + 0.5f * static_cast<float>(k);         \
    const vec m = vec{} + 0.999999f, c = vec{} + 1e-7f;                                 \
    for (long i = 0; i < iters; ++i)                                                    \
      for (int k = 0; k < 12; ++k) acc[k] = acc[k] * m + c;                             \
    float s = 0;                                                                        \
    for (int k = 0; k < 12; ++k)                                                        \
      for (int j = 0; j < WIDTH; ++j) s += acc[k][j];                                   \
    return s;                                                                           \
  }
  AG_FMA_LOOP(fma_loop16, "avx512f", 16)
  AG_FMA_LOOP(fma_loop8, "avx2,fma", 8)
#undef AG_FMA_LOOP

  static void peak() {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")))
      return bench::skipped("peak", "no AVX2/FMA");
    volatile long iters = 20'000'000;  // volatile: each call is made, none hoisted
    volatile float sink = 0;
    auto t = bench::time_runs(1, 5, [&] { sink = sink + (avx512 ? fma_loop16(iters) : fma_loop8(iters)); });
    bench::result("peak", "fma", 2.0 * (avx512 ? 16 : 8) * 12 * iters / bench::median(t) * 1e-9, "GFLOP/s");
  }
};

int main(int argc, char** argv) try {
  const bench::Args args = bench::parse(argc, argv, "bench_tapegrad");
  ag::set_num_threads(args.threads);
  std::printf("tapegrad: %d thread(s), %s\n", ag::num_threads(), ag::cpu::gemm_info().c_str());
  if (args.wants("peak")) Workloads::peak();
  bench::run_suite<Workloads>(args);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
}
