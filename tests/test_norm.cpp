// Batch norm, layer norm, embedding and dropout: the ops against hand computations,
// their errors, the nn modules (BatchNorm1d/2d, LayerNorm, Embedding, Dropout),
// buffers and their checkpoint round trip, and dropout's mask on cpu vs cuda_host.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "helpers.hpp"
#include "nn/nn.hpp"

using namespace ag;

namespace {

// The cuda_host emulation where this build has it.
bool has_cuda_host() {
  try {
    (void)zeros({1}, DType::float32, Device::cuda_host());
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Per-column mean and biased variance of a row-major (n, c) table.
void column_stats(const std::vector<double>& x, int n, int c, std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(static_cast<size_t>(c), 0.0);
  var.assign(static_cast<size_t>(c), 0.0);
  for (int j = 0; j < c; ++j) {
    for (int i = 0; i < n; ++i) mean[j] += x[static_cast<size_t>(i * c + j)] / n;
    for (int i = 0; i < n; ++i) {
      const double d = x[static_cast<size_t>(i * c + j)] - mean[j];
      var[j] += d * d / n;
    }
  }
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("tapegrad_norm_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST_SUITE("norm") {

TEST_CASE("batch_norm in training: the batch statistics, gamma and beta, against a hand computation") {
  const std::vector<double> xs = {1, 2, 3, 4, 5, 6, 7, 9};  // (4, 2)
  Tensor x = from_vector(xs, {4, 2}, DType::float64);
  Tensor gamma = tensor({2.0, 0.5}, {2}, DType::float64), beta = tensor({1.0, -1.0}, {2}, DType::float64);
  Tensor rm = zeros({2}, DType::float64), rv = ones({2}, DType::float64);
  Tensor y = batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
  // column 0: 1, 3, 5, 7: mean 4, biased var 5; column 1: 2, 4, 6, 9: mean 5.25, biased var 6.6875
  CHECK(y.value_at(0) == doctest::Approx((1 - 4) / std::sqrt(5 + 1e-5) * 2 + 1));
  CHECK(y.value_at(7) == doctest::Approx((9 - 5.25) / std::sqrt(6.6875 + 1e-5) * 0.5 - 1));
  std::vector<double> m, v, want;
  column_stats(xs, 4, 2, m, v);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      want.push_back((xs[static_cast<size_t>(i * 2 + j)] - m[j]) / std::sqrt(v[j] + 1e-5) * (j ? 0.5 : 2.0) +
                     (j ? -1.0 : 1.0));
  check_values(y, want, 1e-12);
  // the running stats moved by momentum 0.1 towards the mean and the unbiased variance
  check_values(rm, {0.1 * 4, 0.1 * 5.25}, 1e-12);
  check_values(rv, {0.9 + 0.1 * 5 * 4 / 3, 0.9 + 0.1 * 6.6875 * 4 / 3}, 1e-12);
  // no gamma, beta or running stats: plain standardisation, per-column mean 0 and variance ~1
  Tensor z = batch_norm(x, {}, {}, {}, {}, true);
  check_values(mean(z, {0}), {0, 0}, 1e-9);
  check_values(mean(z * z, {0}), {5 / (5 + 1e-5), 6.6875 / (6.6875 + 1e-5)}, 1e-9);
}

TEST_CASE("batch_norm: the running stats after several steps follow torch's formula; eval uses them") {
  Generator gen(3);
  Tensor rm = zeros({3}, DType::float64), rv = ones({3}, DType::float64);
  std::vector<double> want_m(3, 0.0), want_v(3, 1.0);
  const double momentum = 0.2;
  for (int step = 0; step < 4; ++step) {
    Tensor x = randn({6, 3}, gen, DType::float64, 1.0 + step, 2.0);
    std::vector<double> m, v;
    column_stats(x.to_vector<double>(), 6, 3, m, v);
    for (int j = 0; j < 3; ++j) {
      want_m[j] = (1 - momentum) * want_m[j] + momentum * m[j];
      want_v[j] = (1 - momentum) * want_v[j] + momentum * v[j] * 6 / 5;
    }
    (void)batch_norm(x, {}, {}, rm, rv, true, momentum);
  }
  check_values(rm, want_m, 1e-12);
  check_values(rv, want_v, 1e-12);
  // evaluation: (x - running_mean) / sqrt(running_var + eps), and the running stats stay
  Tensor x = tensor({1.0, 2.0, 3.0, -1.0, 0.5, 4.0}, {2, 3}, DType::float64);
  Tensor y = batch_norm(x, {}, {}, rm, rv, false, momentum, 1e-3);
  std::vector<double> want;
  const std::vector<double> xs = x.to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) want.push_back((xs[static_cast<size_t>(i * 3 + j)] - want_m[j]) / std::sqrt(want_v[j] + 1e-3));
  check_values(y, want, 1e-12);
  check_values(rm, want_m, 1e-12);
  // a batch of one in evaluation is fine
  CHECK(batch_norm(slice(x, 0, 0, 1), {}, {}, rm, rv, false).shape() == Shape{1, 3});
}

TEST_CASE("batch_norm over (N, C, H, W): statistics per channel, over N, H and W") {
  Generator gen(5);
  Tensor x = randn({3, 2, 2, 4}, gen, DType::float64, 2.0, 3.0);
  Tensor rm = zeros({2}, DType::float64), rv = ones({2}, DType::float64);
  Tensor y = batch_norm(x, {}, {}, rm, rv, true, 1.0, 0.0);  // momentum 1: the running stats are the batch's
  Tensor mu = mean(x, {0, 2, 3}), v = var(x, {0, 2, 3}, 1);
  check_values(rm, mu.to_vector<double>(), 1e-12);
  check_values(rv, v.to_vector<double>(), 1e-12);
  check_values(mean(y, {0, 2, 3}), {0, 0}, 1e-9);
  check_values(mean(y * y, {0, 2, 3}), {1, 1}, 1e-9);
  // and evaluation with those stats maps the batch to y rescaled by the unbiased/biased ratio
  Tensor ye = batch_norm(x, {}, {}, rm, rv, false, 0.1, 0.0);
  const double n = 3 * 2 * 4;
  check_values(ye, (y * std::sqrt((n - 1) / n)).to_vector<double>(), 1e-9);
}

TEST_CASE("batch_norm: gradients through the batch statistics (first and second order)") {
  Generator gen(7);
  Tensor x = randn({5, 3}, gen, DType::float64).requires_grad_();
  Tensor g = randn({3}, gen, DType::float64).requires_grad_(), b = randn({3}, gen, DType::float64).requires_grad_();
  auto f = [&](std::span<const Tensor> in) { return batch_norm(in[0], in[1], in[2], {}, {}, true); };
  CHECK(gradcheck(f, std::vector<Tensor>{x, g, b}).ok);
  CHECK(gradgradcheck(f, std::vector<Tensor>{x, g, b}).ok);
  // the gradient wrt x of sum(batch_norm(x)) without gamma is 0: the mean is subtracted
  Tensor x2 = randn({4, 2}, gen, DType::float64).requires_grad_();
  sum(batch_norm(x2, {}, {}, {}, {}, true)).backward();
  check_values(x2.grad(), std::vector<double>(8, 0.0), 1e-9);
}

TEST_CASE("batch_norm errors name the op and the shapes") {
  Tensor rm = zeros({3}), rv = ones({3});
  std::string e = error_of([&] { batch_norm(ones({1, 3}), {}, {}, rm, rv, true); });
  CHECK(e.find("[batch_norm]") == 0);
  CHECK(e.find("(1, 3)") != std::string::npos);
  e = error_of([&] { batch_norm(ones({1, 3, 1, 1}), {}, {}, rm, rv, true); });
  CHECK(e.find("[batch_norm]") == 0);
  CHECK(e.find("(1, 3, 1, 1)") != std::string::npos);
  CHECK(error_of([&] { batch_norm(ones({4, 3, 2}), {}, {}, rm, rv, true); }).find("[batch_norm] needs an input of shape") == 0);
  CHECK(error_of([&] { batch_norm(ones({4, 3}), ones({2}), {}, rm, rv, true); }).find("[batch_norm] gamma must have shape (3,)") == 0);
  CHECK(error_of([&] { batch_norm(ones({4, 3}), {}, {}, {}, {}, false); }).find("[batch_norm] evaluation needs") == 0);
  CHECK(error_of([&] { batch_norm(ones({4, 3}), {}, {}, rm, {}, true); }).find("[batch_norm] needs both") == 0);
  CHECK(error_of([&] { batch_norm(ones({4, 3}), {}, {}, zeros({3}, DType::float64), ones({3}, DType::float64), true); })
            .find("[batch_norm] running_mean has dtype float64") == 0);
}

TEST_CASE("layer_norm: values over the last axes against a hand computation; gradients; errors") {
  const std::vector<double> xs = {1, 2, 3, 2, 4, 9};  // (2, 3)
  Tensor x = from_vector(xs, {2, 3}, DType::float64);
  Tensor gamma = tensor({1.0, 2.0, -1.0}, {3}, DType::float64), beta = tensor({0.0, 0.5, 1.0}, {3}, DType::float64);
  Tensor y = layer_norm(x, {3}, gamma, beta, 1e-5);
  std::vector<double> want;
  for (int i = 0; i < 2; ++i) {
    double m = 0, v = 0;
    for (int j = 0; j < 3; ++j) m += xs[static_cast<size_t>(i * 3 + j)] / 3;
    for (int j = 0; j < 3; ++j) v += std::pow(xs[static_cast<size_t>(i * 3 + j)] - m, 2) / 3;
    const double g[3] = {1, 2, -1}, b[3] = {0, 0.5, 1};
    for (int j = 0; j < 3; ++j) want.push_back((xs[static_cast<size_t>(i * 3 + j)] - m) / std::sqrt(v + 1e-5) * g[j] + b[j]);
  }
  CHECK(want[0] == doctest::Approx(-1 / std::sqrt(2.0 / 3 + 1e-5)));
  check_values(y, want, 1e-12);
  // over two axes: each (3, 4) block standardised
  Generator gen(11);
  Tensor x3 = randn({2, 3, 4}, gen, DType::float64, 1.0, 2.0);
  Tensor z = layer_norm(x3, {3, 4});
  check_values(mean(z, {1, 2}), {0, 0}, 1e-9);
  check_values(mean(z * z, {1, 2}), {1, 1}, 1e-4);
  Tensor xg = randn({2, 4}, gen, DType::float64).requires_grad_();
  Tensor gg = randn({4}, gen, DType::float64).requires_grad_(), bg = randn({4}, gen, DType::float64).requires_grad_();
  auto f = [&](std::span<const Tensor> in) { return layer_norm(in[0], {4}, in[1], in[2]); };
  CHECK(gradcheck(f, std::vector<Tensor>{xg, gg, bg}).ok);
  CHECK(gradgradcheck(f, std::vector<Tensor>{xg, gg, bg}).ok);
  CHECK(error_of([&] { layer_norm(x, {2}); }).find("[layer_norm] the input's last axes must be normalized_shape (2,), got an input of shape (2, 3)") == 0);
  CHECK(error_of([&] { layer_norm(x, {}); }).find("[layer_norm] needs a non-empty") == 0);
  CHECK(error_of([&] { layer_norm(x, {3}, ones({2}, DType::float64)); }).find("[layer_norm] gamma must have shape (3,)") == 0);
}

TEST_CASE("embedding: rows at indices of any shape; the padding row gets no gradient; range errors") {
  Tensor w = tensor({0, 0, 1, 2, 3, 4, 5, 6}, {4, 2}, DType::float64).requires_grad_();
  Tensor idx = tensor({1, 0, 3, 3, 2, 0}, {2, 3}, DType::int64);
  Tensor y = embedding(w, idx, 0);
  CHECK(y.shape() == Shape{2, 3, 2});
  check_values(y, {1, 2, 0, 0, 5, 6, 5, 6, 3, 4, 0, 0});
  // weights 1..12 on the outputs: each row's gradient sums its occurrences' weights
  Tensor coef = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2}, DType::float64);
  sum(y * coef).backward();
  check_values(w.grad(), {0, 0, 1, 2, 9, 10, 5 + 7, 6 + 8});  // row 0 is padding: none
  // without padding_idx row 0 gets its share
  w.zero_grad();
  sum(embedding(w, idx) * coef).backward();
  check_values(w.grad(), {3 + 11, 4 + 12, 1, 2, 9, 10, 12, 14});
  // a negative padding_idx counts from the end
  w.zero_grad();
  sum(embedding(w, idx, -1) * coef).backward();
  check_values(w.grad(), {14, 16, 1, 2, 9, 10, 0, 0});
  std::string e = error_of([&] { embedding(w, tensor({1, 7}, {2}, DType::int64)); });
  CHECK(e.find("[embedding] index 7") == 0);
  CHECK(e.find("table of 4 rows") != std::string::npos);
  CHECK(error_of([&] { embedding(w, tensor({-1}, {1}, DType::int64)); }).find("[embedding] index -1") == 0);
  CHECK(error_of([&] { embedding(w, idx, 4); }).find("[embedding] padding_idx 4 is out of range for a table of 4 rows") == 0);
  CHECK(error_of([&] { embedding(w, tensor({1.0}, {1})); }).find("[embedding] needs int64 indices") == 0);
  CHECK(error_of([&] { embedding(ones({4}), idx); }).find("[embedding] needs a weight of shape (num, dim)") == 0);
}

TEST_CASE("dropout: about p zeros, the rest scaled by 1/(1-p); backward reuses the mask; errors") {
  Generator gen(42);
  const int64_t n = 20000;
  for (double p : {0.1, 0.5, 0.8}) {
    Tensor x = ones({n}, DType::float64).requires_grad_();
    Tensor y = dropout(x, p, true, gen);
    const std::vector<double> v = y.to_vector<double>();
    int64_t zeros_n = 0;
    bool scaled = true;
    for (double e : v) {
      if (e == 0.0) ++zeros_n;
      else scaled = scaled && std::abs(e - 1.0 / (1.0 - p)) < 1e-12;
    }
    INFO("p = " << p);
    CHECK(std::abs(static_cast<double>(zeros_n) / n - p) < 0.02);
    CHECK(scaled);
    sum(y * 3.0).backward();
    check_values(x.grad(), (y * 3.0).to_vector<double>(), 1e-12);  // dx = 3 · mask / (1 - p)
  }
  // the same seed gives the same mask; two draws of a generator differ
  Tensor x = ones({1000});
  Generator a(9), b(9);
  Tensor ya = dropout(x, 0.5, true, a), yb = dropout(x, 0.5, true, b);
  CHECK(ya.to_vector<float>() == yb.to_vector<float>());
  CHECK(dropout(x, 0.5, true, a).to_vector<float>() != ya.to_vector<float>());
  CHECK(dropout_seeded(x, 0.5, 123).to_vector<float>() == dropout_seeded(x, 0.5, 123).to_vector<float>());
  // identity when not training or p == 0
  CHECK(dropout(x, 0.5, false, a).to_vector<float>() == x.to_vector<float>());
  CHECK(dropout(x, 0.0, true, a).to_vector<float>() == x.to_vector<float>());
  CHECK(error_of([&] { dropout(x, 1.0, true, a); }).find("[dropout] needs 0 <= p < 1, got p = 1 for an input of shape (1000,)") == 0);
  CHECK(error_of([&] { dropout(x, -0.1, false, a); }).find("[dropout] needs 0 <= p < 1") == 0);
  CHECK(error_of([&] { dropout(tensor({1, 2}, {2}, DType::int64), 0.5, true, a); }).find("[dropout] needs a floating") == 0);
}

TEST_CASE("dropout: the same seed gives the same mask on cpu and cuda_host") {
  if (!has_cuda_host()) {
    MESSAGE("skipped: this build has no cuda_host emulation");
    return;
  }
  Generator gen(1);
  for (DType t : {DType::float32, DType::float64}) {
    Tensor x = randn({7, 33}, gen, t);
    Generator a(77), b(77);
    Tensor yc = dropout(x, 0.3, true, a);
    Tensor yd = dropout(x.to(Device::cuda_host()), 0.3, true, b);
    CHECK(yd.device() == Device::cuda_host());
    const std::vector<double> vc = cast(yc, DType::float64).to_vector<double>();
    const std::vector<double> vd = cast(yd, DType::float64).to(Device::cpu()).to_vector<double>();
    CHECK(vc == vd);  // bit for bit
  }
  // 16-bit storage on the device: the same zeros as the cpu's float32 mask
  Tensor x = ones({500});
  Tensor yc = dropout_seeded(x, 0.4, 5);
  Tensor yh = dropout_seeded(cast(x.to(Device::cuda_host()), DType::float16), 0.4, 5);
  const std::vector<double> vc = cast(yc, DType::float64).to_vector<double>();
  const std::vector<double> vh = cast(cast(yh, DType::float32), DType::float64).to(Device::cpu()).to_vector<double>();
  REQUIRE(vc.size() == vh.size());
  for (size_t i = 0; i < vc.size(); ++i) CHECK((vc[i] == 0) == (vh[i] == 0));
}

TEST_CASE("nn::Dropout: a model with Dropout runs forward and backward on cuda_host with the cpu's mask") {
  if (!has_cuda_host()) {
    MESSAGE("skipped: this build has no cuda_host emulation");
    return;
  }
  nn::Dropout dc(0.5, 17), dd(0.5, 17);
  Tensor x = ones({4, 50});
  Tensor yc = dc(x), yd = dd(x.to(Device::cuda_host()));
  CHECK(yc.to_vector<float>() == yd.to(Device::cpu()).to_vector<float>());
  dc.eval();
  CHECK(dc(x).to_vector<float>() == x.to_vector<float>());

  Generator gen(2);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(6, 8, gen)).add(std::make_shared<nn::Dropout>(0.5, 3));
  net.add(std::make_shared<nn::Linear>(8, 3, gen));
  net.to(Device::cuda_host());
  Tensor loss = softmax_cross_entropy(net(randn({5, 6}, gen).to(Device::cuda_host())),
                                      tensor({0, 1, 2, 1, 0}, {5}, DType::int64).to(Device::cuda_host()));
  loss.backward();
  for (auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().device() == Device::cuda_host());
  }
}

TEST_CASE("Module buffers: dotted names, not trained, moved by to()") {
  nn::Sequential net;
  net.add(std::make_shared<nn::BatchNorm1d>(3)).add(std::make_shared<nn::BatchNorm2d>(2, 1e-5, 0.1, false));
  auto bufs = net.named_buffers();
  REQUIRE(bufs.size() == 4);
  CHECK(bufs[0].first == "0.running_mean");
  CHECK(bufs[1].first == "0.running_var");
  CHECK(bufs[3].first == "1.running_var");
  CHECK_FALSE(bufs[0].second.requires_grad());
  auto params = net.named_parameters();
  REQUIRE(params.size() == 2);  // the second has affine = false
  CHECK(params[0].first == "0.weight");
  if (has_cuda_host()) {
    net.to(Device::cuda_host());
    for (auto& [n, b] : net.named_buffers()) CHECK(b.device() == Device::cuda_host());
    auto* bn = dynamic_cast<nn::BatchNorm1d*>(&net[0]);
    REQUIRE(bn);
    CHECK(bn->running_mean.device() == Device::cuda_host());  // the module's handles see the move
    Generator gen(4);
    (void)net[0](randn({5, 3}, gen).to(Device::cuda_host()));
    CHECK(bn->running_mean.to(Device::cpu()).to_vector<float>() != std::vector<float>(3, 0.0f));
  }
}

TEST_CASE("BatchNorm1d/2d modules: training updates the running stats, eval uses them; errors") {
  Generator gen(8);
  nn::BatchNorm1d bn(3, 1e-5, 0.5);
  CHECK(bn.weight.to_vector<float>() == std::vector<float>(3, 1.0f));
  CHECK(bn.bias.to_vector<float>() == std::vector<float>(3, 0.0f));
  Tensor x = randn({8, 3}, gen, DType::float32, 2.0, 1.0);
  Tensor y = bn(x);
  check_values(mean(y, {0}), {0, 0, 0}, 1e-5);
  std::vector<double> m, v;
  column_stats(cast(x, DType::float64).to_vector<double>(), 8, 3, m, v);
  check_values(bn.running_mean, {0.5 * m[0], 0.5 * m[1], 0.5 * m[2]}, 1e-5);
  check_values(bn.running_var, {0.5 + 0.5 * v[0] * 8 / 7, 0.5 + 0.5 * v[1] * 8 / 7, 0.5 + 0.5 * v[2] * 8 / 7}, 1e-5);
  bn.eval();
  Tensor before = bn.running_mean.clone();
  Tensor ye = bn(x);
  CHECK(bn.running_mean.to_vector<float>() == before.to_vector<float>());
  check_values(ye, cast(batch_norm(x, {}, {}, bn.running_mean, bn.running_var, false), DType::float64).to_vector<double>(), 1e-6);
  CHECK(error_of([&] { bn(ones({2, 3, 1, 1})); }).find("[BatchNorm1d] needs an input of rank 2") == 0);
  bn.train();
  CHECK(error_of([&] { bn(ones({1, 3})); }).find("[batch_norm] training needs more than 1 value per channel") == 0);
  nn::BatchNorm2d bn2(2);
  Tensor y2 = bn2(randn({2, 2, 3, 3}, gen));
  check_values(mean(y2, {0, 2, 3}), {0, 0}, 1e-5);
  CHECK(error_of([&] { bn2(ones({4, 2})); }).find("[BatchNorm2d] needs an input of rank 4") == 0);
  CHECK(error_of([&] { nn::BatchNorm1d(0); }).find("[BatchNorm1d] needs a positive number of channels") == 0);
}

TEST_CASE("a BatchNorm checkpoint round trip restores the running stats") {
  Generator gen(12);
  nn::Sequential a;
  a.add(std::make_shared<nn::Linear>(4, 3, gen)).add(std::make_shared<nn::BatchNorm1d>(3));
  for (int i = 0; i < 3; ++i) (void)a(randn({6, 4}, gen, DType::float32, 1.0, 2.0));
  const std::string path = temp_file("bn.safetensors").string();
  nn::save_checkpoint(path, a);
  nn::Sequential b;
  b.add(std::make_shared<nn::Linear>(4, 3, gen)).add(std::make_shared<nn::BatchNorm1d>(3));
  CHECK(b.named_buffers()[0].second.to_vector<float>() != a.named_buffers()[0].second.to_vector<float>());
  nn::load_checkpoint(path, b);
  for (size_t i = 0; i < 2; ++i)
    CHECK(b.named_buffers()[i].second.to_vector<float>() == a.named_buffers()[i].second.to_vector<float>());
  for (size_t i = 0; i < 4; ++i)
    CHECK(b.named_parameters()[i].second.to_vector<float>() == a.named_parameters()[i].second.to_vector<float>());
  a.eval();
  b.eval();
  Tensor x = randn({2, 4}, gen);
  CHECK(a(x).to_vector<float>() == b(x).to_vector<float>());
  // a file without buffers (as written before buffers existed) does not fit a model with them
  nn::Linear lin(4, 3, gen);
  const std::string old = temp_file("lin.safetensors").string();
  nn::save_checkpoint(old, lin);
  nn::Sequential c;
  c.add(std::make_shared<nn::BatchNorm1d>(3));
  CHECK(error_of([&] { nn::load_checkpoint(old, c); }).find("[load_checkpoint]") == 0);
  nn::SafeTensors no_buffers;  // c's parameters, no buffers: the missing buffer is named
  no_buffers.tensors = {{"model.0.weight", ones({3})}, {"model.0.bias", zeros({3})}};
  const std::string nb = temp_file("nb.safetensors").string();
  nn::save_safetensors(nb, no_buffers);
  CHECK(error_of([&] { nn::load_checkpoint(nb, c); }).find("has no buffer '0.running_mean'") != std::string::npos);
  std::filesystem::remove(nb);
  // but loads into a model without buffers
  nn::Linear lin2(4, 3, gen);
  nn::load_checkpoint(old, lin2);
  CHECK(lin2.weight.to_vector<float>() == lin.weight.to_vector<float>());
  std::filesystem::remove(path);
  std::filesystem::remove(old);
}

TEST_CASE("LayerNorm and Embedding modules") {
  nn::LayerNorm ln({4});
  Generator gen(13);
  Tensor y = ln(randn({3, 4}, gen));
  check_values(mean(y, {1}), {0, 0, 0}, 1e-5);
  CHECK(ln.named_parameters().size() == 2);
  CHECK(error_of([&] { nn::LayerNorm({}); }).find("[LayerNorm] needs a non-empty") == 0);

  nn::Embedding emb(50, 8, 2, gen);
  CHECK(emb.weight.shape() == Shape{50, 8});
  const std::vector<float> w = emb.weight.to_vector<float>();
  double s2 = 0;
  int nonzero = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (i / 8 == 2) CHECK(w[i] == 0.0f);
    else nonzero += w[i] != 0.0f, s2 += static_cast<double>(w[i]) * w[i];
  }
  CHECK(nonzero == 49 * 8);
  CHECK(std::sqrt(s2 / (49 * 8)) == doctest::Approx(1.0).epsilon(0.15));  // N(0, 1)
  Tensor idx = tensor({2, 5, 2, 7}, {2, 2}, DType::int64);
  Tensor out = emb(idx);
  CHECK(out.shape() == Shape{2, 2, 8});
  sum(out).backward();
  const std::vector<float> g = emb.weight.grad().to_vector<float>();
  CHECK(g[2 * 8] == 0.0f);  // the padding row: no gradient
  CHECK(g[5 * 8] == 1.0f);
  CHECK(g[7 * 8 + 3] == 1.0f);
  CHECK(error_of([&] { nn::Embedding(5, 2, 5, gen); }).find("[Embedding] padding_idx 5 is out of range") == 0);
  CHECK(error_of([&] { emb(tensor({50}, {1}, DType::int64)); }).find("[embedding] index 50") == 0);
}

}  // TEST_SUITE
