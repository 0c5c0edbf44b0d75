// Threads: models trained at once on several threads, sharing the intra-op
// pool (Note [Worker pool]) and OpenBLAS. CI also runs the suite "threads"
// under ThreadSanitizer (tests/sanitizers.sh tsan).
#include <thread>

#include "helpers.hpp"
#include "nn/nn.hpp"

using namespace ag;

namespace {

// A few Adam steps of a 256-1024-10 net on a fixed batch; returns every
// parameter's values. Its ReLU and the first layer's update are large enough
// (256 x 1024 elements) for parallel_for to split them across the pool.
std::vector<float> train(uint64_t seed) {
  Generator gen(seed);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(256, 1024, gen)).add(nn::ReLU()).add(std::make_shared<nn::Linear>(1024, 10, gen));
  nn::Adam opt(net.parameters(), 1e-3);
  const Tensor x = randn({256, 256}, gen);
  std::vector<int64_t> labels(256);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 10);
  const Tensor t = from_vector(labels, {256});
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    softmax_cross_entropy(net.forward(x), t).backward();
    opt.step();
  }
  std::vector<float> out;
  for (const Tensor& p : net.parameters())
    for (float v : p.to_vector<float>()) out.push_back(v);
  return out;
}

}  // namespace

TEST_SUITE("threads") {

TEST_CASE("two models trained in two threads give bit-identical results to training them one after the other") {
  const std::vector<float> a = train(1), b = train(2);
  std::vector<float> ta, tb;
  std::string error_a, error_b;
  auto run = [](uint64_t seed, std::vector<float>& out, std::string& error) {
    try {
      out = train(seed);
    } catch (const std::exception& e) {
      error = e.what();
    }
  };
  std::thread t1(run, 1, std::ref(ta), std::ref(error_a)), t2(run, 2, std::ref(tb), std::ref(error_b));
  t1.join();
  t2.join();
  REQUIRE(error_a.empty());
  REQUIRE(error_b.empty());
  REQUIRE(ta.size() == a.size());
  CHECK(ta == a);  // exact: each thread's ops give the same bits as alone
  CHECK(tb == b);
  CHECK(a != b);
}

}  // TEST_SUITE
