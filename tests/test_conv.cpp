// Convolution and pooling the book's way (autograd/ops/conv.cpp): im2col and
// col2im against hand-made examples and each other, conv2d and the pools
// against direct nested loops, their errors, the traced graph, and the nn
// layers training a tiny net.
#include <algorithm>
#include <limits>

#include "helpers.hpp"
#include "nn/nn.hpp"

using namespace ag;

namespace {

// A tensor's values as doubles, whatever its floating dtype.
std::vector<double> values(const Tensor& t) {
  return t.dtype() == DType::float64 ? t.to_vector<double>() : cast(t, DType::float64).to_vector<double>();
}

int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// A direct convolution: y[n, f, oy, ox] = b[f] + Σ_{c in f's group, i, j} x[n, c, y, x] w[f, c', i, j].
std::vector<double> conv_loops(const Tensor& xt, const Tensor& wt, const Tensor& bt, Size2 s, Size2 p, Size2 d,
                               int64_t groups) {
  const auto x = values(xt), w = values(wt);
  const Shape xs = xt.shape(), ws = wt.shape();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], F = ws[0], Cg = ws[1], KH = ws[2], KW = ws[3];
  const int64_t OH = out_len(H, KH, s.h, p.h, d.h), OW = out_len(W, KW, s.w, p.w, d.w), Fg = F / groups;
  std::vector<double> b = bt.defined() ? values(bt) : std::vector<double>(static_cast<size_t>(F), 0.0);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = b[static_cast<size_t>(f)];
          for (int64_t cc = 0; cc < Cg; ++cc) {
            const int64_t c = (f / Fg) * Cg + cc;
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t yy = oy * s.h - p.h + i * d.h, xx = ox * s.w - p.w + j * d.w;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += x[static_cast<size_t>(((n * C + c) * H + yy) * W + xx)] *
                       w[static_cast<size_t>(((f * Cg + cc) * KH + i) * KW + j)];
              }
          }
          y.push_back(acc);
        }
  (void)C;
  return y;
}

// A direct pool: the max (or the mean, padding counted as zeros) of each window.
std::vector<double> pool_loops(const Tensor& xt, Size2 k, Size2 s, Size2 p, bool is_max) {
  const auto x = values(xt);
  const Shape xs = xt.shape();
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t OH = out_len(H, k.h, s.h, p.h, 1), OW = out_len(W, k.w, s.w, p.w, 1);
  std::vector<double> y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t i = 0; i < k.h; ++i)
          for (int64_t j = 0; j < k.w; ++j) {
            const int64_t yy = oy * s.h - p.h + i, xx = ox * s.w - p.w + j;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            const double v = x[static_cast<size_t>((nc * H + yy) * W + xx)];
            acc = is_max ? std::max(acc, v) : acc + v;
          }
        y.push_back(is_max ? acc : acc / static_cast<double>(k.h * k.w));
      }
  return y;
}

double dot(const Tensor& a, const Tensor& b) { return sum(a * b).item<double>(); }

}  // namespace

TEST_SUITE("conv") {

TEST_CASE("im2col: the book's shapes") {
  Generator gen(1);
  CHECK(im2col(randn({1, 3, 7, 7}, gen), 5).shape() == Shape{9, 75});
  CHECK(im2col(randn({10, 3, 7, 7}, gen), 5).shape() == Shape{90, 75});
  CHECK(im2col(randn({2, 3, 7, 7}, gen), 3, 2, 1).shape() == Shape{2 * 4 * 4, 27});
}

TEST_CASE("im2col: each row is one window, channel-major; padding reads the pad value") {
  Tensor x = arange(1, 10, 1, DType::float64).reshape({1, 1, 3, 3});
  check_values(im2col(x, 2), {1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9});
  Tensor p = im2col(x, 2, 2, 1, 1, -7.0);  // windows at (-1, -1), (-1, 1), (1, -1), (1, 1)
  CHECK(p.shape() == Shape{4, 4});
  check_values(p, {-7, -7, -7, 1, -7, -7, 2, 3, -7, 4, -7, 7, 5, 6, 8, 9});
  Tensor two = concat({x, x * 10.0}, 1);  // two channels: the second's cells follow the first's
  check_values(slice(im2col(two, 2), 0, 0, 1), {1, 2, 4, 5, 10, 20, 40, 50});
  Tensor dil = im2col(x, 2, 1, 0, 2);  // a 2x2 kernel dilated 2 spans the whole 3x3
  check_values(dil, {1, 3, 7, 9});
}

TEST_CASE("col2im is im2col's adjoint and sums overlaps") {
  Generator gen(2);
  struct G {
    Shape x;
    Size2 k, s, p, d;
  };
  for (const G& g : {G{{2, 3, 6, 5}, 3, 1, 0, 1}, G{{1, 2, 7, 6}, {3, 2}, {2, 1}, {1, 2}, {1, 2}},
                     G{{2, 1, 5, 5}, 2, 2, 1, 1}}) {
    Tensor x = randn(g.x, gen, DType::float64);
    Tensor col = im2col(x, g.k, g.s, g.p, g.d);
    Tensor c = randn(col.shape(), gen, DType::float64);
    const Tensor back = col2im(c, g.x, g.k, g.s, g.p, g.d);
    CHECK(back.shape() == g.x);
    CHECK(dot(col, c) == doctest::Approx(dot(x, back)).epsilon(1e-12));
  }
  // every pixel of a 3x3 image under 2x2 windows, stride 1: corners once, edges twice, the centre 4 times
  Tensor ones = full({4, 4}, 1.0, DType::float64);
  check_values(col2im(ones, {1, 1, 3, 3}, 2), {1, 2, 1, 2, 4, 2, 1, 2, 1});
}

TEST_CASE("conv2d against a direct convolution") {
  Generator gen(3);
  struct C {
    Shape x, w;
    Size2 s, p, d;
    int64_t groups;
    bool bias;
  };
  for (const C& c : {C{{1, 3, 7, 7}, {2, 3, 5, 5}, 1, 0, 1, 1, true},
                     C{{2, 3, 8, 7}, {4, 3, 3, 3}, 2, 1, 1, 1, true},
                     C{{2, 2, 9, 8}, {3, 2, 3, 2}, {1, 2}, {2, 0}, {2, 1}, 1, false},
                     C{{1, 4, 6, 6}, {6, 2, 3, 3}, 1, 1, 1, 2, true},
                     C{{2, 6, 5, 7}, {3, 2, 2, 3}, {2, 1}, {1, 1}, {1, 2}, 3, false},
                     C{{1, 4, 5, 5}, {4, 1, 3, 3}, 1, 1, 1, 4, true}}) {
    INFO("x " << fmt::format("{}", c.x) << " w " << fmt::format("{}", c.w) << " groups " << c.groups);
    Tensor x = randn(c.x, gen, DType::float64), w = randn(c.w, gen, DType::float64);
    Tensor b = c.bias ? randn({c.w[0]}, gen, DType::float64) : Tensor();
    Tensor y = conv2d(x, w, b, c.s, c.p, c.d, c.groups);
    const int64_t OH = out_len(c.x[2], c.w[2], c.s.h, c.p.h, c.d.h), OW = out_len(c.x[3], c.w[3], c.s.w, c.p.w, c.d.w);
    CHECK(y.shape() == Shape{c.x[0], c.w[0], OH, OW});
    check_values(y, conv_loops(x, w, b, c.s, c.p, c.d, c.groups), 1e-10);
  }
  // float32 too
  Tensor x = randn({2, 3, 6, 6}, gen), w = randn({4, 3, 3, 3}, gen), b = randn({4}, gen);
  check_values(conv2d(x, w, b, 1, 1), conv_loops(x, w, b, 1, 1, 1, 1), 1e-4);
}

TEST_CASE("conv2d's gradients match a direct computation of their sums") {
  // d Σ y / d b[f] = N·OH·OW; d Σ y / d w[f, c, i, j] = Σ over windows of the pixel under (i, j)
  Generator gen(4);
  Tensor x = randn({2, 2, 5, 5}, gen, DType::float64).requires_grad_();
  Tensor w = randn({3, 2, 3, 3}, gen, DType::float64).requires_grad_();
  Tensor b = randn({3}, gen, DType::float64).requires_grad_();
  sum(conv2d(x, w, b, 1, 1)).backward();
  check_values(b.grad(), {50, 50, 50});
  // Σ y is linear in w[f, c, i, j] with coefficient the sum of x[n, c] under (i, j) over all windows
  const std::vector<double> xs = x.detach().to_vector<double>();
  std::vector<double> expect;
  for (int64_t f = 0; f < 3; ++f)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          double s = 0;
          for (int64_t n = 0; n < 2; ++n)
            for (int64_t oy = 0; oy < 5; ++oy)
              for (int64_t ox = 0; ox < 5; ++ox) {
                const int64_t yy = oy - 1 + i, xx = ox - 1 + j;
                if (yy >= 0 && yy < 5 && xx >= 0 && xx < 5)
                  s += xs[static_cast<size_t>(((n * 2 + c) * 5 + yy) * 5 + xx)];
              }
          expect.push_back(s);
        }
  check_values(w.grad(), expect, 1e-10);
}

TEST_CASE("max_pool2d and avg_pool2d against direct loops") {
  Generator gen(5);
  struct P {
    Shape x;
    Size2 k, s, p;
  };
  for (const P& c : {P{{2, 3, 4, 4}, 2, 2, 0}, P{{1, 2, 7, 6}, 3, 2, 1}, P{{2, 1, 5, 6}, {3, 2}, {1, 2}, {1, 0}},
                     P{{1, 30, 24, 24}, 2, 2, 0}}) {
    INFO("x " << fmt::format("{}", c.x));
    Tensor x = randn(c.x, gen, DType::float64);
    Tensor m = max_pool2d(x, c.k, c.s, c.p), a = avg_pool2d(x, c.k, c.s, c.p);
    const int64_t OH = out_len(c.x[2], c.k.h, c.s.h, c.p.h, 1), OW = out_len(c.x[3], c.k.w, c.s.w, c.p.w, 1);
    CHECK(m.shape() == Shape{c.x[0], c.x[1], OH, OW});
    CHECK(a.shape() == m.shape());
    check_values(m, pool_loops(x, c.k, c.s, c.p, true), 1e-12);
    check_values(a, pool_loops(x, c.k, c.s, c.p, false), 1e-12);
  }
  // the stride defaults to the kernel
  Tensor x = arange(0, 16, 1, DType::float64).reshape({1, 1, 4, 4});
  check_values(max_pool2d(x, 2), {5, 7, 13, 15});
  check_values(avg_pool2d(x, 2), {2.5, 4.5, 10.5, 12.5});
  // max pooling's gradient goes to each window's max only
  Tensor xg = x.detach().requires_grad_();
  sum(max_pool2d(xg, 2)).backward();
  check_values(xg.grad(), {0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1});
}

TEST_CASE("adaptive_avg_pool2d: the global mean, and equal blocks") {
  Generator gen(6);
  Tensor x = randn({2, 3, 4, 6}, gen, DType::float64);
  Tensor g = adaptive_avg_pool2d(x);
  CHECK(g.shape() == Shape{2, 3, 1, 1});
  check_values(g, mean(x, {2, 3}).to_vector<double>(), 1e-12);
  Tensor b = adaptive_avg_pool2d(x, {2, 3});
  CHECK(b.shape() == Shape{2, 3, 2, 3});
  check_values(b, avg_pool2d(x, 2).to_vector<double>(), 1e-12);
  CHECK(error_of([&] { adaptive_avg_pool2d(x, {3, 3}); }).find("must divide") != std::string::npos);
}

TEST_CASE("bad geometry and shapes throw, naming the op and the shapes") {
  Generator gen(7);
  Tensor x = randn({1, 4, 5, 5}, gen), w = randn({2, 4, 3, 3}, gen);
  auto has = [](const std::string& msg, std::initializer_list<const char*> parts) {
    INFO(msg);
    CHECK(!msg.empty());
    for (const char* p : parts) CHECK(msg.find(p) != std::string::npos);
  };
  has(error_of([&] { conv2d(x, randn({2, 4, 7, 7}, gen)); }),
      {"conv2d", "larger than the padded input", "(1, 4, 5, 5)"});
  CHECK(conv2d(x, randn({2, 4, 7, 7}, gen), {}, 1, 1).shape() == Shape{1, 2, 1, 1});
  has(error_of([&] { conv2d(x, randn({3, 4, 3, 3}, gen), {}, 1, 0, 1, 3); }), {"conv2d", "not divisible by groups 3"});
  has(error_of([&] { conv2d(x, randn({3, 2, 3, 3}, gen), {}, 1, 0, 1, 2); }), {"conv2d", "3 filters"});
  has(error_of([&] { conv2d(randn({4, 5, 5}, gen), w); }), {"conv2d", "(N, C, H, W)", "(4, 5, 5)"});
  has(error_of([&] { conv2d(x, randn({2, 3, 3, 3}, gen)); }), {"conv2d", "(2, 3, 3, 3)", "4 input channels"});
  has(error_of([&] { conv2d(x, randn({2, 4, 3}, gen)); }), {"conv2d", "weight", "(2, 4, 3)"});
  has(error_of([&] { conv2d(x, w, randn({3}, gen)); }), {"conv2d", "bias of shape (3,)", "2 filters"});
  has(error_of([&] { conv2d(x, w, {}, 0); }), {"conv2d", "stride 0x0"});
  has(error_of([&] { conv2d(x, w, {}, 1, 0, {1, 0}); }), {"conv2d", "dilation 1x0"});
  has(error_of([&] { conv2d(x, w, {}, 1, {0, -1}); }), {"conv2d", "padding 0x-1", "negative"});
  has(error_of([&] { conv2d(x, w, {}, 1, 0, 1, 0); }), {"conv2d", "groups"});
  has(error_of([&] { conv2d(x, cast(w, DType::float64)); }), {"conv2d", "dtypes differ"});
  has(error_of([&] { im2col(x, 6); }), {"im2col", "6x6", "(1, 4, 5, 5)"});
  has(error_of([&] { im2col(x, 3, -1); }), {"im2col", "stride"});
  CHECK(col2im(randn({9, 36}, gen), {1, 4, 5, 5}, 3).shape() == Shape{1, 4, 5, 5});
  has(error_of([&] { col2im(randn({9, 35}, gen), {1, 4, 5, 5}, 3); }), {"col2im", "(9, 35)", "expected (9, 36)"});
  has(error_of([&] { max_pool2d(x, 6); }), {"max_pool2d", "larger than the padded input"});
  has(error_of([&] { max_pool2d(x, 2, 2, 2); }), {"max_pool2d", "more than half the kernel"});
  has(error_of([&] { avg_pool2d(randn({5, 5}, gen), 2); }), {"avg_pool2d", "(N, C, H, W)"});
  has(error_of([&] { avg_pool2d(x, 2, Size2{0}); }), {"avg_pool2d", "stride 0x0"});
  has(error_of([&] { adaptive_avg_pool2d(x, 0); }), {"adaptive_avg_pool2d", "0x0"});
}

TEST_CASE("a traced conv2d shows the unfolding: an im2col node, then the product") {
  Generator gen(8);
  Tensor x = randn({1, 1, 5, 5}, gen).requires_grad_();
  Tensor w = randn({2, 1, 3, 3}, gen).requires_grad_(), b = randn({2}, gen).requires_grad_();
  Trace trace;
  Tensor y = conv2d(x, w, b);
  sum(max_pool2d(relu(y), 2)).backward();
  std::vector<Op> ops;
  for (const auto& st : trace.steps()) ops.push_back(st.op);
  const auto at = [&](Op op) { return std::find(ops.begin(), ops.end(), op) - ops.begin(); };
  REQUIRE(at(Op::im2col) < static_cast<long>(ops.size()));
  CHECK(at(Op::im2col) < at(Op::affine));
  CHECK(std::count(ops.begin(), ops.end(), Op::im2col) == 2);  // the conv's and the pool's
  CHECK(std::count(ops.begin(), ops.end(), Op::max) == 1);
  CHECK(std::count(ops.begin(), ops.end(), Op::conv2d) == 0);  // a composite records its parts only
  const std::string dot = to_dot(trace);
  CHECK(dot.find("im2col") != std::string::npos);
  // the geometry {KH, KW, SH, SW, PH, PW, DH, DW} in the dump
  CHECK(dot.find("(3, 3, 1, 1, 0, 0, 1, 1)") != std::string::npos);
  // backward ran through col2im's adjoint: x got a gradient of its shape
  CHECK(x.grad().shape() == x.shape());
}

TEST_CASE("nn: a tiny conv net trains (one Adam step lowers the loss)") {
  Generator gen(9);
  nn::Sequential net;
  net.add(std::make_shared<nn::Conv2d>(1, 4, 3, gen, 1, 1))
      .add(nn::ReLU())
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Conv2d>(4, 4, 3, gen, 1, 1, 1, 2))
      .add(std::make_shared<nn::AvgPool2d>(2))
      .add(std::make_shared<nn::AdaptiveAvgPool2d>(1))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(4, 3, gen));
  CHECK(net.num_parameters() == (4 * 9 + 4) + (4 * 2 * 9 + 4) + (4 * 3 + 3));
  Tensor x = randn({6, 1, 8, 8}, gen);
  Tensor t = from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
  nn::Adam opt(net.parameters(), 0.05);
  auto loss_now = [&] { return softmax_cross_entropy(net.forward(x), t); };
  Tensor before = loss_now();
  CHECK(net.forward(x).shape() == Shape{6, 3});
  opt.zero_grad();
  before.backward();
  opt.step();
  const double after = loss_now().item<float>();
  CHECK(after < before.item<float>());
  // Flatten keeps the batch axis; Conv2d's weight has the torch layout
  CHECK(nn::Flatten().forward(randn({2, 3, 4, 5}, gen)).shape() == Shape{2, 60});
  CHECK(nn::Conv2d(6, 8, {3, 2}, gen, 1, 0, 1, 2).weight.shape() == Shape{8, 3, 3, 2});
  CHECK(error_of([&] { nn::Conv2d(6, 8, 3, gen, 1, 0, 1, 4); }).find("Conv2d") != std::string::npos);
}

}  // TEST_SUITE
