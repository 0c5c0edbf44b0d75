// ag::dist and nn::DataParallel, run by tests/dist_test.sh under mpirun -np 2
// and -np 3 (and once without mpirun: a world of one). Every rank runs every
// case; ranks other than 0 print failures only. `--crash=throw` and
// `--crash=silent` are the failure drills: rank 1 throws, or stops calling
// collectives, while rank 0 waits in an all_reduce.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "autograd/tapegrad.hpp"
#include "cuda/cuda.hpp"
#include "nn/nn.hpp"

namespace dist = ag::dist;
using ag::DType;
using ag::Tensor;

namespace {

// Shapes 0-d to 4-d, with sizes the world size does not divide.
const std::vector<ag::Shape> kShapes = {{}, {5}, {3, 7}, {2, 3, 5}, {1, 2, 3, 5}};

// Element i of rank r's tensor: (r + 1) * (i + 1).
Tensor rank_tensor(const ag::Shape& s, DType d, int r) {
  const int64_t n = ag::shape_numel(s);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = (r + 1.0) * (i + 1.0);
  return ag::from_vector(v, s, d);
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    num = std::max(num, std::abs(a.value_at(i) - b.value_at(i)));
    den = std::max(den, std::abs(b.value_at(i)));
  }
  return den > 0 ? num / den : num;
}

}  // namespace

TEST_SUITE("dist") {

TEST_CASE("all_reduce: sum, avg and max on 0-d to 4-d tensors in every dtype") {
  const int w = dist::world_size(), r = dist::rank();
  for (const ag::Shape& s : kShapes) {
    for (DType d : {DType::float32, DType::float64, DType::float16, DType::bfloat16, DType::int64}) {
      for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::max}) {
        if (d == DType::int64 && op == dist::ReduceOp::avg) continue;
        CAPTURE(s.size());
        CAPTURE(ag::dtype_name(d));
        Tensor t = rank_tensor(s, d, r);
        dist::all_reduce(t, op);
        CHECK(t.shape() == s);
        for (int64_t i = 0; i < t.numel(); ++i) {
          const double base = i + 1.0;
          const double want = op == dist::ReduceOp::sum ? base * w * (w + 1) / 2
                              : op == dist::ReduceOp::avg ? base * (w + 1) / 2.0
                                                          : base * w;
          CHECK(t.value_at(i) == doctest::Approx(want).epsilon(is_half(d) ? 1e-2 : 1e-12));
        }
      }
    }
  }
}

TEST_CASE("broadcast copies the root's tensor to every rank") {
  const int w = dist::world_size(), r = dist::rank();
  for (const ag::Shape& s : kShapes)
    for (DType d : {DType::float32, DType::float64, DType::bfloat16, DType::int64}) {
      Tensor t = rank_tensor(s, d, r);
      dist::broadcast(t, w - 1);
      CHECK(max_rel_diff(t, rank_tensor(s, d, w - 1)) == 0);
    }
  Tensor t = ag::zeros({2});
  CHECK_THROWS_WITH_AS(dist::broadcast(t, w), doctest::Contains("is not a rank"), ag::Error);
}

TEST_CASE("all_gather stacks every rank's tensor") {
  const int w = dist::world_size(), r = dist::rank();
  for (const ag::Shape& s : kShapes) {
    Tensor g = dist::all_gather(rank_tensor(s, DType::float64, r));
    ag::Shape want = s;
    want.insert(want.begin(), w);
    REQUIRE(g.shape() == want);
    const int64_t n = ag::shape_numel(s);
    for (int k = 0; k < w; ++k)
      for (int64_t i = 0; i < n; ++i) CHECK(g.value_at(k * n + i) == (k + 1.0) * (i + 1.0));
  }
}

TEST_CASE("reduce_scatter gives each rank its rows of the sum, also when the world size does not divide them") {
  const int w = dist::world_size(), r = dist::rank();
  for (int64_t n = 0; n <= 7; ++n) {
    for (DType d : {DType::float32, DType::float64}) {
      CAPTURE(n);
      Tensor t = rank_tensor({n, 3}, d, r);
      Tensor part = dist::reduce_scatter(t, dist::ReduceOp::sum);
      const int64_t lo = n * r / w, hi = n * (r + 1) / w;
      REQUIRE(part.shape() == ag::Shape{hi - lo, 3});
      for (int64_t i = 0; i < part.numel(); ++i)
        CHECK(part.value_at(i) == (lo * 3 + i + 1.0) * w * (w + 1) / 2);
    }
  }
  CHECK_THROWS_AS(dist::reduce_scatter(ag::zeros({})), ag::Error);
}

TEST_CASE("a shape, dtype or collective that differs across ranks is an error naming the rank on every rank") {
  const int w = dist::world_size(), r = dist::rank();
  if (w == 1) return;
  Tensor t = ag::zeros({3, r == 1 ? 5 : 4});
  CHECK_THROWS_WITH_AS(dist::all_reduce(t), doctest::Contains("rank 1 passed a float32 tensor of shape (3, 5)"),
                       ag::Error);
  Tensor u = ag::zeros({2}, r == 1 ? DType::float64 : DType::float32);
  CHECK_THROWS_WITH_AS(dist::all_reduce(u), doctest::Contains("rank 1 passed a float64"), ag::Error);
  Tensor v = ag::zeros({2});
  auto wrong = [&] {
    if (r == 1) dist::broadcast(v, 0);
    else dist::all_reduce(v);
  };
  CHECK_THROWS_WITH_AS(wrong(), doctest::Contains("rank 1 called broadcast while rank 0 called all_reduce"), ag::Error);
  dist::barrier();  // still usable afterwards
}

}  // TEST_SUITE

namespace {

// A small MLP, its initial values drawn from `seed`: 6 -> 16 -> 16 -> 3.
std::shared_ptr<nn::Sequential> mlp(uint64_t seed, DType d) {
  ag::Generator gen(seed);
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Linear>(6, 16, gen, true, d));
  m->add(nn::Tanh());
  m->add(std::make_shared<nn::Linear>(16, 16, gen, true, d));
  m->add(nn::Tanh());
  m->add(std::make_shared<nn::Linear>(16, 3, gen, true, d));
  return m;
}

// Step k's global batch: world * 4 rows; rank r's part is rows [4r, 4r + 4).
std::pair<Tensor, Tensor> global_batch(int step, int world, DType d) {
  ag::Generator gen(1000 + static_cast<uint64_t>(step));
  const int64_t n = 4 * world;
  std::vector<double> x(static_cast<size_t>(n * 6)), t(static_cast<size_t>(n * 3));
  for (double& v : x) v = gen.normal();
  for (double& v : t) v = gen.normal();
  return {ag::from_vector(x, {n, 6}, d), ag::from_vector(t, {n, 3}, d)};
}

Tensor rows(const Tensor& a, int64_t lo, int64_t hi) {
  std::vector<int64_t> idx;
  for (int64_t i = lo; i < hi; ++i) idx.push_back(i);
  return nn::subset(nn::Dataset{a, a}, idx).x;
}

// 20 SGD steps with momentum of the MLP: data-parallel on this rank's rows, and
// in one process on all rows; returns the largest relative parameter difference.
double train_both(DType d, double bucket_mb) {
  const int w = dist::world_size(), r = dist::rank();
  auto model = mlp(r == 0 ? 7 : 99, d);  // different on other ranks: the broadcast makes them equal
  nn::DataParallel dp(*model, {.bucket_mb = bucket_mb});
  auto ref = mlp(7, d);
  nn::SGD opt(model->parameters(), 0.1, 0.9), ref_opt(ref->parameters(), 0.1, 0.9);
  for (int step = 0; step < 20; ++step) {
    auto [x, t] = global_batch(step, w, d);
    opt.zero_grad();
    ag::mse((*model)(rows(x, 4 * r, 4 * r + 4)), rows(t, 4 * r, 4 * r + 4)).backward();
    opt.step();
    ref_opt.zero_grad();
    ag::mse((*ref)(x), t).backward();
    ref_opt.step();
  }
  double worst = 0;
  auto p = model->parameters(), q = ref->parameters();
  for (size_t k = 0; k < p.size(); ++k) worst = std::max(worst, max_rel_diff(p[k], q[k]));
  return worst;
}

}  // namespace

TEST_SUITE("dist") {

TEST_CASE("data-parallel training for 20 steps equals one process on the concatenated batches") {
  const double f64 = train_both(DType::float64, 25), f64_small = train_both(DType::float64, 0.0005);
  const double f32 = train_both(DType::float32, 25), f32_small = train_both(DType::float32, 0.0005);
  MESSAGE("relative differences: float64 ", f64, " (buckets of 0.5 KiB: ", f64_small, "), float32 ", f32, " (",
          f32_small, ")");
  CHECK(f64 <= 1e-12);
  CHECK(f64_small <= 1e-12);
  CHECK(f32 <= 1e-6);
  CHECK(f32_small <= 1e-6);
}

TEST_CASE("buckets follow reverse registration order and the first starts before the last gradient is final") {
  auto model = mlp(7, DType::float32);
  // 0.0005 MiB = 512 bytes: fc3 (16x3 + 3) and fc2's bias share a bucket, each larger weight gets its own
  nn::DataParallel dp(*model, {.bucket_mb = 0.0005, .record_events = true});
  auto buckets = dp.buckets();
  REQUIRE(buckets.size() >= 3);
  CHECK(buckets.front().front() == "4.bias");
  CHECK(buckets.back().back() == "0.weight");
  auto [x, t] = global_batch(0, dist::world_size(), DType::float32);
  ag::mse((*model)(x), t).backward();
  const auto& ev = dp.events();
  size_t first_start = ev.size(), last_ready = 0, starts = 0, dones = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].kind == nn::DataParallel::Event::start) {
      first_start = std::min(first_start, i);
      ++starts;
      CHECK(ev[i].bucket == static_cast<int>(starts - 1));  // in order
    }
    if (ev[i].kind == nn::DataParallel::Event::ready) last_ready = i;
    if (ev[i].kind == nn::DataParallel::Event::done) ++dones;
  }
  CHECK(starts == buckets.size());
  CHECK(dones == buckets.size());
  CHECK(first_start < last_ready);
  CHECK(ev[last_ready].param == "0.weight");
}

TEST_CASE("a parameter without a gradient is an error naming it, unless find_unused_parameters") {
  auto model = mlp(7, DType::float64);
  auto [x, t] = global_batch(0, dist::world_size(), DType::float64);
  auto head = std::make_shared<nn::Sequential>();  // uses layers 0-1 only
  {
    nn::DataParallel dp(*model);
    auto loss = ag::mse(ag::sum((*model)[1]((*model)[0](x)), {1}, true), ag::sum(t, {1}, true));
    CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("parameter '2.weight' got no gradient"), ag::Error);
  }
  model->zero_grad();
  nn::DataParallel dp(*model, {.find_unused_parameters = true});
  ag::mse(ag::sum((*model)[1]((*model)[0](x)), {1}, true), ag::sum(t, {1}, true)).backward();
  CHECK(model->named_parameters()[0].second.grad().defined());
  Tensor g2 = model->named_parameters()[2].second.grad();
  REQUIRE(g2.defined());
  CHECK(max_rel_diff(g2, ag::zeros_like(g2)) == 0);
}

TEST_CASE("no_sync accumulates locally; the next backward averages the sum") {
  const int r = dist::rank(), w = dist::world_size();
  auto model = mlp(7, DType::float64);
  auto ref = mlp(7, DType::float64);
  nn::DataParallel dp(*model);
  auto [x, t] = global_batch(0, w, DType::float64);
  auto [x2, t2] = global_batch(1, w, DType::float64);
  {
    auto guard = dp.no_sync();
    ag::mse((*model)(rows(x, 4 * r, 4 * r + 4)), rows(t, 4 * r, 4 * r + 4)).backward();
  }
  ag::mse((*model)(rows(x2, 4 * r, 4 * r + 4)), rows(t2, 4 * r, 4 * r + 4)).backward();
  ag::mse((*ref)(x), t).backward();
  ag::mse((*ref)(x2), t2).backward();
  auto p = model->parameters(), q = ref->parameters();
  for (size_t k = 0; k < p.size(); ++k) CHECK(max_rel_diff(p[k].grad(), q[k].grad()) <= 1e-12);
}

TEST_CASE("Trainer, distributed: the same parameters and loss as one process on the global batches") {
  const int w = dist::world_size();
  // 24 examples: batches of 4 per rank make global batches of 4w, which divide 24 for w = 1, 2, 3
  ag::Generator gen(3);
  std::vector<double> xv(24 * 6), tv(24 * 3);
  for (double& v : xv) v = gen.normal();
  for (double& v : tv) v = gen.normal();
  nn::Dataset data{ag::from_vector(xv, {24, 6}, DType::float64), ag::from_vector(tv, {24, 3}, DType::float64)};
  auto fit = [&](bool distributed) {
    auto model = mlp(7, DType::float64);
    nn::SGD opt(model->parameters(), 0.1);
    nn::DataLoaderOptions lo{.batch_size = distributed ? 4 : 4 * w, .seed = 2};
    if (distributed) lo.sampler = nn::DistributedSampler::world();
    nn::DataLoader loader(data, lo);
    nn::TrainerOptions to;
    to.epochs = 3;
    to.loss = [](const Tensor& y, const Tensor& t) { return ag::mse(y, t); };
    to.classification = false;
    to.progress = false;
    to.distributed = distributed;
    nn::Trainer trainer(*model, opt, to);
    auto history = trainer.fit(loader);
    return std::make_pair(model, history);
  };
  auto [dp_model, dp_history] = fit(true);
  auto [ref_model, ref_history] = fit(false);
  auto p = dp_model->parameters(), q = ref_model->parameters();
  for (size_t k = 0; k < p.size(); ++k) CHECK(max_rel_diff(p[k], q[k]) <= 1e-12);
  REQUIRE(dp_history.size() == 3);
  for (size_t e = 0; e < 3; ++e) CHECK(dp_history[e].loss == doctest::Approx(ref_history[e].loss).epsilon(1e-12));
}

TEST_CASE("DistributedSampler: disjoint equal shards that cover the data, padded or dropped") {
  std::vector<int64_t> order = {9, 3, 7, 1, 0, 5, 2};
  for (int w = 1; w <= 4; ++w) {
    std::vector<int> seen(10, 0);
    size_t total = 0;
    for (int r = 0; r < w; ++r) {
      auto s = nn::DistributedSampler{w, r}.shard(order);
      CHECK(s.size() == (order.size() + w - 1) / w);
      total += s.size();
      for (int64_t i : s) ++seen[static_cast<size_t>(i)];
      CHECK(nn::DistributedSampler{w, r, true}.shard(order).size() == order.size() / w);
    }
    for (int64_t i : order) CHECK(seen[static_cast<size_t>(i)] >= 1);
    CHECK(total - order.size() < static_cast<size_t>(w));
  }
  // each rank's loader reads its shard of the same seeded order
  const int w = dist::world_size(), r = dist::rank();
  std::vector<double> idx(11);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<double>(i);
  nn::Dataset d{ag::from_vector(idx, {11, 1}, DType::float64), ag::from_vector(idx, {11}, DType::float64)};
  nn::DataLoader loader(d, {.batch_size = 2, .seed = 5, .sampler = nn::DistributedSampler::world()});
  CHECK(loader.size() == ((11 + w - 1) / w + 1) / 2);
  std::vector<double> mine;
  for (const nn::Batch& b : loader)
    for (int64_t i = 0; i < b.size(); ++i) mine.push_back(b.t.value_at(i));
  Tensor all = dist::all_gather(ag::from_vector(mine, {static_cast<int64_t>(mine.size())}, DType::float64));
  std::vector<int> count(11, 0);
  for (int64_t i = 0; i < all.numel(); ++i) ++count[static_cast<size_t>(all.value_at(i))];
  for (int c : count) CHECK(c >= 1);
  (void)r;
}

}  // TEST_SUITE

TEST_SUITE("nccl") {

// Run by `--nccl` (meson: 'dist: NCCL collectives on GPUs'): one process per GPU.
TEST_CASE("nccl: collectives on CUDA tensors equal the cpu's") {
  const int w = dist::world_size(), r = dist::rank();
  const ag::Device gpu = ag::Device::cuda(r % ag::cuda::device_count());
  for (const ag::Shape& s : kShapes) {
    for (DType d : {DType::float32, DType::float64, DType::bfloat16}) {
      Tensor t = rank_tensor(s, d, r).to(gpu);
      dist::all_reduce(t, dist::ReduceOp::sum);
      Tensor want = rank_tensor(s, d, r);
      dist::all_reduce(want, dist::ReduceOp::sum);
      CHECK(max_rel_diff(t.to(ag::Device::cpu()), want) == 0);
      Tensor b = rank_tensor(s, d, r).to(gpu);
      dist::broadcast(b, w - 1);
      CHECK(max_rel_diff(b.to(ag::Device::cpu()), rank_tensor(s, d, w - 1)) == 0);
      Tensor g = dist::all_gather(rank_tensor(s, d, r).to(gpu));
      CHECK(max_rel_diff(g.to(ag::Device::cpu()), dist::all_gather(rank_tensor(s, d, r))) == 0);
    }
  }
  Tensor t = rank_tensor({7, 3}, DType::float32, r);
  Tensor part = dist::reduce_scatter(t.to(gpu));
  CHECK(max_rel_diff(part.to(ag::Device::cpu()), dist::reduce_scatter(t)) == 0);
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  dist::init();
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--nccl") continue;
    if (!dist::built_with_nccl() || !ag::cuda::is_available()) {
      std::printf("NCCL collectives: %s (skipped)\n", dist::built_with_nccl() ? "no GPU here" : "built without NCCL");
      return 77;
    }
    doctest::Context ctx;
    ctx.setOption("test-suite", "nccl");
    return ctx.run();
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a != "--crash=throw" && a != "--crash=silent") continue;
    // Rank 1 fails; rank 0 waits in an all_reduce and must end with an error, not hang.
    Tensor t = ag::ones({4});
    if (dist::rank() == 1) {
      if (a == "--crash=throw") throw ag::Error("[drill] rank 1 fails on purpose");
      std::this_thread::sleep_for(std::chrono::seconds(120));  // alive, but calls nothing
      return 0;
    }
    try {
      dist::all_reduce(t);
    } catch (const ag::Error& e) {
      std::fprintf(stderr, "rank %d: %s\n", dist::rank(), e.what());
      return 1;  // exit aborts the job (Note [Failing together])
    }
    return 0;
  }
  doctest::Context ctx(argc, argv);
  ctx.setOption("test-suite-exclude", "nccl");
  if (dist::rank() != 0) ctx.setOption("minimal", true);
  const int rc = ctx.run();
  // one rank's failure is the job's failure, whichever rank saw it
  Tensor bad = ag::from_vector(std::vector<double>{static_cast<double>(rc != 0)}, {1}, DType::float64);
  dist::all_reduce(bad, dist::ReduceOp::max);
  if (dist::rank() == 0)
    std::printf("dist tests: world size %d, %s\n", dist::world_size(), bad.value_at(0) == 0 ? "all ranks passed" : "a rank failed");
  return bad.value_at(0) != 0 ? 1 : rc;
}
