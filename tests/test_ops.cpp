// Forward values of the ops against hand-computed results, and the shape of
// the graphs they record.
#include "helpers.hpp"

using namespace ag;

TEST_SUITE("ops") {

TEST_CASE("repeat copies a size-1 axis; its backward sums") {
  Tensor x = tensor({1, 2, 3}, {1, 3}, DType::float64).requires_grad_();
  Tensor y = repeat(x, 0, 2);
  CHECK(y.shape() == Shape{2, 3});
  check_values(y, {1, 2, 3, 1, 2, 3});
  y.backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64));
  check_values(x.grad(), {5, 7, 9});
}

TEST_CASE("sum over chosen axes, with and without keepdims; its backward repeats") {
  Tensor x = arange(0, 24, 1, DType::float64).reshape({2, 3, 4}).detach().requires_grad_();
  CHECK(sum(x).item<double>() == 276.0);
  Tensor s1 = sum(x, {1});
  CHECK(s1.shape() == Shape{2, 4});
  check_values(s1, {12, 15, 18, 21, 48, 51, 54, 57});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1, 4});
  Tensor s02 = sum(x, {0, 2});
  check_values(s02, {60, 92, 124});
  CHECK(sum(x, {-1}).shape() == Shape{2, 3});
  s02.backward(tensor({1, 2, 3}, {3}, DType::float64));
  Tensor g = x.grad();
  CHECK(g.at<double>({0, 0, 0}) == 1.0);
  CHECK(g.at<double>({1, 2, 3}) == 3.0);
  CHECK(g.at<double>({1, 1, 0}) == 2.0);
}

TEST_CASE("matmul: 2-D, batched and a shared right factor") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor({7, 8, 9, 10, 11, 12}, {3, 2});
  check_values(matmul(a, b), {58, 64, 139, 154});
  Tensor ab = matmul(reshape(concat({a, a}, 0), {2, 2, 3}), reshape(concat({b, b * 2.0}, 0), {2, 3, 2}));
  CHECK(ab.shape() == Shape{2, 2, 2});
  check_values(ab, {58, 64, 139, 154, 116, 128, 278, 308});
  Tensor shared = matmul(reshape(concat({a, a}, 0), {2, 2, 3}), b);
  check_values(shared, {58, 64, 139, 154, 58, 64, 139, 154});
  Tensor bcast = matmul(a, reshape(concat({b, b}, 0), {2, 3, 2}));
  check_values(bcast, {58, 64, 139, 154, 58, 64, 139, 154});
}

TEST_CASE("matmul backward: dX = dY W^T, dW = X^T dY") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::float64).requires_grad_();
  Tensor w = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, DType::float64).requires_grad_();
  Tensor gy = tensor({1, 2, 3, 4}, {2, 2}, DType::float64);
  matmul(x, w).backward(gy);
  NoGradGuard g;
  check_values(x.grad(), {1, 2, 3, 3, 4, 7});        // gy @ w^T
  check_values(w.grad(), {13, 18, 17, 24, 21, 30});  // x^T @ gy
}

TEST_CASE("mul: the backward swaps the inputs") {
  Tensor a = tensor({2, 3}, {2}, DType::float64).requires_grad_();
  Tensor b = tensor({5, 7}, {2}, DType::float64).requires_grad_();
  sum(a * b).backward();
  check_values(a.grad(), {5, 7});
  check_values(b.grad(), {2, 3});
}

TEST_CASE("sigmoid: values and y(1 - y) backward") {
  Tensor x = tensor({0, 2, -2, 40, -40}, {5}, DType::float64).requires_grad_();
  Tensor y = sigmoid(x);
  check_values(y, {0.5, 0.8807970779778823, 0.11920292202211755, 1.0, 4.248354255291589e-18});
  sum(y).backward();
  check_values(x.grad(), {0.25, 0.1049935854035065, 0.1049935854035065, 4.248354255291589e-18, 4.248354255291589e-18});
}

TEST_CASE("a bias add is recorded as reshape + repeat + add, the textbook's Repeat node") {
  Tensor x = ones({4, 3});
  Tensor b = tensor({1, 2, 3}).requires_grad_();
  Tensor y = x + b;
  CHECK(count_nodes(Op::reshape) == 1);
  CHECK(count_nodes(Op::repeat) == 1);
  CHECK(count_nodes(Op::add) == 1);
  check_values(y, {2, 3, 4, 2, 3, 4, 2, 3, 4, 2, 3, 4});
  sum(y).backward();
  check_values(b.grad(), {4, 4, 4});
}

TEST_CASE("broadcasting follows NumPy: both operands may expand") {
  Tensor a = tensor({1, 2, 3}, {3, 1});
  Tensor b = tensor({10, 20}, {1, 2});
  Tensor c = a + b;
  CHECK(c.shape() == Shape{3, 2});
  check_values(c, {11, 21, 12, 22, 13, 23});
  CHECK(broadcast_shapes({2, 1, 3}, {4, 1}, "test") == Shape{2, 4, 3});
  check_values(sum_to(ones({2, 3, 4}), {3, 1}), {8, 8, 8});
}

TEST_CASE("elementwise functions") {
  Tensor x = tensor({-2, -0.5, 0.5, 2}, {4}, DType::float64);
  check_values(relu(x), {0, 0, 0.5, 2});
  check_values(leaky_relu(x, 0.1), {-0.2, -0.05, 0.5, 2});
  check_values(elu(x, 1.0), {std::exp(-2.0) - 1, std::exp(-0.5) - 1, 0.5, 2});
  check_values(abs(x), {2, 0.5, 0.5, 2});
  check_values(clip(x, -1, 1), {-1, -0.5, 0.5, 1});
  check_values(tanh(x), {std::tanh(-2.0), std::tanh(-0.5), std::tanh(0.5), std::tanh(2.0)});
  check_values(exp(x), {std::exp(-2.0), std::exp(-0.5), std::exp(0.5), std::exp(2.0)});
  check_values(pow(abs(x), 3), {8, 0.125, 0.125, 8});
  check_values(sqrt(abs(x)), {std::sqrt(2.0), std::sqrt(0.5), std::sqrt(0.5), std::sqrt(2.0)});
  check_values(log(abs(x)), {std::log(2.0), std::log(0.5), std::log(0.5), std::log(2.0)});
  check_values(heaviside(x), {0, 0, 1, 1});
  check_values(sign(x), {-1, -1, 1, 1});
  check_values(where(heaviside(x), x, -x), {2, 0.5, 0.5, 2});
  check_values(1.0 / x, {-0.5, -2, 2, 0.5});
  check_values(x - 1.0, {-3, -1.5, -0.5, 1});
  check_values(1.0 - x, {3, 1.5, 0.5, -1});
  check_values(-x, {2, 0.5, -0.5, -2});
  check_values(x / x, {1, 1, 1, 1});
  check_values(eq(x, abs(x)), {0, 0, 1, 1});
}

TEST_CASE("softmax: rows sum to one, stable for large inputs") {
  Tensor x = tensor({1, 2, 3, 1000, 1001, 1002}, {2, 3}, DType::float64);
  Tensor y = softmax(x, 1);
  check_values(sum(y, {1}), {1, 1});
  check_values(slice(y, 0, 0, 1), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219});
  check_values(slice(y, 0, 1, 2), {0.09003057317038046, 0.24472847105479767, 0.6652409557748219});
  Tensor ls = log_softmax(x, 1);
  check_values(slice(ls, 0, 1, 2), {std::log(0.09003057317038046), std::log(0.24472847105479767),
                                    std::log(0.6652409557748219)});
  Tensor col = softmax(x, 0);
  check_values(sum(col, {0}), {1, 1, 1});
}

TEST_CASE("reductions: mean, max, min, argmax") {
  Tensor x = tensor({3, 1, 4, 1, 5, 9}, {2, 3});
  check_values(mean(x, {1}), {8.0 / 3, 5});
  check_values(max(x, {1}), {4, 9});
  check_values(min(x, {0}), {1, 1, 4});
  check_values(max(x), {9});
  Tensor am = argmax(x, 1);
  CHECK(am.dtype() == DType::int64);
  CHECK(am.to_vector<int64_t>() == std::vector<int64_t>{2, 2});
  CHECK(argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1});
}

TEST_CASE("max backward shares the gradient between ties") {
  Tensor x = tensor({1, 3, 3}, {3}, DType::float64).requires_grad_();
  max(x).backward();
  check_values(x.grad(), {0, 0.5, 0.5});
}

TEST_CASE("shape ops: permute, transpose, slice, concat, index_select, index_add, one_hot") {
  Tensor x = arange(0, 6).reshape({2, 3});
  check_values(transpose(x), {0, 3, 1, 4, 2, 5});
  CHECK(transpose(x).shape() == Shape{3, 2});
  Tensor p = permute(arange(0, 24).reshape({2, 3, 4}), {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at<float>({3, 1, 2}) == 23.0f);
  CHECK(p.at<float>({1, 0, 2}) == 9.0f);
  check_values(slice(x, 1, 1, 3), {1, 2, 4, 5});
  check_values(slice(arange(0, 10), 0, 1, -1, 3), {1, 4, 7});
  check_values(unslice(tensor({1, 2}), {5}, 0, 1, 5, 2), {0, 1, 0, 2, 0});
  check_values(concat({x, x * 10.0}, 1), {0, 1, 2, 0, 10, 20, 3, 4, 5, 30, 40, 50});
  Tensor idx = from_vector(std::vector<int64_t>{1, 1, 0}, {3});
  check_values(index_select(x, idx), {3, 4, 5, 3, 4, 5, 0, 1, 2});
  check_values(index_select(x, from_vector(std::vector<int64_t>{2, 0}, {2}), 1), {2, 0, 5, 3});
  check_values(index_add(ones({3, 2}), idx, 2), {1, 1, 2, 2});
  check_values(one_hot(from_vector(std::vector<int64_t>{2, 0}, {2}), 3), {0, 0, 1, 1, 0, 0});
}

// The kernels merge axes and copy by rows (cpu/shape.cpp, cpu/reduce.cpp): every
// permutation of 4-d shapes with axes of size 1 and axes that merge, against the
// index arithmetic; repeat with rows of 1, short and long; max, min and sum over
// short rows.
TEST_CASE("permute, repeat and short-row reductions against index arithmetic") {
  const int before = num_threads();
  // 3 threads: the large shape is split into row ranges that start inside the odometer
  set_num_threads(3);
  for (const Shape& s :
       {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 5}, Shape{4, 1, 6, 1}, Shape{3, 2, 2, 7}, Shape{6, 7, 16, 61}}) {
    Tensor x = arange(0, static_cast<double>(s[0] * s[1] * s[2] * s[3])).reshape(s);
    Axes perm{0, 1, 2, 3};
    do {
      Tensor y = permute(x, perm);
      INFO("shape " << s[0] << "x" << s[1] << "x" << s[2] << "x" << s[3] << ", perm " << perm[0] << perm[1]
                    << perm[2] << perm[3]);
      REQUIRE(y.shape() == Shape{s[size_t(perm[0])], s[size_t(perm[1])], s[size_t(perm[2])], s[size_t(perm[3])]});
      const std::vector<float> got = y.to_vector<float>();
      bool same = true;
      int64_t k = 0;
      const Shape& ys = y.shape();
      for (int64_t i0 = 0; i0 < ys[0]; ++i0)
        for (int64_t i1 = 0; i1 < ys[1]; ++i1)
          for (int64_t i2 = 0; i2 < ys[2]; ++i2)
            for (int64_t i3 = 0; i3 < ys[3]; ++i3, ++k) {
              int64_t xi[4];
              const int64_t yi[4] = {i0, i1, i2, i3};
              for (int d = 0; d < 4; ++d) xi[perm[size_t(d)]] = yi[d];
              const int64_t flat = ((xi[0] * s[1] + xi[1]) * s[2] + xi[2]) * s[3] + xi[3];
              same = same && got[size_t(k)] == static_cast<float>(flat);
            }
      CHECK(same);
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
  for (int64_t inner : {1, 3, 20})
    for (int64_t axis : {0, 1}) {
      const Shape s = axis == 0 ? Shape{1, 4, inner} : Shape{4, 1, inner};
      Tensor x = arange(0, static_cast<double>(4 * inner)).reshape(s);
      Tensor y = repeat(x, axis, 5);
      std::vector<float> want;
      for (int64_t o = 0; o < (axis == 0 ? 1 : 4); ++o)
        for (int64_t r = 0; r < 5; ++r)
          for (int64_t i = 0; i < (axis == 0 ? 4 * inner : inner); ++i)
            want.push_back(static_cast<float>(o * inner + i));
      INFO("inner " << inner << ", axis " << axis);
      CHECK(y.to_vector<float>() == want);
    }
  Tensor w = tensor({3, -1, 4, 1, -5, 9, 2, 6, 5, 3, -5, 8}, {3, 4});
  check_values(max(w, {1}), {4, 9, 8});
  check_values(min(w, {1}), {-1, -5, -5});
  check_values(sum(w, {1}), {7, 12, 11});
  // long enough to split: 3 x 16K rows of 4
  Tensor big = arange(0, 4 * 49152).reshape({49152, 4});
  std::vector<float> want_max, want_rep;
  for (int64_t o = 0; o < 49152; ++o) {
    want_max.push_back(static_cast<float>(4 * o + 3));
    for (int r = 0; r < 4; ++r) want_rep.push_back(static_cast<float>(4 * o + 3));
  }
  CHECK(max(big, {1}).to_vector<float>() == want_max);
  CHECK(repeat(max(big, {1}, true), 1, 4).to_vector<float>() == want_rep);
  set_num_threads(before);
}

TEST_CASE("losses against hand-computed values") {
  Tensor logits = tensor({1, 2, 3, 1, 1, 1}, {2, 3}, DType::float64);
  Tensor labels = from_vector(std::vector<int64_t>{2, 0}, {2});
  double l0 = -std::log(0.6652409557748219), l1 = std::log(3.0);
  CHECK(softmax_cross_entropy(logits, labels).item<double>() == doctest::Approx((l0 + l1) / 2));
  CHECK(softmax_cross_entropy(logits, labels, Reduction::sum).item<double>() == doctest::Approx(l0 + l1));
  Tensor onehot = one_hot(labels, 3, DType::float64);
  CHECK(softmax_cross_entropy(logits, onehot).item<double>() == doctest::Approx((l0 + l1) / 2));
  CHECK(nll(log_softmax(logits, 1), labels).item<double>() == doctest::Approx((l0 + l1) / 2));
  Tensor p = tensor({0.5, 2}, {2}, DType::float64), t = tensor({1, 0}, {2}, DType::float64);
  CHECK(mse(p, t).item<double>() == doctest::Approx((0.25 + 4) / 2));
  Tensor q = tensor({0.9, 0.2}, {2}, DType::float64);
  CHECK(bce(q, t).item<double>() == doctest::Approx(-(std::log(0.9) + std::log(0.8)) / 2));
  Tensor z = tensor({2, -1}, {2}, DType::float64);
  double s0 = 1 / (1 + std::exp(-2.0)), s1 = 1 / (1 + std::exp(1.0));
  CHECK(bce_with_logits(z, t).item<double>() == doctest::Approx(-(std::log(s0) + std::log(1 - s1)) / 2));
}

TEST_CASE("softmax with loss: the backward is (y - t) / N") {
  Tensor logits = tensor({1, 2, 3, 1, 1, 1}, {2, 3}, DType::float64).requires_grad_();
  Tensor labels = from_vector(std::vector<int64_t>{2, 0}, {2});
  softmax_cross_entropy(logits, labels).backward();
  NoGradGuard g;
  Tensor expected = (softmax(logits.detach(), 1) - one_hot(labels, 3, DType::float64)) / 2.0;
  check_values(logits.grad(), expected.to_vector<double>());
}

TEST_CASE("cast is explicit and recorded; its gradient comes back in the input's dtype") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = cast(x, DType::float64);
  CHECK(y.dtype() == DType::float64);
  CHECK(count_nodes(Op::cast) == 1);
  sum(y * y).backward();
  CHECK(x.grad().dtype() == DType::float32);
  check_values(x.grad(), {2, 4});
}

TEST_CASE("every op runs in float32 and agrees with float64") {
  for (const OpInfo& op : all_ops()) {
    INFO("op " << op.name);
    REQUIRE(static_cast<bool>(op.sample));
    Generator g64(1), g32(1);
    auto c64 = op_check_inputs(op, DType::float64, g64);
    auto c32 = op_check_inputs(op, DType::float32, g32);
    for (size_t c = 0; c < c64.size(); ++c) {
      Tensor y64 = op.sample(c64[c]);
      Tensor y32 = op.sample(c32[c]);
      REQUIRE(y64.shape() == y32.shape());
      if (y64.dtype() == DType::int64) {
        CHECK(y64.to_vector<int64_t>() == y32.to_vector<int64_t>());
        continue;
      }
      for (int64_t i = 0; i < y64.numel(); ++i)
        CHECK(y32.value_at(i) == doctest::Approx(y64.value_at(i)).epsilon(1e-4).scale(1.0));
    }
  }
}

TEST_CASE("sum and mean of float32 accumulate in double: one rounding, at the end") {
  // Note [float32 sums in double]: adding in float32 drifts by many ulps over long rows
  Generator gen(21);
  for (int64_t n : {int64_t{10}, int64_t{1000}, int64_t{1} << 20}) {
    Tensor x = rand({n}, gen, DType::float32, 0.0, 1.0);
    const std::vector<float> v = x.to_vector<float>();
    double exact = 0;
    for (float f : v) exact += f;
    INFO("n = " << n);
    CHECK(sum(x).value_at(0) == static_cast<double>(static_cast<float>(exact)));
    CHECK(mean(x).value_at(0) == static_cast<double>(static_cast<float>(exact / static_cast<double>(n))));
  }
  // the same along an axis (rows of a matrix, and columns)
  Tensor m = rand({3, 100000}, gen, DType::float32, -1.0, 1.0);
  const std::vector<float> v = m.to_vector<float>();
  Tensor rows = sum(m, {1});
  Tensor cols = mean(reshape(m, {100000, 3}), {0});
  for (int r = 0; r < 3; ++r) {
    double exact = 0, col = 0;
    for (int k = 0; k < 100000; ++k) exact += v[static_cast<size_t>(r * 100000 + k)];
    for (int k = 0; k < 100000; ++k) col += v[static_cast<size_t>(k * 3 + r)];
    CHECK(rows.value_at(r) == static_cast<double>(static_cast<float>(exact)));
    CHECK(cols.value_at(r) == static_cast<double>(static_cast<float>(col / 100000.0)));
  }
}

// ---- sin, cos, erf, gelu, silu, minimum, logsumexp, argmin, stack, split, chunk, tile, flip, pad,
// gather, scatter_add (values as torch gives them) ----

TEST_CASE("sin, cos, erf, gelu (exact, erf form) and silu: values and derivatives") {
  Tensor x = tensor({-1, 0, 0.5, 2}, {4}, DType::float64);
  check_values(sin(x), {-0.8414709848, 0, 0.4794255386, 0.9092974268});
  check_values(cos(x), {0.5403023059, 1, 0.8775825619, -0.4161468365});
  check_values(erf(x), {-0.8427007929, 0, 0.5204998778, 0.9953222650});
  check_values(gelu(x), {-0.1586552539, 0, 0.3457312306, 1.9544997361});
  check_values(silu(x), {-0.2689414214, 0, 0.3112296656, 1.7615941560});
  check_values(gelu(cast(x, DType::float32)), {-0.1586552539, 0, 0.3457312306, 1.9544997361}, 1e-5);
  // gelu'(1) = Φ(1) + φ(1); silu'(1) = s (1 + 1 - s), s = sigmoid(1); erf'(0) = 2/√π; sin'(0) = 1; cos'(0.5) = -sin(0.5)
  Tensor one = tensor({1}, {1}, DType::float64).requires_grad_();
  gelu(one).backward(ones_like(one));
  check_values(one.grad(), {1.0833154706});
  Tensor one2 = tensor({1}, {1}, DType::float64).requires_grad_();
  silu(one2).backward(ones_like(one2));
  check_values(one2.grad(), {0.9276705118});
  Tensor z = tensor({0, 0.5}, {2}, DType::float64).requires_grad_();
  (erf(z) + sin(z) + cos(z)).backward(ones_like(z));
  check_values(z.grad(), {1.1283791671 + 1.0 - 0.0, 0.8787825789 + 0.8775825619 - 0.4794255386});
}

TEST_CASE("minimum: elementwise, broadcasting; a tie splits the gradient in halves") {
  Tensor a = tensor({1, 5, 3}, {3}, DType::float64).requires_grad_();
  Tensor b = tensor({2, 4, 3}, {3}, DType::float64).requires_grad_();
  Tensor y = minimum(a, b);
  check_values(y, {1, 4, 3});
  y.backward(ones_like(y));
  check_values(a.grad(), {1, 0, 0.5});
  check_values(b.grad(), {0, 1, 0.5});
  Tensor m = minimum(tensor({0, 10}, {2, 1}), tensor({1, 5, 20}, {3}));
  CHECK(m.shape() == Shape{2, 3});
  check_values(m, {0, 0, 0, 1, 5, 10});
}

TEST_CASE("logsumexp: stable for large values, keepdims, and its gradient is softmax") {
  Tensor x = tensor({1, 2, 3, 1000, 1000, 1000}, {2, 3}, DType::float64).requires_grad_();
  Tensor y = logsumexp(x, {1});
  CHECK(y.shape() == Shape{2});
  check_values(y, {3.4076059644, 1001.0986122887});
  y.backward(tensor({1, 2}, {2}, DType::float64));
  check_values(x.grad(), {0.0900305732, 0.2447284711, 0.6652409558, 2.0 / 3, 2.0 / 3, 2.0 / 3});
  Tensor all = logsumexp(tensor({0, 0, 0, 0}, {2, 2}, DType::float64), {}, true);
  CHECK(all.shape() == Shape{1, 1});
  check_values(all, {1.3862943611});  // log 4
  CHECK(logsumexp(tensor({1, 2}, {2})).shape() == Shape{});
  const double inf = std::numeric_limits<double>::infinity();
  Tensor special = logsumexp(tensor({-inf, -inf, inf, 1, 0, 0}, {3, 2}, DType::float64), {1});
  CHECK(special.value_at(0) == -inf);  // torch: an all -inf row gives -inf, a row with +inf gives +inf
  CHECK(special.value_at(1) == inf);
  CHECK(special.value_at(2) == doctest::Approx(0.6931471806));
  CHECK(error_of([] { logsumexp(ones({2, 3}), {2}); }).find("[logsumexp]") == 0);
}

TEST_CASE("argmin: the first smallest value along an axis") {
  Tensor x = tensor({3, 1, 2, 0, 5, 0}, {2, 3}, DType::float64);
  Tensor r = argmin(x, 1);
  CHECK(r.dtype() == DType::int64);
  CHECK(r.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(argmin(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(argmin(x, 0, true).shape() == Shape{1, 3});
  CHECK(error_of([&] { argmin(x, 2); }).find("[argmin]") == 0);
}

TEST_CASE("stack joins equal shapes along a new axis") {
  Tensor a = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor b = tensor({3, 4}, {2}, DType::float64).requires_grad_();
  Tensor s0 = stack({a, b});
  CHECK(s0.shape() == Shape{2, 2});
  check_values(s0, {1, 2, 3, 4});
  Tensor s1 = stack({a, b}, -1);
  CHECK(s1.shape() == Shape{2, 2});
  check_values(s1, {1, 3, 2, 4});
  s1.backward(tensor({1, 2, 3, 4}, {2, 2}, DType::float64));
  check_values(a.grad(), {1, 3});
  check_values(b.grad(), {2, 4});
  CHECK(error_of([] { stack({ones({2}), ones({3})}); }) ==
        "[stack] tensor 1 has shape (3,), but tensor 0 has shape (2,); stack needs equal shapes");
  CHECK(error_of([] { stack({ones({2}), ones({2})}, 2); }).find("[stack]") == 0);
  CHECK(error_of([] { stack(std::span<const Tensor>{}); }).find("[stack] needs at least one tensor") == 0);
}

TEST_CASE("split by sizes or by a piece size, and chunk") {
  Tensor x = arange(0, 10, 1, DType::float64).reshape({5, 2});
  auto p = split(x, std::vector<int64_t>{2, 3});
  REQUIRE(p.size() == 2);
  CHECK(p[0].shape() == Shape{2, 2});
  CHECK(p[1].shape() == Shape{3, 2});
  check_values(p[1], {4, 5, 6, 7, 8, 9});
  auto q = split(x, 2);
  REQUIRE(q.size() == 3);
  CHECK(q[2].shape() == Shape{1, 2});
  check_values(q[2], {8, 9});
  auto c = chunk(arange(0, 6, 1, DType::float64), 4);  // torch: pieces of ceil(6/4) = 2
  REQUIRE(c.size() == 3);
  check_values(c[1], {2, 3});
  auto cols = split(x, 1, 1);
  REQUIRE(cols.size() == 2);
  check_values(cols[1], {1, 3, 5, 7, 9});
  CHECK(error_of([&] { split(x, std::vector<int64_t>{2, 2}); }) ==
        "[split] sizes (2, 2) sum to 4, but axis 0 of shape (5, 2) has size 5");
  CHECK(error_of([&] { split(x, 0); }).find("[split] needs a piece size > 0") == 0);
  CHECK(error_of([&] { chunk(x, 0); }).find("[chunk] needs a number of chunks > 0") == 0);
  CHECK(error_of([&] { split(x, 2, 3); }).find("[split]") == 0);
}

TEST_CASE("tile repeats the whole tensor along each axis (torch.tile)") {
  Tensor v = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor t = tile(v, {2, 2});
  CHECK(t.shape() == Shape{2, 4});
  check_values(t, {1, 2, 1, 2, 1, 2, 1, 2});
  t.backward(ones_like(t));
  check_values(v.grad(), {4, 4});
  Tensor m = tile(tensor({1, 2, 3, 4}, {2, 2}, DType::float64), {2});  // reps padded in front: {1, 2}
  CHECK(m.shape() == Shape{2, 4});
  check_values(m, {1, 2, 1, 2, 3, 4, 3, 4});
  CHECK(tile(v, {3, 1, 0}).shape() == Shape{3, 1, 0});
  CHECK(error_of([&] { tile(v, {-1}); }).find("[tile] needs repetitions >= 0") == 0);
}

TEST_CASE("flip reverses the chosen axes") {
  Tensor x = arange(0, 6, 1, DType::float64).reshape({2, 3});
  check_values(flip(x, {1}), {2, 1, 0, 5, 4, 3});
  check_values(flip(x, {0, -1}), {5, 4, 3, 2, 1, 0});
  check_values(flip(x, {0}), {3, 4, 5, 0, 1, 2});
  CHECK(error_of([&] { flip(x, {1, -1}); }) == "[flip] axis 1 listed twice in (1, -1) for shape (2, 3)");
  CHECK(error_of([&] { flip(x, {2}); }).find("[flip]") == 0);
}

TEST_CASE("pad: constant padding, last axis first (torch.nn.functional.pad); negative pads crop") {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2}, DType::float64).requires_grad_();
  Tensor y = pad(x, {1, 0});
  CHECK(y.shape() == Shape{2, 3});
  check_values(y, {0, 1, 2, 0, 3, 4});
  Tensor z = pad(x, {0, 1, 1, 0}, 9.0);
  CHECK(z.shape() == Shape{3, 3});
  check_values(z, {9, 9, 9, 1, 2, 9, 3, 4, 9});
  check_values(pad(x, {-1, 0}), {2, 4});
  z.backward(tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}, DType::float64));
  check_values(x.grad(), {4, 5, 7, 8});
  CHECK(error_of([&] { pad(x, {1, 1, 1, 1, 1, 1}); }) == "[pad] got 6 pads (1, 1, 1, 1, 1, 1) for shape (2, 2): at most 2 per axis (4)");
  CHECK(error_of([&] { pad(x, {1}); }).find("[pad] needs pairs (left, right) of pads") == 0);
  CHECK(error_of([&] { pad(x, {-2, -1}); }).find("[pad] pads -2 and -1 of axis 1 leave a negative size") == 0);
}

TEST_CASE("gather and scatter_add along an axis (torch semantics), with their gradients") {
  Tensor t = tensor({1, 2, 3, 4}, {2, 2}, DType::float64).requires_grad_();
  Tensor idx = tensor({0, 0, 1, 0}, {2, 2}, DType::int64);
  Tensor g = gather(t, 1, idx);
  check_values(g, {1, 1, 4, 3});
  g.backward(ones_like(g));
  check_values(t.grad(), {2, 0, 1, 1});
  check_values(gather(t, 0, tensor({1, 0}, {1, 2}, DType::int64)), {3, 2});
  CHECK(gather(arange(0, 4, 1, DType::int64).reshape({2, 2}), 0, tensor({1, 1}, {1, 2}, DType::int64))
            .to_vector<int64_t>() == std::vector<int64_t>{2, 3});

  Tensor x = zeros({3, 5}, DType::float64).requires_grad_();
  Tensor src = tensor({1, 2, 3, 4, 5}, {1, 5}, DType::float64).requires_grad_();
  Tensor index = tensor({0, 1, 2, 0, 0}, {1, 5}, DType::int64);
  Tensor y = scatter_add(x, 0, index, src);
  check_values(y, {1, 0, 0, 4, 5, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0});
  Tensor w = arange(0, 15, 1, DType::float64).reshape({3, 5});
  y.backward(w);
  check_values(x.grad(), std::vector<double>(w.to_vector<double>()));
  check_values(src.grad(), {0, 6, 12, 3, 4});  // w gathered at the indices
  // repeated indices add up
  check_values(scatter_add(zeros({3}, DType::float64), 0, tensor({2, 2, 0}, {3}, DType::int64),
                           tensor({1, 2, 3}, {3}, DType::float64)),
               {3, 0, 3});

  CHECK(error_of([&] { gather(t, 1, tensor({0, 2}, {1, 2}, DType::int64)); }) ==
        "[gather] index 2 at position 1 is out of range [0, 2) of axis 1 of x's shape (2, 2)");
  CHECK(error_of([&] { gather(t, 0, tensor({0, 1}, {2}, DType::int64)); }) ==
        "[gather] needs an index of x's rank: x has shape (2, 2), index (2,)");
  CHECK(error_of([&] { gather(t, 0, tensor({0, 1, 0}, {1, 3}, DType::int64)); }).find("[gather] index of shape (1, 3) is larger than x") == 0);
  CHECK(error_of([&] { gather(t, 0, tensor({0, 1}, {1, 2})); }).find("[gather] needs int64 indices") == 0);
  CHECK(error_of([&] { scatter_add(zeros({3}, DType::float64), 0, tensor({-1}, {1}, DType::int64), tensor({1}, {1}, DType::float64)); })
            .find("[scatter_add] index -1 at position 0 is out of range [0, 3)") == 0);
  CHECK(error_of([&] { scatter_add(zeros({3, 5}, DType::float64), 0, index, ones({2, 5}, DType::float64)); }) ==
        "[scatter_add] needs src of the index's shape: index (1, 5), src (2, 5) (x (3, 5))");
}


}  // TEST_SUITE
