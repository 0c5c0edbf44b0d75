// Data-parallel scaling of the MLP-large step (784-1024-1024-10, ReLU, SGD,
// global batch 256): one process on the whole batch (rank 0 alone, the others
// waiting), then every rank on its 256 / w rows under nn::DataParallel. Prints
// the step times, the speedup and scaling efficiency, and the share of the
// data-parallel step spent waiting for allreduces at the end of backward (the
// communication not hidden behind it). Run it under mpirun, one thread per rank:
//   OPENBLAS_NUM_THREADS=1 mpirun -np 2 -x OPENBLAS_NUM_THREADS build/tests/bench/bench_dist
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "autograd/tapegrad.hpp"
#include "nn/nn.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The median of `repeats` step times after 3 warm-up steps, in seconds.
template <class F>
double median_step(int repeats, F&& step) {
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto s = Clock::now();
    step();
    t.push_back(std::chrono::duration<double>(Clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  ag::dist::init();
  ag::set_num_threads(1);
  const int w = ag::dist::world_size(), r = ag::dist::rank();
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 20;
  const int64_t batch = 256, part = batch / w;
  ag::Generator data_gen(1);
  ag::Tensor x = ag::rand({batch, 784}, data_gen);
  ag::Tensor t = ag::randint({batch}, 0, 10, data_gen);

  double t1 = 0;
  ag::dist::barrier();
  if (r == 0) {
    ag::Generator gen(0);
    nn::MLP model({784, 1024, 1024, 10}, gen, "relu", nn::Init::pytorch);
    nn::SGD opt(model.parameters(), 0.01);
    t1 = median_step(repeats, [&] {
      opt.zero_grad();
      ag::softmax_cross_entropy(model(x), t).backward();
      opt.step();
    });
  }
  ag::dist::barrier();

  if (r == 0)
    std::printf("mlp_large step (784-1024-1024-10, batch %lld), 1 thread per process:\n  1 process:  %8.2f ms\n",
                static_cast<long long>(batch), 1e3 * t1);
  std::vector<int64_t> rows;
  for (int64_t i = r * part; i < (r + 1) * part; ++i) rows.push_back(i);
  const nn::Dataset mine = nn::subset(nn::Dataset{x, t}, rows);
  // 25 MiB: the whole model (7.5 MB) in one bucket, nothing to overlap; 1 MiB: one per layer and more
  for (double mb : {25.0, 1.0}) {
    ag::Generator gen(0);
    nn::MLP model({784, 1024, 1024, 10}, gen, "relu", nn::Init::pytorch);
    nn::DataParallel dp(model, {.bucket_mb = mb});
    nn::SGD opt(model.parameters(), 0.01);
    int steps = 0;
    double wait_before = 0;
    const double tw = median_step(repeats, [&] {
      if (steps++ == 3) wait_before = dp.wait_seconds();
      opt.zero_grad();
      ag::softmax_cross_entropy(model(mine.x), mine.t).backward();
      opt.step();
    });
    ag::Tensor wt = ag::from_vector(std::vector<double>{(dp.wait_seconds() - wait_before) / repeats}, {1},
                                    ag::DType::float64);
    ag::dist::all_reduce(wt, ag::dist::ReduceOp::max);
    if (r == 0) {
      std::printf("  %d processes: %7.2f ms (batch %lld each; %zu buckets of at most %.0f MiB): speedup %.2f, scaling "
                  "efficiency %.0f%%; allreduce not hidden behind backward %.2f ms, %.0f%% of the step\n",
                  w, 1e3 * tw, static_cast<long long>(part), dp.buckets().size(), mb, t1 / tw, 100 * t1 / (w * tw),
                  1e3 * wt.value_at(0), 100 * wt.value_at(0) / tw);
    }
  }
  return 0;
}
