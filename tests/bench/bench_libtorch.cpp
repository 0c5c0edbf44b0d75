// The workloads of bench_tapegrad.cpp written against LibTorch's C++ API, the
// way a LibTorch user writes them (torch::nn modules, torch::optim::SGD).
// Thread settings come from the driver: --threads N calls
// torch::set_num_threads(N); OMP_WAIT_POLICY, OPENBLAS_NUM_THREADS and
// ATEN_CPU_CAPABILITY are set in the environment (see compare.py).
#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "tests/bench/bench_common.hpp"

// The workloads of bench_common.hpp's run_suite, for this library.
struct Workloads {
  static void tape_overhead(const std::string& name, std::vector<int64_t> shape, const bench::Args& args) {
    torch::manual_seed(1);
    torch::Tensor x = torch::randn(shape).requires_grad_();
    torch::Tensor c1 = torch::full(shape, 1.001), c2 = torch::full(shape, 0.001);
    std::vector<double> fwd, bwd;
    const int repeats = args.quick ? 3 : 11;
    for (int r = 0; r < repeats + 2; ++r) {
      const double t0 = bench::now();
      torch::Tensor y = x;
      for (int i = 0; i < bench::kChainOps; ++i) {
        switch (i % 3) {
          case 0: y = y * c1; break;
          case 1: y = y + c2; break;
          default: y = torch::sigmoid(y); break;
        }
      }
      torch::Tensor loss = y.sum();
      const double t1 = bench::now();
      loss.backward();
      const double t2 = bench::now();
      x.mutable_grad().reset();
      if (r >= 2) {
        fwd.push_back(t1 - t0);
        bwd.push_back(t2 - t1);
      }
    }
    bench::report_chain(name, fwd, bwd);
  }

  static torch::nn::Sequential make_mlp(const std::vector<int64_t>& sizes, const std::string& activation) {
    torch::nn::Sequential net;
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      net->push_back(torch::nn::Linear(sizes[i], sizes[i + 1]));
      if (i + 2 < sizes.size()) {
        if (activation == "relu") net->push_back(torch::nn::ReLU());
        else net->push_back(torch::nn::Sigmoid());
      }
    }
    return net;
  }

  static void mlp(const std::string& name, const std::vector<int64_t>& sizes, const std::string& activation,
                  int64_t batch, const bench::Args& args, double unit_scale, const char* unit) {
    torch::manual_seed(0);
    auto model = make_mlp(sizes, activation);
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1));
    torch::Tensor x = torch::rand({batch, sizes.front()});
    torch::Tensor t = torch::randint(0, sizes.back(), {batch}, torch::kLong);
    auto step = [&] {
      opt.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), t);
      loss.backward();
      opt.step();
    };
    bench::result(name, "step", bench::median_step(args, step) * unit_scale, unit);
  }

  static void matmul(int64_t n, const bench::Args& args) {
    torch::manual_seed(2);
    torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
    torch::NoGradGuard no_grad;
    const int repeats = args.quick ? 3 : (n <= 256 ? 200 : 15);
    auto t = bench::time_runs(2, repeats, [&] { torch::Tensor c = torch::matmul(a, b); });
    bench::result("matmul_" + std::to_string(n), "throughput", 2.0 * n * n * n / bench::median(t) * 1e-9, "GFLOP/s");
  }

  static void elementwise(const bench::Args& args) {
    torch::manual_seed(3);
    torch::Tensor x = torch::randn({bench::kElementwiseN});
    torch::NoGradGuard no_grad;
    auto t = bench::time_runs(2, args.quick ? 3 : 21, [&] { torch::Tensor y = torch::sigmoid(x); });
    bench::result("elementwise", "throughput", 2.0 * bench::kElementwiseN * 4 / bench::median(t) * 1e-9, "GB/s");
  }

  // The IDX files (gzipped or not: gzread reads both), as float [0, 1] images and int64 labels.
  static torch::Tensor read_idx(const std::string& path, bool images) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("[bench_libtorch] cannot open " + path);
    unsigned char header[16];
    const int header_bytes = images ? 16 : 8;
    gzread(f, header, header_bytes);
    auto be32 = [&](int o) { return (header[o] << 24) | (header[o + 1] << 16) | (header[o + 2] << 8) | header[o + 3]; };
    const int64_t n = be32(4), per = images ? int64_t{be32(8)} * be32(12) : 1;
    std::vector<unsigned char> bytes(static_cast<size_t>(n * per));
    const int got = gzread(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    if (got != static_cast<int>(bytes.size())) throw std::runtime_error("[bench_libtorch] truncated " + path);
    torch::Tensor raw = torch::from_blob(bytes.data(), {n, per}, torch::kUInt8).clone();
    return images ? raw.to(torch::kFloat) / 255.0 : raw.view({n}).to(torch::kLong);
  }

  static std::string idx_file(const std::string& dir, const std::string& base) {
    return std::filesystem::exists(dir + "/" + base) ? dir + "/" + base : dir + "/" + base + ".gz";
  }

  static void mnist_epoch(const bench::Args& args) {
    if (args.mnist.empty() || !std::filesystem::is_directory(args.mnist))
      return bench::skipped("mnist_epoch", "no MNIST directory (--mnist DIR)");
    torch::Tensor images = read_idx(idx_file(args.mnist, "train-images-idx3-ubyte"), true);
    torch::Tensor labels = read_idx(idx_file(args.mnist, "train-labels-idx1-ubyte"), false);
    torch::manual_seed(0);
    // The book's TwoLayerNet: weights N(0, 0.01^2), zero biases.
    torch::Tensor W1 = (torch::randn({784, 50}) * 0.01).requires_grad_(), b1 = torch::zeros({50}).requires_grad_();
    torch::Tensor W2 = (torch::randn({50, 10}) * 0.01).requires_grad_(), b2 = torch::zeros({10}).requires_grad_();
    torch::optim::SGD opt({W1, b1, W2, b2}, torch::optim::SGDOptions(0.1));
    const int64_t n = images.size(0), batch = 100;
    auto epoch = [&] {
      torch::Tensor perm = torch::randperm(n);
      for (int64_t i = 0; i + batch <= n; i += batch) {
        torch::Tensor idx = perm.slice(0, i, i + batch);
        torch::Tensor x = images.index_select(0, idx), t = labels.index_select(0, idx);
        opt.zero_grad();
        torch::Tensor loss = torch::nn::functional::cross_entropy(torch::sigmoid(x.mm(W1) + b1).mm(W2) + b2, t);
        loss.backward();
        opt.step();
      }
    };
    auto times = bench::time_runs(1, args.quick ? 1 : 3, epoch);
    bench::result("mnist_epoch", "epoch", bench::median(times), "s");
  }

  // One Adam step of the book's SimpleConvNet (bench_tapegrad.cpp's cnn_simple) with torch::nn modules.
  static void cnn_simple(const bench::Args& args) {
    torch::manual_seed(0);
    const int64_t n = bench::kCnnBatch, fn = bench::kCnnFilters, k = bench::kCnnKernel, p = (28 - k + 1) / 2;
    torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, fn, k).stride(1).padding(0)),
                              torch::nn::ReLU(), torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)),
                              torch::nn::Flatten(), torch::nn::Linear(fn * p * p, bench::kCnnHidden), torch::nn::ReLU(),
                              torch::nn::Linear(bench::kCnnHidden, 10));
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
    torch::Tensor x = torch::rand({n, 1, 28, 28});
    torch::Tensor t = torch::randint(0, 10, {n}, torch::kLong);
    auto step = [&] {
      opt.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), t);
      loss.backward();
      opt.step();
    };
    bench::result("cnn_simple", "step", bench::median_cnn_step(args, step) * 1e3, "ms");
  }
};

int main(int argc, char** argv) try {
  // --config: the version and how this LibTorch was built (its BLAS, oneDNN,
  // CPU capability), printed once by compare.py above the table.
  if (argc == 2 && std::strcmp(argv[1], "--config") == 0) {
    std::printf("version %s\n%s\n", TORCH_VERSION, torch::show_config().c_str());
    return 0;
  }
  const bench::Args args = bench::parse(argc, argv, "bench_libtorch");
  torch::set_num_threads(args.threads);
  std::printf("LibTorch %s: %d thread(s)\n", TORCH_VERSION, torch::get_num_threads());
  bench::run_suite<Workloads>(args);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
}
