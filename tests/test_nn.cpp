// Modules, layers, initialisers, optimisers (against hand-computed steps) and schedules.
#include <limits>
#include <tuple>

#include "autograd/check_doctest.hpp"
#include "helpers.hpp"
#include "nn/nn.hpp"

using namespace ag;
using nn::LossScaler;
using nn::LossScalerOptions;
using nn::SGD;

TEST_SUITE("nn") {

TEST_CASE("Linear: shapes, PyTorch's default init bounds, named parameters") {
  Generator gen(0);
  nn::Linear fc(16, 4, gen);
  CHECK(fc.weight.shape() == Shape{16, 4});
  CHECK(fc.bias.shape() == Shape{4});
  CHECK(fc.num_parameters() == 68);
  CHECK(max(abs(fc.weight)).item<float>() <= 0.25f);
  CHECK(fc.weight.requires_grad());
  Tensor y = fc(ones({3, 16}));
  CHECK(y.shape() == Shape{3, 4});
  auto names = fc.named_parameters();
  REQUIRE(names.size() == 2);
  CHECK(names[0].first == "weight");
  CHECK(names[1].first == "bias");
  CHECK(error_of([&] { fc(ones({3, 5})); }).find("[Linear] expects inputs with 16 features") == 0);
}

TEST_CASE("Sequential: dotted names, parameter count, scopes for graph dumps") {
  Generator gen(1);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(4, 8, gen)).add(nn::ReLU()).add(std::make_shared<nn::Linear>(8, 2, gen));
  auto names = net.named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "0.weight");
  CHECK(names[3].first == "2.bias");
  CHECK(net.num_parameters() == 4 * 8 + 8 + 8 * 2 + 2);
  Trace trace;
  Tensor y = net(ones({1, 4}));
  CHECK(y.shape() == Shape{1, 2});
  CHECK(trace.steps().front().scope == "Sequential/Linear0");
  CHECK(trace.steps().back().scope == "Sequential/Linear2");
}

TEST_CASE("train and eval mode reach children; Dropout is the identity in eval mode") {
  nn::Sequential net;
  auto drop = std::make_shared<nn::Dropout>(0.5, 3);
  net.add(drop);
  Tensor x = ones({1000});
  Tensor y = net(x);
  double kept = sum(heaviside(y)).item<float>();
  CHECK(kept > 400);
  CHECK(kept < 600);
  CHECK(max(y).item<float>() == doctest::Approx(2.0));  // 1 / (1 - p)
  net.eval();
  CHECK_FALSE(drop->is_training());
  check_values(net(tensor({1, 2, 3})), {1, 2, 3});
}

TEST_CASE("PReLU: learnable slope, gradient-checked") {
  nn::PReLU act(1, 0.25, DType::float64);
  check_values(act(tensor({-2, 3}, {2}, DType::float64)), {-0.5, 3});
  TensorFn f = [](std::span<const Tensor> x) { return nn::prelu(x[0], x[1]); };
  Tensor in[2] = {tensor({-2, -0.5, 0.7, 3}, {4}, DType::float64), tensor({0.3}, {1}, DType::float64)};
  CHECK_GRADIENTS(f, in);
}

TEST_CASE("initialisers: the spreads they promise") {
  Generator gen(2);
  Tensor w = zeros({400, 300});
  nn::init::normal_(w, gen, 0.01);
  auto stddev = [](const Tensor& t) {
    Tensor d = cast(t, DType::float64);
    return std::sqrt(mean(d * d).item<double>() - std::pow(mean(d).item<double>(), 2));
  };
  CHECK(stddev(w) == doctest::Approx(0.01).epsilon(0.02));
  nn::init::xavier_normal_(w, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 700)).epsilon(0.02));
  nn::init::he_normal_(w, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
  nn::init::xavier_uniform_(w, gen);
  CHECK(max(abs(w)).item<float>() <= std::sqrt(6.0 / 700) + 1e-6);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 700)).epsilon(0.02));
  nn::init::he_uniform_(w, gen);
  CHECK(stddev(w) == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
  nn::init::constant_(w, 0.5);
  CHECK(min(w).item<float>() == 0.5f);
}

// One parameter p = 1 with gradient g = 0.5 each step, compared with hand-computed updates.
struct OneParam {
  Tensor p = tensor({1.0}, {1}, DType::float64).requires_grad_();
  void grad(double g) {
    p.zero_grad();
    p.set_grad(tensor({g}, {1}, DType::float64));
  }
  double value() const { return p.item<double>(); }
};

TEST_CASE("SGD, Momentum and Nesterov against hand-computed steps") {
  OneParam a;
  nn::SGD sgd({a.p}, 0.1);
  a.grad(0.5);
  sgd.step();
  CHECK(a.value() == doctest::Approx(0.95));
  OneParam b;
  nn::SGD mom({b.p}, 0.1, 0.9);
  b.grad(0.5);
  mom.step();  // v = 0.5, p = 1 - 0.05
  b.grad(0.5);
  mom.step();  // v = 0.95, p = 0.95 - 0.095
  CHECK(b.value() == doctest::Approx(0.855));
  OneParam c;
  nn::SGD nes({c.p}, 0.1, 0.9, true);
  c.grad(0.5);
  nes.step();  // v = 0.5, p = 1 - 0.1 (0.5 + 0.45)
  CHECK(c.value() == doctest::Approx(0.905));
  OneParam d;
  nn::SGD wd({d.p}, 0.1, 0.0, false, 0.1);
  d.grad(0.5);
  wd.step();  // p = 1 - 0.1 (0.5 + 0.1)
  CHECK(d.value() == doctest::Approx(0.94));
}

TEST_CASE("an optimiser given a parameter that is no longer a leaf names it and says to update in place") {
  Tensor W = ones({2, 2}).requires_grad_().set_name("W");
  sum(W * W).backward();
  W = W - 0.1 * W.grad();  // recorded: the pitfall of docs/autograd.md, "Updating parameters"
  std::string msg = error_of([&] { nn::SGD sgd({W}, 0.1); });
  CHECK(msg.find("[SGD] parameter 0 (2, 2) is not a leaf") == 0);
  CHECK(msg.find("NoGradGuard") != std::string::npos);
  Tensor b = zeros({2}).requires_grad_().set_name("b");
  Tensor b2 = b * 1.0;
  b2.set_name("b");
  CHECK(error_of([&] { nn::Adam adam({W.detach().requires_grad_(), b2}, 0.1); })
            .find("[Adam] parameter 1 'b' (2,) is not a leaf") == 0);
}

TEST_CASE("AdaGrad and RMSProp against hand-computed steps") {
  OneParam a;
  nn::AdaGrad ada({a.p}, 0.1);
  a.grad(0.5);
  ada.step();  // h = 0.25, p = 1 - 0.1 * 0.5 / 0.5
  CHECK(a.value() == doctest::Approx(0.9));
  a.grad(0.5);
  ada.step();  // h = 0.5, p = 0.9 - 0.05 / sqrt(0.5)
  CHECK(a.value() == doctest::Approx(0.9 - 0.05 / std::sqrt(0.5)));
  OneParam r;
  nn::RMSProp rms({r.p}, 0.01, 0.9);
  r.grad(0.5);
  rms.step();  // s = 0.025, p = 1 - 0.01 * 0.5 / sqrt(0.025)
  CHECK(r.value() == doctest::Approx(1 - 0.005 / std::sqrt(0.025)));
}

TEST_CASE("Adam and AdamW against hand-computed steps") {
  OneParam a;
  nn::Adam adam({a.p}, 0.1);
  a.grad(0.5);
  adam.step();  // bias-corrected m^ = 0.5, v^ = 0.25: p = 1 - 0.1
  CHECK(a.value() == doctest::Approx(0.9).epsilon(1e-6));
  a.grad(-0.5);
  adam.step();
  // m = 0.9*0.05 - 0.05 = -0.005, m^ = -0.005/0.19; v = 0.999*0.00025 + 0.00025 = 0.00049975, v^ = v/0.001999
  double mhat = -0.005 / 0.19, vhat = 0.00049975 / (1 - 0.999 * 0.999);
  CHECK(a.value() == doctest::Approx(0.9 - 0.1 * mhat / (std::sqrt(vhat) + 1e-8)).epsilon(1e-7));
  OneParam w;
  nn::AdamW adamw({w.p}, 0.1, 0.9, 0.999, 1e-8, 0.5);
  w.grad(0.5);
  adamw.step();  // p = 1 - 0.1*0.5*1 (decay) - 0.1
  CHECK(w.value() == doctest::Approx(0.85).epsilon(1e-6));
}

TEST_CASE("optimiser state round-trips: a restored optimiser continues identically") {
  Generator gen(4);
  Tensor x = randn({8, 3}, gen), t = randint({8}, 0, 2, gen);
  auto run = [&](nn::Linear& fc, nn::Adam& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      softmax_cross_entropy(fc(x), t).backward();
      opt.step();
    }
  };
  Generator g1(9), g2(9);
  nn::Linear a(3, 2, g1), b(3, 2, g2);
  nn::Adam oa(a.parameters(), 0.05), ob(b.parameters(), 0.05);
  run(a, oa, 3);
  run(b, ob, 3);
  nn::Adam oc(b.parameters(), 0.05);
  oc.load_state(ob.state());
  CHECK(oc.steps() == 3);
  run(a, oa, 2);
  run(b, oc, 2);
  CHECK(a.weight.to_vector<float>() == b.weight.to_vector<float>());
  CHECK(error_of([&] { oc.load_state({{"7.exp_avg", zeros({3, 2})}}); }).find("[Adam]") == 0);
}

TEST_CASE("gradient clipping by norm and by value") {
  Tensor p = tensor({0, 0}).requires_grad_(), q = tensor({0}).requires_grad_();
  p.set_grad(tensor({3, 0}));
  q.set_grad(tensor({4}));
  CHECK(nn::clip_grad_norm({p, q}, 1.0) == doctest::Approx(5.0));
  check_values(p.grad(), {0.6, 0}, 1e-5);
  check_values(q.grad(), {0.8}, 1e-5);
  q.set_grad(tensor({-4}));
  nn::clip_grad_value({q}, 0.5);
  check_values(q.grad(), {-0.5});
}

TEST_CASE("schedules: step, exponential, cosine and warm-up composed with any of them") {
  nn::StepDecay step(0.1, 10, 0.5);
  CHECK(step.lr(9) == doctest::Approx(0.1));
  CHECK(step.lr(10) == doctest::Approx(0.05));
  CHECK(step.lr(25) == doctest::Approx(0.025));
  nn::ExponentialDecay ex(1.0, 0.9);
  CHECK(ex.lr(2) == doctest::Approx(0.81));
  nn::CosineAnnealing cos(1.0, 10, 0.1);
  CHECK(cos.lr(0) == doctest::Approx(1.0));
  CHECK(cos.lr(5) == doctest::Approx(0.55));
  CHECK(cos.lr(10) == doctest::Approx(0.1));
  nn::Warmup warm(4, std::make_shared<nn::CosineAnnealing>(1.0, 10));
  CHECK(warm.lr(0) == doctest::Approx(0.0));
  CHECK(warm.lr(2) == doctest::Approx(0.5));
  CHECK(warm.lr(4) == doctest::Approx(1.0));
  CHECK(warm.lr(9) == doctest::Approx(0.5));
}

TEST_CASE("Linear: one fused affine node when training and under a Trace; the graph dumped is the graph trained") {
  Generator gen(7);
  nn::Linear fc(4, 3, gen);
  Tensor x = randn({5, 4}, gen);
  auto run = [&] {
    fc.zero_grad();
    Tensor y = fc(x);
    const size_t nodes = tape_stats().nodes;
    sum(y * y).backward();
    return std::tuple{y.to_vector<float>(), fc.weight.grad().to_vector<float>(), fc.bias.grad().to_vector<float>(), nodes};
  };
  auto [y1, gw1, gb1, fused_nodes] = run();
  CHECK(fused_nodes == 1);  // affine
  std::vector<float> y2, gw2, gb2;
  {
    Trace trace;
    size_t nodes;
    std::tie(y2, gw2, gb2, nodes) = run();
    CHECK(nodes == 1);  // the same affine node (Note [Fused affine])
    int affine = 0;
    bool textbook = false;
    for (const auto& st : trace.steps()) {
      affine += st.op == Op::affine;
      textbook |= st.op == Op::matmul || st.op == Op::repeat || st.op == Op::add;
    }
    CHECK(affine == 1);
    CHECK_FALSE(textbook);
    CHECK(trace.steps().front().op == Op::affine);
    CHECK(trace.steps().front().scope == "Linear");
  }
  for (size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == doctest::Approx(y2[i]).epsilon(1e-6));
  for (size_t i = 0; i < gw1.size(); ++i) CHECK(gw1[i] == doctest::Approx(gw2[i]).epsilon(1e-5));
  for (size_t i = 0; i < gb1.size(); ++i) CHECK(gb1[i] == doctest::Approx(gb2[i]).epsilon(1e-5));
  CHECK_THROWS_WITH_AS(affine(x, fc.weight, zeros({4})),
                       doctest::Contains("[affine] expects x (n, in), W (in, out) and b (out,); got x (5, 4), W (4, 3), b (4,)"),
                       ag::Error);
}

TEST_CASE("Linear: check_nodes checks the fused affine node, the one training records") {
  Generator gen(3);
  nn::Linear fc(4, 3, gen, true, DType::float64);
  Tensor x = randn({5, 4}, gen, DType::float64);
  NodeCheckReport r = check_nodes([&] { return sum(tanh(fc(x))); });
  INFO(r.table());
  CHECK(r.ok);
  REQUIRE(r.nodes.size() == 3);  // affine, tanh, sum
  CHECK(r.nodes[0].op == "affine");
  CHECK(r.nodes[0].input_shapes == std::vector<Shape>{{5, 4}, {4, 3}, {3}});
}

TEST_CASE("TwoLayerNet: backprop gradient equals the numerical gradient, with sigmoid and with ReLU") {
  for (const std::string activation : {"sigmoid", "relu"}) {
    INFO(activation);
    Generator gen(5);
    nn::TwoLayerNet net(6, 4, 3, gen, 0.5, DType::float64, activation);
    Tensor x = randn({5, 6}, gen, DType::float64), t = randint({5}, 0, 3, gen);
    auto g = net.gradient(x, t);
    auto n = net.numerical_gradient(x, t);
    REQUIRE(g.size() == 4);
    for (size_t k = 0; k < g.size(); ++k) {
      INFO(g[k].first);
      CHECK(g[k].first == n[k].first);
      for (int64_t i = 0; i < g[k].second.numel(); ++i)
        CHECK(g[k].second.value_at(i) == doctest::Approx(n[k].second.value_at(i)).epsilon(1e-5).scale(1.0));
    }
    CHECK(net.accuracy(x, t) >= 0.0);
  }
}

TEST_CASE("TwoLayerNet: an unknown activation is an error naming it") {
  Generator gen(5);
  CHECK_THROWS_WITH_AS(nn::TwoLayerNet(6, 4, 3, gen, 0.5, DType::float32, "softplus"),
                       doctest::Contains("[TwoLayerNet] activation must be sigmoid or relu, got 'softplus'"), ag::Error);
}

TEST_CASE("MLP learns XOR; a Perceptron cannot") {
  Tensor x = tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor t = tensor({0, 1, 1, 0}, {4}, DType::int64);
  Generator gen(6);
  nn::MLP mlp({2, 8, 2}, gen, "tanh", nn::Init::xavier);
  nn::Adam opt(mlp.parameters(), 0.05);
  for (int i = 0; i < 300; ++i) {
    opt.zero_grad();
    softmax_cross_entropy(mlp(x), t).backward();
    opt.step();
  }
  NoGradGuard off;
  CHECK(nn::accuracy(mlp(x), t) == 1.0);
  nn::Perceptron per(2, gen);
  CHECK(per.num_parameters() == 3);
  NoGradGuard g;
  CHECK(per(x).shape() == Shape{4, 1});
}


TEST_CASE("LossScaler: gradients come back unscaled, the scale grows after clean steps and backs off on overflow") {
  Tensor w = tensor({1.0, -2.0}, {2}).requires_grad_();
  SGD opt({w}, 0.1);
  LossScalerOptions o;
  o.init_scale = 1024;
  o.growth_interval = 2;
  LossScaler scaler(o);
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    Tensor loss = sum(w * w);
    Tensor scaled = scaler.scale(loss);
    CHECK(scaled.item<float>() == doctest::Approx(1024.0 * loss.item<float>()));
    scaled.backward();
    const std::vector<double> before = {w.value_at(0), w.value_at(1)};
    CHECK(scaler.step(opt));
    // the update used the true gradient 2w: w - 0.1 * 2w = 0.8 w
    check_values(w, {0.8 * before[0], 0.8 * before[1]});
  }
  CHECK(scaler.scale_factor() == 2048);  // two clean steps: grown once
  opt.zero_grad();
  scaler.scale(sum(w * w)).backward();
  w.grad().fill_(std::numeric_limits<double>::infinity());
  const double w0 = w.value_at(0);
  CHECK_FALSE(scaler.step(opt));  // an overflow: skipped, the weights untouched
  CHECK(w.value_at(0) == w0);
  CHECK(scaler.scale_factor() == 1024);
  CHECK(scaler.skipped_steps() == 1);
  CHECK(error_of([] { LossScaler({.init_scale = 0}); }) == "[LossScaler] init_scale must be positive and finite, got 0");
  CHECK(error_of([&] { scaler.scale(w); }) == "[LossScaler] scales a scalar loss, got shape (2,)");
}

}  // TEST_SUITE
