// The CUDA suite: device tensors, the caching allocator, and the kernels of
// every op whose ops.def row has cuda = 1 (generated from the index, never a
// hand list) against the CPU reference, in float32 and float64, forward and
// backward, plus the float64 gradient check on the device.
//
// It runs against the device TAPEGRAD_TEST_DEVICE names: "cuda_host" (the
// host build of the CUDA kernels, which CI runs; Note [Kernels written once,
// compiled twice] in cuda/kernels.hpp) or, by default, "cuda" (GPU 0). Without
// that device it reports itself as skipped (exit code 77), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <unistd.h>

#include "autograd/backend.hpp"
#include "autograd/tapegrad.hpp"
#include "cuda/allocator.hpp"
#include "cuda/cuda.hpp"
#include "cuda/gemm.hpp"
#include "helpers.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"

using namespace ag;

namespace {

Device g_device = Device::cuda();

// Tolerances of device results against the CPU's (see docs/cuda.md): the
// kernels sum in another order, and device exp/log may differ by an ulp or two.
struct Tolerance {
  double atol, rtol;
};
Tolerance parity_tolerance(DType dtype) { return dtype == DType::float32 ? Tolerance{1e-5, 1e-4} : Tolerance{1e-10, 1e-9}; }

// Where a and b (a on the cpu, b anywhere) differ beyond the tolerance: "" when they agree.
std::string mismatch(const Tensor& a, const Tensor& b, Tolerance tol) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return fmt::format("shape/dtype {} {} vs {} {}", a.shape(), a.dtype(), b.shape(), b.dtype());
  const Tensor h = b.to(Device::cpu());
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.value_at(i), y = h.value_at(i);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (!(std::abs(x - y) <= tol.atol + tol.rtol * std::abs(x)))
      return fmt::format("flat index {}: cpu {} vs {} {}", i, x, g_device, y);
  }
  return "";
}

// t's values on the cpu, as float64 (exact for every dtype but int64 beyond 2^53).
std::vector<double> host_values(const Tensor& t) { return cast(t.to(Device::cpu()), DType::float64).to_vector<double>(); }

// Copies of xs on `device`, each floating one a leaf that requires grad.
std::vector<Tensor> leaves(const std::vector<Tensor>& xs, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) {
    Tensor t = x.detach().clone().to(device);
    if (is_floating(t.dtype())) t.requires_grad_();
    out.push_back(t);
  }
  return out;
}

// Gradients of sum(v * f(xs)) for the floating inputs (zeros where unused).
std::vector<Tensor> vjp(const OpInfo& op, const std::vector<Tensor>& xs, const Tensor& v) {
  Tensor y = op.sample(xs);
  std::vector<Tensor> wrt, out;
  for (const Tensor& x : xs)
    if (is_floating(x.dtype())) wrt.push_back(x);
  if (!y.requires_grad()) {
    for (const Tensor& x : wrt) out.push_back(zeros_like(x));
    return out;
  }
  std::array<Tensor, 1> ys{y}, gs{v.to(y.device())};
  auto g = grad(ys, wrt, gs, {}, true);
  for (size_t i = 0; i < g.size(); ++i) out.push_back(g[i].defined() ? g[i] : zeros_like(wrt[i]));
  return out;
}

Tensor random_like(const Tensor& y, Generator& gen) { return randn(y.shape(), gen, y.dtype()); }

// Whether the op tables below run `op` on the device in `dtype`: the one place
// that reads ops.def's cuda column (the dtypes of its CUDA kernels).
bool has_device_kernel(const OpInfo& op, DType dtype) { return op.declares(Device::Kind::cuda, dtype); }

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("device discovery agrees with itself and never throws") {
  const int n = cuda::device_count();
  CHECK(cuda::is_available() == (n > 0));
  CHECK(cuda::unavailable_reason().empty() == (n > 0));
}

TEST_CASE("tensors copy to the device and back unchanged, in every dtype") {
  Tensor f = tensor({1.5, -2.0, 3.25, 0.0, 1e-3, 7.0}, {2, 3});
  for (DType dt : {DType::float32, DType::float64, DType::int64, DType::float16, DType::bfloat16}) {
    Tensor x = cast(f, dt);
    Tensor d = x.to(g_device);
    CHECK(d.device() == g_device);
    CHECK(d.shape() == x.shape());
    CHECK(d.dtype() == dt);
    Tensor back = d.to(Device::cpu());
    CHECK(back.device() == Device::cpu());
    CHECK(mismatch(x, back, {0, 0}) == "");
  }
  CHECK(f.to(Device::cpu()).impl() == f.impl());
}

TEST_CASE("creation on the device: zeros, ones, full, from data, zeros_like") {
  check_values(zeros({2, 2}, DType::float32, g_device), {0, 0, 0, 0});
  check_values(ones({3}, DType::float64, g_device), {1, 1, 1});
  check_values(full({2}, -2.5, DType::float64, g_device), {-2.5, -2.5});
  Tensor t = tensor({1, 2, 3}, {3}, DType::float32, g_device);
  CHECK(t.device() == g_device);
  check_values(t, {1, 2, 3});
  CHECK(zeros_like(t).device() == g_device);
  CHECK(full({2}, 4, DType::int64, g_device).to_vector<int64_t>() == std::vector<int64_t>{4, 4});
  CHECK(tensor({5}, {1}, DType::float32, g_device).item<float>() == 5.0f);
  CHECK(t.at<float>({2}) == 3.0f);
}

TEST_CASE("printing a device tensor shows its values and its device") {
  Tensor t = tensor({1, 2}, {2}, DType::float32, g_device);
  const std::string s = to_string(t);
  CHECK(s == fmt::format("tensor([1.0000, 2.0000], shape=(2,), dtype=float32, device={})", g_device));
}

TEST_CASE("ops on tensors of different devices name the op and both devices") {
  Tensor a = ones({2}), b = ones({2}, DType::float32, g_device);
  CHECK(error_of([&] { add(a, b); }) ==
        fmt::format("[add] inputs are on different devices: cpu and {}; move one with .to()", g_device));
  CHECK(error_of([&] { matmul(ones({2, 2}, DType::float32, g_device), ones({2, 2})); })
            .starts_with("[matmul] inputs are on different devices"));
  CHECK(error_of([&] { softmax_cross_entropy(ones({2, 3}, DType::float32, g_device), from_vector(std::vector<int64_t>{0, 1}, {2})); })
            .starts_with("[softmax_cross_entropy] inputs are on different devices"));
}

TEST_CASE("asking for GPU memory without a usable GPU is an error with the reason, never a crash") {
  if (cuda::is_available()) return;
  const std::string e = error_of([] { zeros({2}, DType::float32, Device::cuda()); });
  CHECK(e.starts_with("[alloc] cannot allocate 512 bytes on cuda:0: "));
  CHECK(e.size() > std::string("[alloc] cannot allocate 512 bytes on cuda:0: ").size());
}

TEST_CASE("TF32 is off by default, and float32 products with it allowed stay within TF32 rounding") {
  CHECK_FALSE(cuda::allow_tf32());
  Generator gen(5);
  Tensor a = randn({64, 96}, gen), b = randn({96, 32}, gen);
  Tensor exact = matmul(a, b);
  cuda::set_allow_tf32(true);
  CHECK(cuda::allow_tf32());
  Tensor fast = matmul(a.to(g_device), b.to(g_device)).to(Device::cpu());
  cuda::set_allow_tf32(false);
  // inputs rounded to a 10-bit mantissa (relative 2^-11) over sums of 96 products of N(0, 1)
  CHECK(mismatch(fast, exact, {0.05, 1e-2}) == "");
}

// Note [One GEMM description, two executors] (cuda/matmul.cu): on cuda_host these run the
// cuBLAS arguments through the emulation, so a wrong leading dimension, stride or transpose flag
// shows here. The backward products carry the transposes: dA = dY B^T, dB = A^T dY.
TEST_CASE("matmul and affine match the cpu: non-square, batched, broadcast-batched and empty, every float dtype") {
  const std::vector<std::pair<Shape, Shape>> matmuls = {
      {{3, 5}, {5, 7}},          {{7, 5}, {5, 3}},       {{1, 5}, {5, 1}},     {{4, 3, 5}, {4, 5, 2}},
      {{2, 1, 3, 5}, {4, 5, 2}}, {{3, 5}, {4, 5, 2}},    {{2, 3, 5}, {5, 4}},  {{3, 0}, {0, 4}},
      {{2, 3, 0}, {2, 0, 4}},    {{0, 5}, {5, 4}},       {{3, 5}, {5, 0}},     {{0, 3, 5}, {0, 5, 2}},
  };
  const std::vector<std::pair<Shape, Shape>> affines = {{{3, 5}, {5, 7}}, {{7, 5}, {5, 3}}, {{3, 0}, {0, 7}},
                                                        {{0, 5}, {5, 7}}};
  Generator gen(31);
  for (DType dtype : {DType::float32, DType::float64, DType::float16, DType::bfloat16}) {
    const bool half = dtype == DType::float16 || dtype == DType::bfloat16;
    const GradcheckOptions o = GradcheckOptions::for_dtype(dtype);
    const Tolerance tol = half ? Tolerance{o.atol, o.rtol} : parity_tolerance(dtype);
    const DType ref = half ? DType::float64 : dtype;  // the cpu computes 16-bit values in float64
    for (bool is_affine : {false, true}) {
      for (const auto& [sa, sb] : is_affine ? affines : matmuls) {
        INFO((is_affine ? "affine " : "matmul ") << fmt::format("{} {}", sa, sb) << " " << dtype_name(dtype));
        std::vector<Tensor> xs = {cast(randn(sa, gen, DType::float64), dtype),
                                  cast(randn(sb, gen, DType::float64), dtype)};
        if (is_affine) xs.push_back(cast(randn({sb.back()}, gen, DType::float64), dtype));
        std::vector<Tensor> rounded;
        for (const Tensor& x : xs) rounded.push_back(cast(x, ref));
        std::vector<Tensor> host = leaves(rounded, Device::cpu()), dev = leaves(xs, g_device);
        auto f = [&](const std::vector<Tensor>& in) {
          return is_affine ? affine(in[0], in[1], in[2]) : matmul(in[0], in[1]);
        };
        const Tensor y_cpu = f(host), y_dev = f(dev);
        REQUIRE(y_dev.device() == g_device);
        CHECK(y_dev.dtype() == dtype);
        CHECK(mismatch(y_cpu, cast(y_dev, ref), tol) == "");
        const Tensor v = cast(randn(y_cpu.shape(), gen, DType::float64), dtype);
        std::array<Tensor, 1> ys_cpu{y_cpu}, gs_cpu{cast(v, ref)}, ys_dev{y_dev}, gs_dev{v.to(g_device)};
        // one tape holds both graphs, and a backward releases it all: the first keeps it
        const auto g_cpu = grad(ys_cpu, host, gs_cpu, {.retain_graph = true}), g_dev = grad(ys_dev, dev, gs_dev);
        for (size_t i = 0; i < g_cpu.size(); ++i) {
          INFO("gradient of input " << i);
          CHECK(g_dev[i].device() == g_device);
          CHECK(mismatch(g_cpu[i], cast(g_dev[i], ref), tol) == "");
        }
      }
    }
  }
}

TEST_CASE("the cuBLAS arguments of a product: column-major, operands swapped; a wrong one is what cuBLAS rejects") {
  using namespace ag::kernels;
  float a[15] = {}, b[35] = {}, c[21] = {};
  auto view = [](float* p, std::initializer_list<int64_t> shape) {
    View v;
    v.data = p;
    v.numel = 1;
    for (int64_t s : shape) {
      v.shape[v.ndim++] = s;
      v.numel *= s;
    }
    return v;
  };
  // row-major (3, 5) @ (5, 7): column-major (7, 3) = (7, 5) (5, 3), B's rows 7 long, A's 5, C's 7
  GemmArgs g = gemm_args(view(a, {3, 5}), false, view(b, {5, 7}), false, view(c, {3, 7}), 3, 7, 5, 1, 0.0, false);
  CHECK((g.transa == GemmOp::n && g.transb == GemmOp::n));
  CHECK((g.m == 7 && g.n == 3 && g.k == 5));
  CHECK((g.a == b && g.lda == 7 && g.b == a && g.ldb == 5 && g.c == c && g.ldc == 7));
  CHECK(g.compute == GemmCompute::f32);
  CHECK(gemm_invalid(g) == nullptr);
  CHECK(gemm_outside(g) == nullptr);
  // A^T B^T with A stored (5, 3) and B stored (7, 5): the flags stay, each ld is a stored row's length
  GemmArgs t = gemm_args(view(a, {5, 3}), true, view(b, {7, 5}), true, view(c, {3, 7}), 3, 7, 5, 1, 0.0, true);
  CHECK((t.transa == GemmOp::t && t.transb == GemmOp::t && t.lda == 5 && t.ldb == 3 && t.ldc == 7));
  CHECK(t.compute == GemmCompute::f32_fast_tf32);
  CHECK(gemm_invalid(t) == nullptr);
  // a batch of 4: entries m k, k n and m n elements apart
  float ab[60] = {}, bb[40] = {}, cb[24] = {};
  GemmArgs s = gemm_args(view(ab, {4, 3, 5}), false, view(bb, {4, 5, 2}), false, view(cb, {4, 3, 2}), 3, 2, 5, 4, 0.0,
                         false);
  CHECK((s.batch == 4 && s.stride_a == 10 && s.stride_b == 15 && s.stride_c == 6));
  CHECK(gemm_outside(s) == nullptr);

  auto rejects = [](GemmArgs x, const char* what) {
    const char* r = gemm_invalid(x);
    return r != nullptr && std::string(r).find(what) != std::string::npos;
  };
  GemmArgs bad = g;
  bad.lda = 5;  // the row length of the left operand instead of the right one's
  CHECK(rejects(bad, "CUBLAS_STATUS_INVALID_VALUE: lda"));
  bad = g;
  bad.ldb = 3;
  CHECK(rejects(bad, "CUBLAS_STATUS_INVALID_VALUE: ldb"));
  bad = g;
  bad.ldc = 3;  // m and n swapped
  CHECK(rejects(bad, "CUBLAS_STATUS_INVALID_VALUE: ldc"));
  bad = g;
  bad.transa = GemmOp::t;  // A stored k x m: lda must be at least k = 5
  bad.lda = 4;
  CHECK(rejects(bad, "lda"));
  bad = g;
  bad.compute = GemmCompute::f64;
  CHECK(rejects(bad, "CUBLAS_STATUS_NOT_SUPPORTED"));
  bad = s;
  bad.stride_c = 3;
  CHECK(std::string(gemm_outside(bad)).find("overlap") != std::string::npos);
  bad = s;
  bad.stride_a = 11;  // accepted by cuBLAS, but reads past the 40 elements of the right operand
  CHECK(gemm_invalid(bad) == nullptr);
  CHECK(std::string(gemm_outside(bad)).find("A (lda, stride_a)") != std::string::npos);
}

TEST_CASE("int64 kernels (clone, cast, slice, index_select, one_hot) match the cpu") {
  Tensor l = from_vector(std::vector<int64_t>{3, 0, 2, 1, 2, 0}, {6});
  Tensor d = l.to(g_device);
  CHECK(d.clone().to_vector<int64_t>() == l.to_vector<int64_t>());
  CHECK(slice(d, 0, 1, 6, 2).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});
  CHECK(index_select(d, from_vector(std::vector<int64_t>{5, 0}, {2}).to(g_device)).to_vector<int64_t>() ==
        std::vector<int64_t>{0, 3});
  CHECK(mismatch(cast(l, DType::float64), cast(d, DType::float64), {0, 0}) == "");
  CHECK(cast(tensor({1.7, -2.2}, {2}, DType::float32, g_device), DType::int64).to_vector<int64_t>() ==
        std::vector<int64_t>{1, -2});
  CHECK(mismatch(one_hot(l, 4), one_hot(d, 4), {0, 0}) == "");
  CHECK(error_of([&] { index_select(ones({3}, DType::float32, g_device), from_vector(std::vector<int64_t>{3}, {1}).to(g_device)).to(Device::cpu()); })
            .starts_with("[index_select] index 3 at position 0 is out of range"));
}

TEST_CASE("bad labels, indices and probabilities on the device: read nothing out of range, reported at the next copy to the host") {
  // Note [Checks on the device]: no copy to the host when the op runs; the kernel records the bad value.
  const Tensor x = ones({2, 3}, DType::float32, g_device);
  const Tensor bad = from_vector(std::vector<int64_t>{0, 5}, {2}).to(g_device);
  Tensor loss = softmax_cross_entropy(x, bad);  // no error yet
  CHECK(error_of([&] { loss.item<float>(); }) ==
        fmt::format("[softmax_cross_entropy] label 5 at row 1 is out of range [0, 3) (found by the kernel on {}; "
                    "reported at the next copy to the host)", g_device));
  CHECK(std::isnan(loss.item<float>()));  // reported once: the record is clear again
  CHECK(sum(x).item<float>() == 6.0f);
  const Tensor neg = from_vector(std::vector<int64_t>{-1, 0}, {2}).to(g_device);
  CHECK(error_of([&] { nll(log_softmax(x, 1), neg).to(Device::cpu()); }).starts_with("[nll] label -1 at row 0 is out of range [0, 3)"));
  CHECK(error_of([&] { one_hot(bad, 3).to(Device::cpu()); }).starts_with("[one_hot] label 5 at position 1 is out of range [0, 3)"));
  CHECK(error_of([&] { index_select(x, bad, 1).to(Device::cpu()); }).starts_with("[index_select] index 5 at position 1 is out of range [0, 3)"));
  const Tensor idx3 = from_vector(std::vector<int64_t>{0, 5, 1}, {3}).to(g_device);
  CHECK(error_of([&] { index_add(x, idx3, 4, 1).to(Device::cpu()); }).starts_with("[index_add] index 5 at position 1 is out of range [0, 4)"));
  CHECK(error_of([&] { bce(tensor({0.5, 1.5}, {2}, DType::float32, g_device), tensor({0, 1}, {2}, DType::float32, g_device)).item<float>(); })
            .starts_with("[bce] probabilities must lie in [0, 1], got 1.5 at flat index 1"));
  // float -> int64 of a value int64 cannot hold: 0 there, reported (the cpu raises it at once)
  for (const double v : {std::nan(""), 1e30, -HUGE_VAL}) {
    const Tensor f = tensor({1.5, v}, {2}, DType::float64, g_device);
    Tensor i = cast(f, DType::int64);
    CHECK(error_of([&] { i.to(Device::cpu()); }) ==
          fmt::format("[cast] element 1 is {}, which int64 cannot hold (NaN, infinite or outside [-2^63, 2^63)); the "
                      "result holds 0 there (found by the kernel on {}; reported at the next copy to the host)", v, g_device));
    CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  }
  CHECK(error_of([&] { cast(tensor({-1e19}, {1}, DType::float32, g_device), DType::int64).to(Device::cpu()); })
            .starts_with("[cast] element 0 is -9.9999999"));  // -1e19 in float32: below -2^63
  // only the first bad value is kept; the backward of a bad loss reports too
  Tensor w = ones({2, 3}, DType::float32, g_device).requires_grad_();
  softmax_cross_entropy(w, bad).backward();
  CHECK(error_of([&] { w.grad().to(Device::cpu()); }).starts_with("[softmax_cross_entropy] label 5 at row 1"));
  CHECK(w.grad().to(Device::cpu()).numel() == 6);
}

TEST_CASE("float32 sums and means on the device add in double and round once, as the cpu does") {
  const int64_t n = int64_t(1) << 20;
  std::vector<float> v(static_cast<size_t>(n));
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    v[static_cast<size_t>(i)] = 1.0f / static_cast<float>(i % 1000 + 1) + 1e-3f * static_cast<float>(i % 7);
    exact += static_cast<double>(v[static_cast<size_t>(i)]);
  }
  const Tensor h = from_vector(v, {1024, 1024}), d = h.to(g_device);
  CHECK(sum(d).item<float>() == static_cast<float>(exact));
  CHECK(mean(d).item<float>() == static_cast<float>(exact / static_cast<double>(n)));
  for (const int64_t axis : {0, 1})
    CHECK(sum(d, {axis}).to_vector<float>() == sum(h, {axis}).to_vector<float>());
}

TEST_CASE("reading a device tensor's data pointer is a clear error") {
  Tensor t = ones({2}, DType::float32, g_device);
  CHECK(error_of([&] { t.data<float>(); }).starts_with("[data] the tensor is on"));
}

TEST_CASE("the caching allocator reuses freed blocks, reports bytes in use and peak, and releases its cache") {
  cuda::release_cache(g_device);
  const cuda::MemoryStats before = cuda::memory_stats(g_device);
  { Tensor a = empty({1000}, DType::float32, g_device); }  // 4000 B -> a 4096 B block, now cached
  cuda::MemoryStats s = cuda::memory_stats(g_device);
  CHECK(s.in_use == before.in_use);
  CHECK(s.cached == 4096);
  CHECK(s.peak >= before.in_use + 4096);
  const size_t allocs = s.device_allocs;
  Tensor b = empty({900}, DType::float32, g_device);  // 3600 B: the same size class, reused
  s = cuda::memory_stats(g_device);
  CHECK(s.device_allocs == allocs);
  CHECK(s.cached == 0);
  CHECK(s.in_use == before.in_use + 4096);
  b = Tensor();
  cuda::release_cache(g_device);
  CHECK(cuda::memory_stats(g_device).cached == 0);
  cuda::reset_peak(g_device);
  CHECK(cuda::memory_stats(g_device).peak == cuda::memory_stats(g_device).in_use);
}

TEST_CASE("in-place updates and gradient accumulation run on the device") {
  Tensor x = ones({3}, DType::float64, g_device);
  x.add_(full({3}, 2.0, DType::float64, g_device), 0.5);
  check_values(x, {2, 2, 2});
  x.mul_(3.0);
  check_values(x, {6, 6, 6});
  x.mul_(tensor({1, 2, 3}, {3}, DType::float64, g_device));
  check_values(x, {6, 12, 18});
  x.fill_(-1);
  check_values(x, {-1, -1, -1});
  x.copy_(tensor({4, 5, 6}, {3}, DType::float64));
  check_values(x, {4, 5, 6});
  Tensor w = tensor({1, 2, 3}, {3}, DType::float64, g_device).requires_grad_();
  sum(w * w).backward();
  sum(w).backward();
  CHECK(w.grad().device() == g_device);
  check_values(w.grad(), {3, 5, 7});
}

// Each op, dtype and order is its own subcase (Note [One subcase per op] in
// helpers.hpp); `entries` counts them, so each test also checks that its table
// is not empty.
std::string case_name(const OpInfo& op, DType dtype, const char* what = "") {
  return fmt::format("{} {}{} on {}", op.name, dtype, what, g_device);
}

TEST_CASE("every op with a kernel matches the cpu forward and backward, in float32 and float64") {
  int entries = 0;
  for (const OpInfo& op : all_ops()) {
    for (DType dtype : {DType::float32, DType::float64}) {
      if (!has_device_kernel(op, dtype)) continue;
      ++entries;
      op_case(case_name(op, dtype), [&] {
        Generator gen(21);
        const Tolerance tol = parity_tolerance(dtype);
        auto cases = op_check_inputs(op, dtype, gen);
        for (size_t c = 0; c < cases.size(); ++c) {
          INFO("op " << op.name << " " << dtype_name(dtype) << " case " << c);
          std::vector<Tensor> host = leaves(cases[c], Device::cpu()), dev = leaves(cases[c], g_device);
          Tensor y_cpu = op.sample(host), y_dev = op.sample(dev);
          REQUIRE(y_dev.device() == g_device);
          CHECK(mismatch(y_cpu, y_dev, tol) == "");
          if (!op.differentiable) continue;
          Tensor v = random_like(y_cpu, gen);
          auto g_cpu = vjp(op, host, v), g_dev = vjp(op, dev, v);
          REQUIRE(g_cpu.size() == g_dev.size());
          for (size_t i = 0; i < g_cpu.size(); ++i) {
            INFO("gradient of input " << i);
            CHECK(g_dev[i].device() == g_device);
            CHECK(mismatch(g_cpu[i], g_dev[i], tol) == "");
          }
        }
      });
    }
  }
  SUBCASE("some op has a kernel") { CHECK(entries > 0); }
}

TEST_CASE("gradient check on the device, float64: every differentiable op with a kernel, first and second order") {
  int entries = 0;
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable || !has_device_kernel(op, DType::float64)) continue;
    for (int order : {1, 2}) {
      ++entries;
      op_case(case_name(op, DType::float64, order == 1 ? "" : " second order"), [&] {
        Generator gen(22);
        auto cases = op_check_inputs(op, DType::float64, gen);
        for (size_t c = 0; c < cases.size(); ++c) {
          std::vector<Tensor> xs;
          for (const Tensor& x : cases[c]) xs.push_back(x.to(g_device));
          const GradcheckOptions o = GradcheckOptions::for_op(op, DType::float64, order);
          GradcheckReport r = order == 1 ? gradcheck(op.sample, xs, o) : gradgradcheck(op.sample, xs, o);
          INFO("op " << op.name << " case " << c << (order == 1 ? "" : ", second order") << "\n" << r.to_string());
          CHECK(r.ok);
        }
      });
    }
  }
  SUBCASE("some op has a kernel") { CHECK(entries > 0); }
}

// The 16-bit dtypes: the op runs on the device in `dtype` (math in float32)
// and is compared with the float64 cpu result on the same, rounded, inputs, at
// the dtype's documented tolerance (GradcheckOptions::for_dtype).
TEST_CASE("every op with a kernel, in float16 and bfloat16, matches the float64 cpu forward and backward") {
  int entries = 0;
  for (const OpInfo& op : all_ops()) {
    for (DType dtype : {DType::float16, DType::bfloat16}) {
      if (!has_device_kernel(op, dtype)) continue;
      ++entries;
      op_case(case_name(op, dtype), [&] {
        Generator gen(23);
        const GradcheckOptions o = GradcheckOptions::for_dtype(dtype);
        const Tolerance tol{o.atol, o.rtol};
        auto cases = op_check_inputs(op, dtype, gen);
        for (size_t c = 0; c < cases.size(); ++c) {
          INFO("op " << op.name << " " << dtype_name(dtype) << " case " << c);
          std::vector<Tensor> rounded;  // the same values in float64, for the cpu
          for (const Tensor& x : cases[c]) rounded.push_back(is_floating(x.dtype()) ? cast(x, DType::float64) : x);
          std::vector<Tensor> host = leaves(rounded, Device::cpu()), dev = leaves(cases[c], g_device);
          Tensor y_cpu = op.sample(host), y_dev = op.sample(dev);
          REQUIRE(y_dev.device() == g_device);
          if (is_floating(y_cpu.dtype()) && y_cpu.dtype() != DType::float64) y_cpu = cast(y_cpu, DType::float64);
          const Tensor y_dev64 = is_floating(y_dev.dtype()) ? cast(y_dev, DType::float64) : y_dev;
          CHECK(mismatch(y_cpu, y_dev64, tol) == "");
          if (!op.differentiable) continue;
          const Tensor v = cast(cast(random_like(y_cpu, gen), y_dev.dtype()), y_cpu.dtype());
          auto g_cpu = vjp(op, host, v), g_dev = vjp(op, dev, cast(v, y_dev.dtype()));
          REQUIRE(g_cpu.size() == g_dev.size());
          for (size_t i = 0; i < g_cpu.size(); ++i) {
            INFO("gradient of input " << i);
            CHECK(g_dev[i].dtype() == dtype);
            CHECK(mismatch(g_cpu[i], cast(g_dev[i], DType::float64), tol) == "");
          }
        }
      });
    }
  }
  SUBCASE("some op has a kernel") { CHECK(entries > 0); }
}

TEST_CASE("gradient check on the device, float16 and bfloat16: every differentiable op with a kernel, first and second order") {
  int entries = 0;
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    for (DType dtype : {DType::float16, DType::bfloat16}) {
      if (!has_device_kernel(op, dtype)) continue;
      for (int order : {1, 2}) {
        ++entries;
        op_case(case_name(op, dtype, order == 1 ? "" : " second order"), [&] {
          Generator gen(24);
          auto cases = op_check_inputs(op, dtype, gen);
          for (size_t c = 0; c < cases.size(); ++c) {
            std::vector<Tensor> xs;
            for (const Tensor& x : cases[c]) xs.push_back(x.to(g_device));
            const GradcheckOptions o = GradcheckOptions::for_op(op, dtype, order);
            GradcheckReport r = order == 1 ? gradcheck(op.sample, xs, o) : gradgradcheck(op.sample, xs, o);
            INFO("op " << op.name << " " << dtype_name(dtype) << " case " << c << (order == 1 ? "" : ", second order")
                       << "\n" << r.to_string());
            CHECK(r.ok);
          }
        });
      }
    }
  }
  SUBCASE("some op has a kernel") { CHECK(entries > 0); }
}

TEST_CASE("16-bit tensors: storage is 2 bytes an element, casts are recorded and differentiate back to float32") {
  const cuda::MemoryStats before = cuda::memory_stats(g_device);
  Tensor h = zeros({1024}, DType::float16, g_device);
  CHECK(cuda::memory_stats(g_device).in_use - before.in_use == 2048);
  Tensor w = tensor({0.5, -1.25, 3.0}, {3}, DType::float32, g_device).requires_grad_();
  for (DType dt : {DType::float16, DType::bfloat16}) {
    Tensor y = sum(cast(w, dt) * cast(w, dt));  // recorded: cast, mul, sum in dt
    CHECK(y.dtype() == dt);
    y.backward();
    CHECK(w.grad().dtype() == DType::float32);  // the cast's backward casts the gradient back
    check_values(w.grad(), {1.0, -2.5, 6.0});
    w.zero_grad();
  }
  // a float32 value that float16 cannot hold becomes inf; bfloat16 keeps the range
  CHECK(std::isinf(cast(tensor({1e5}, {1}, DType::float32, g_device), DType::float16).value_at(0)));
  CHECK(cast(tensor({1e5}, {1}, DType::float32, g_device), DType::bfloat16).value_at(0) == 99840.0);
}

TEST_CASE("a two-layer net trains on the device as on the cpu") {
  Generator gen(5);
  Tensor x = randn({8, 4}, gen, DType::float64), w1 = randn({4, 6}, gen, DType::float64), b1 = zeros({6}, DType::float64);
  Tensor w2 = randn({6, 3}, gen, DType::float64), t = from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1}, {8});
  auto loss_of = [&](Device d) {
    std::vector<Tensor> p = leaves({w1, b1, w2}, d);
    Tensor loss;
    for (int step = 0; step < 3; ++step) {
      loss = softmax_cross_entropy(matmul(sigmoid(matmul(x.to(d), p[0]) + p[1]), p[2]), t.to(d));
      loss.backward();
      NoGradGuard guard;
      for (Tensor& q : p) {
        q.sub_(q.grad() * 0.5);
        q.zero_grad();
      }
    }
    return loss.to(Device::cpu()).item<double>();
  };
  CHECK(loss_of(g_device) == doctest::Approx(loss_of(Device::cpu())).epsilon(1e-9));
}

TEST_CASE("Module::to moves parameters in place; SGD with momentum steps on the device as on the cpu") {
  auto step_twice = [](ag::Device d) {
    Generator gen(3);
    nn::Linear fc(4, 2, gen, true, DType::float64);
    nn::SGD sgd(fc.parameters(), 0.1, 0.9, true, 0.01);
    fc.to(d);
    CHECK(fc.device() == d);
    CHECK(fc.parameters()[0].device() == d);
    Tensor x = randn({5, 4}, gen, DType::float64).to(d);
    for (int i = 0; i < 2; ++i) {
      sgd.zero_grad();
      sum(fc(x) * fc(x)).backward();
      sgd.step();
    }
    return fc.parameters()[0].to(Device::cpu());
  };
  CHECK(mismatch(step_twice(Device::cpu()), step_twice(g_device), parity_tolerance(DType::float64)) == "");
}

// ---- Optimisers: the fused device update (optim_step, cuda/inplace.cu) against the cpu kernel ----

// An optimiser over the given parameters, by the name the tests print.
using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer>(std::vector<Tensor>)>;
struct OptimizerCase {
  const char* name;
  MakeOptimizer make;
};
std::vector<OptimizerCase> optimizer_cases() {
  return {
      {"SGD", [](auto p) { return std::make_unique<nn::SGD>(p, 0.1); }},
      {"SGD with weight decay", [](auto p) { return std::make_unique<nn::SGD>(p, 0.1, 0.0, false, 0.05); }},
      {"SGD with momentum", [](auto p) { return std::make_unique<nn::SGD>(p, 0.1, 0.9); }},
      {"SGD with Nesterov momentum and weight decay", [](auto p) { return std::make_unique<nn::SGD>(p, 0.1, 0.9, true, 0.01); }},
      {"AdaGrad with weight decay", [](auto p) { return std::make_unique<nn::AdaGrad>(p, 0.1, 1e-10, 0.01); }},
      {"RMSProp with weight decay", [](auto p) { return std::make_unique<nn::RMSProp>(p, 0.01, 0.9, 1e-8, 0.01); }},
      {"Adam", [](auto p) { return std::make_unique<nn::Adam>(p, 0.01); }},
      {"Adam with L2 weight decay", [](auto p) { return std::make_unique<nn::Adam>(p, 0.01, 0.9, 0.999, 1e-8, 0.05); }},
      {"AdamW", [](auto p) { return std::make_unique<nn::AdamW>(p, 0.01, 0.9, 0.999, 1e-8, 0.05); }},
  };
}

// The parameters and the optimiser's state after `steps` steps on `device` from
// seeded parameters and gradients (the same on every device), as cpu tensors.
struct Trajectory {
  std::vector<Tensor> params;
  nn::NamedTensors state;
};
Trajectory run_optimizer(const MakeOptimizer& make, DType dtype, Device device, int steps) {
  Generator gen(11);
  std::vector<Tensor> p = {randn({3, 4}, gen, dtype).to(device).requires_grad_(), randn({5}, gen, dtype).to(device).requires_grad_()};
  auto opt = make(p);
  for (int s = 0; s < steps; ++s) {
    for (Tensor& q : p) q.set_grad(randn(q.shape(), gen, dtype).to(device));
    opt->step();
  }
  Trajectory t;
  for (const Tensor& q : p) {
    CHECK(q.device() == device);
    t.params.push_back(q.detach().to(Device::cpu()));
  }
  for (const auto& [name, b] : opt->state()) {
    if (name != "step") CHECK(b.device() == device);
    t.state.emplace_back(name, b.to(Device::cpu()));
  }
  return t;
}

TEST_CASE("every optimiser steps on the device as on the cpu: parameters and state, float32 and float64") {
  for (const OptimizerCase& c : optimizer_cases()) {
    for (DType dtype : {DType::float32, DType::float64}) {
      INFO(c.name << ", " << dtype_name(dtype));
      const Trajectory cpu = run_optimizer(c.make, dtype, Device::cpu(), 5);
      const Trajectory dev = run_optimizer(c.make, dtype, g_device, 5);
      for (size_t i = 0; i < cpu.params.size(); ++i) CHECK(mismatch(cpu.params[i], dev.params[i], parity_tolerance(dtype)) == "");
      REQUIRE(cpu.state.size() == dev.state.size());
      for (size_t i = 0; i < cpu.state.size(); ++i) {
        INFO("state " << cpu.state[i].first);
        CHECK(cpu.state[i].first == dev.state[i].first);
        CHECK(mismatch(cpu.state[i].second, dev.state[i].second, parity_tolerance(dtype)) == "");
      }
      // the parameters moved: a step that did nothing would agree with the cpu's nothing too
      Generator gen(11);
      CHECK(mismatch(randn({3, 4}, gen, dtype), dev.params[0], parity_tolerance(dtype)) != "");
    }
  }
}

TEST_CASE("one fused device step matches hand-computed values") {
  auto one_step = [](const MakeOptimizer& make) {
    Tensor p = tensor({1, -2}, {2}, DType::float64, g_device).requires_grad_();
    auto opt = make({p});
    p.set_grad(tensor({0.5, -0.25}, {2}, DType::float64, g_device));
    opt->step();
    return p.detach();
  };
  // Adam's first step is lr sign(g) (m^ = g, v^ = g^2); AdamW first shrinks p by lr wd p
  check_values(one_step([](auto p) { return std::make_unique<nn::Adam>(p, 0.1); }), {0.9, -1.9}, 1e-7);
  check_values(one_step([](auto p) { return std::make_unique<nn::AdamW>(p, 0.1, 0.9, 0.999, 1e-8, 0.5); }),
               {1 - 0.05 - 0.1, -2 + 0.1 + 0.1}, 1e-7);
  // Nesterov: g' = g + wd p, v = g', p -= lr (g' + mu v) = lr (1 + mu) g'
  check_values(one_step([](auto p) { return std::make_unique<nn::SGD>(p, 0.1, 0.5, true, 0.1); }),
               {1 - 0.15 * 0.6, -2 - 0.15 * (-0.45)}, 1e-12);
  // RMSProp: s = (1 - a) g^2, p -= lr g / sqrt(s) = lr sign(g) / sqrt(1 - a)
  check_values(one_step([](auto p) { return std::make_unique<nn::RMSProp>(p, 0.1, 0.75, 0.0); }), {0.8, -1.8}, 1e-12);
  // AdaGrad: h = g^2, p -= lr sign(g)
  check_values(one_step([](auto p) { return std::make_unique<nn::AdaGrad>(p, 0.1, 0.0); }), {0.9, -1.9}, 1e-12);
}

TEST_CASE("a device optimiser's state round-trips through state() and load_state, from the device or the cpu") {
  Generator gen(4);
  const Tensor init = randn({6}, gen, DType::float32);
  std::vector<Tensor> grads;
  for (int s = 0; s < 5; ++s) grads.push_back(randn({6}, gen, DType::float32));
  auto steps = [&](nn::Optimizer& opt, Tensor& p, int from, int to) {
    for (int s = from; s < to; ++s) {
      p.set_grad(grads[s].to(g_device));
      opt.step();
    }
  };
  Tensor p = init.to(g_device).requires_grad_();
  nn::Adam adam({p}, 0.05);
  steps(adam, p, 0, 3);
  const nn::NamedTensors saved = adam.state();
  const Tensor p3 = p.detach().clone();
  steps(adam, p, 3, 5);
  for (bool via_cpu : {false, true}) {
    INFO("state copied through the cpu: " << via_cpu);
    Tensor q = p3.clone().requires_grad_();
    nn::Adam again({q}, 0.05);
    nn::NamedTensors state;
    for (const auto& [name, t] : saved) state.emplace_back(name, via_cpu ? t.to(Device::cpu()) : t);
    again.load_state(state);
    CHECK(again.steps() == 3);
    steps(again, q, 3, 5);
    CHECK(q.detach().to_vector<float>() == p.detach().to_vector<float>());
    CHECK(again.state()[1].second.device() == g_device);
  }
}

TEST_CASE("an optimiser's state follows its parameters when the model moves between devices") {
  auto run = [](bool move_midway) {
    Generator gen(6);
    nn::Linear fc(3, 2, gen);
    nn::Adam adam(fc.parameters(), 0.05);
    const Tensor x = randn({4, 3}, gen);
    for (int s = 0; s < 4; ++s) {
      if (move_midway && s == 2) fc.to(g_device);  // Adam's moments were made on the cpu
      const Tensor xs = x.to(fc.device());
      adam.zero_grad();
      sum(fc(xs) * fc(xs)).backward();
      adam.step();
    }
    CHECK(adam.state()[1].second.device() == fc.device());
    return fc.parameters()[0].to(Device::cpu());
  };
  CHECK(mismatch(run(false), run(true), parity_tolerance(DType::float32)) == "");
}

TEST_CASE("clip_grad_norm and clip_grad_value work on device gradients") {
  Tensor p = zeros({2}, DType::float32, g_device).requires_grad_(), q = zeros({1}, DType::float32, g_device).requires_grad_();
  p.set_grad(tensor({3, 0}, {2}, DType::float32, g_device));
  q.set_grad(tensor({4}, {1}, DType::float32, g_device));
  CHECK(nn::clip_grad_norm({p, q}, 1.0) == doctest::Approx(5.0));
  CHECK(p.grad().device() == g_device);
  check_values(p.grad(), {0.6, 0}, 1e-5);
  check_values(q.grad(), {0.8}, 1e-5);
  CHECK(nn::clip_grad_norm({p, q}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // under the bound: unchanged
  check_values(q.grad(), {0.8}, 1e-5);
  q.set_grad(tensor({-4}, {1}, DType::float32, g_device));
  nn::clip_grad_value({q}, 0.5);
  CHECK(q.grad().device() == g_device);
  check_values(q.grad(), {-0.5});
}

TEST_CASE("the Trainer with Adam trains on the device as on the cpu") {
  auto train = [](Device d) {
    nn::Dataset data = nn::spiral(20, 3, 1);
    Generator gen(2);
    nn::MLP model({2, 16, 3}, gen, "relu", nn::Init::he);
    nn::Adam opt(model.parameters(), 0.02);
    nn::DataLoader loader(data, {.batch_size = 20, .seed = 3});
    std::FILE* out = std::tmpfile();
    nn::Trainer trainer(model, opt, {.epochs = 5, .progress = false, .out = out, .device = d});
    const auto h = trainer.fit(loader);
    std::fclose(out);
    CHECK(model.parameters()[0].device() == d);
    return std::make_pair(h.front().loss, h.back().loss);
  };
  const auto cpu = train(Device::cpu()), dev = train(g_device);
  CHECK(dev.second < dev.first);
  CHECK(dev.first == doctest::Approx(cpu.first).epsilon(1e-5));
  CHECK(dev.second == doctest::Approx(cpu.second).epsilon(1e-5));
}

TEST_CASE("gather and scatter_add on the device: int64 gather, and bad indices read nothing, reported at the next copy") {
  const Tensor l = arange(0, 6, 1, DType::int64).reshape({2, 3});
  const Tensor idx = from_vector(std::vector<int64_t>{2, 0, 1, 1}, {2, 2});
  CHECK(gather(l.to(g_device), 1, idx.to(g_device)).to_vector<int64_t>() == gather(l, 1, idx).to_vector<int64_t>());
  const Tensor x = ones({2, 3}, DType::float32, g_device);
  const Tensor bad = from_vector(std::vector<int64_t>{0, 3, 1, 0}, {2, 2}).to(g_device);
  CHECK(error_of([&] { gather(x, 1, bad).to(Device::cpu()); }).starts_with("[gather] index 3 at position 1 is out of range [0, 3)"));
  const Tensor neg = from_vector(std::vector<int64_t>{0, 1, -1}, {1, 3}).to(g_device);
  CHECK(error_of([&] { scatter_add(x, 0, neg, ones({1, 3}, DType::float32, g_device)).to(Device::cpu()); })
            .starts_with("[scatter_add] index -1 at position 2 is out of range [0, 2)"));
  CHECK(sum(x).item<float>() == 6.0f);  // reported once: the record is clear again
}

}  // TEST_SUITE

TEST_CASE("random creation: one seed gives the same numbers on the device as on the cpu") {
  for (DType dtype : {DType::float32, DType::float64, DType::float16}) {
    INFO(dtype);
    Generator a(11), b(11);
    const Tensor on_cpu = randn({5, 7}, a, dtype, 0.5, 2.0), on_device = randn({5, 7}, b, dtype, 0.5, 2.0, g_device);
    CHECK(on_device.device() == g_device);
    CHECK(on_device.dtype() == dtype);
    CHECK(host_values(on_device) == host_values(on_cpu));
    CHECK(host_values(rand({9}, b, dtype, -1, 1, g_device)) == host_values(rand({9}, a, dtype, -1, 1)));
    CHECK(host_values(bernoulli({40}, 0.3, b, dtype, g_device)) == host_values(bernoulli({40}, 0.3, a, dtype)));
  }
  Generator a(5), b(5);
  const Tensor ints = randint({3, 4}, -2, 9, b, g_device);
  CHECK(ints.device() == g_device);
  CHECK(ints.to(Device::cpu()).to_vector<int64_t>() == randint({3, 4}, -2, 9, a).to_vector<int64_t>());
  const Tensor mask = bernoulli({1000}, 0.25, a, DType::int64, g_device);
  const double ones = sum(cast(mask, DType::float64)).to(Device::cpu()).item<double>();
  CHECK(ones > 200);
  CHECK(ones < 300);
  CHECK_THROWS_WITH_AS(bernoulli({2}, 1.5, a, DType::float32, g_device), doctest::Contains("0 <= p <= 1"), Error);
}

TEST_CASE("Dropout on the device: the masks are the cpu's, training and evaluation") {
  nn::Dropout on_cpu(0.4, 7), on_device(0.4, 7);
  const Tensor x = ones({6, 50});
  for (int call = 0; call < 3; ++call) {
    const Tensor y = on_device(x.to(g_device));
    CHECK(y.device() == g_device);
    CHECK(y.to(Device::cpu()).to_vector<float>() == on_cpu(x).to_vector<float>());
  }
  on_device.eval();
  CHECK(on_device(x.to(g_device)).to(Device::cpu()).to_vector<float>() == x.to_vector<float>());
}

namespace {
// A small classifier with every kind of state: parameters, BatchNorm's buffers, Dropout's generator.
std::shared_ptr<nn::Sequential> stateful_net(uint64_t seed, DType dtype = DType::float32, int64_t in = 4) {
  Generator gen(seed);
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Linear>(in, 16, gen, true, dtype));
  net->add(std::make_shared<nn::BatchNorm1d>(16, 1e-5, 0.1, true, dtype));
  net->add(nn::ReLU());
  net->add(std::make_shared<nn::Dropout>(0.3, seed + 1));
  net->add(std::make_shared<nn::Linear>(16, 3, gen, true, dtype));
  return net;
}
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / fmt::format("tapegrad_{}_{}", ::getpid(), name)).string();
}
}  // namespace

TEST_CASE("checkpoints: saved from a device model, loaded into a device or cpu model, dtype and optimiser state kept") {
  for (DType dtype : {DType::float32, DType::float64}) {
    INFO(dtype);
    Generator data(2);
    const Tensor x = randn({8, 4}, data, dtype), t = randint({8}, 0, 3, data);
    auto step = [&](nn::Module& m, nn::Optimizer& o) {
      o.zero_grad();
      softmax_cross_entropy(m(x.to(m.device())), t.to(m.device())).backward();
      o.step();
    };
    auto net = stateful_net(3, dtype);
    net->to(g_device);
    nn::Adam adam(net->parameters(), 0.01);
    step(*net, adam);
    const std::string path = temp_path("device.safetensors");
    nn::save_checkpoint(path, *net, &adam, {{"epoch", "1"}});
    for (Device into : {g_device, Device::cpu()}) {
      INFO("loaded into " << into);
      auto back = stateful_net(99, dtype);  // another initialisation: everything must come from the file
      back->to(into);
      nn::Adam adam2(back->parameters(), 0.01);
      CHECK(nn::load_checkpoint(path, *back, &adam2).at("epoch") == "1");
      CHECK(back->device() == into);
      const auto mine = net->named_parameters(), theirs = back->named_parameters();
      for (size_t i = 0; i < mine.size(); ++i) {
        CHECK(theirs[i].second.dtype() == dtype);
        CHECK(host_values(theirs[i].second) == host_values(mine[i].second));
      }
      const auto buffers = back->named_buffers();
      for (size_t i = 0; i < buffers.size(); ++i)
        CHECK(host_values(buffers[i].second) == host_values(net->named_buffers()[i].second));
      CHECK(back->named_extra_state() == net->named_extra_state());
      CHECK(adam2.steps() == 1);
    }
    std::filesystem::remove(path);
  }
}

TEST_CASE("the Trainer resumes a device run from its checkpoint exactly: dropout, shuffling, schedule, Adam") {
  nn::Dataset data = nn::spiral(30, 3, 4);
  const std::string path = temp_path("resume.safetensors");
  auto run = [&](int epochs, bool stop_after_2) {
    auto net = stateful_net(5, DType::float32, 2);
    nn::Adam adam(net->parameters(), 0.01);
    nn::DataLoader loader(data, {.batch_size = 16, .seed = 8});
    nn::TrainerOptions o{.epochs = epochs, .progress = false, .device = g_device};
    o.schedule = std::make_shared<nn::Warmup>(5, std::make_shared<nn::CosineAnnealing>(0.02, 40));
    o.schedule_per_iteration = true;
    o.checkpoint = path;
    if (stop_after_2) o.epochs = 2;
    nn::Trainer trainer(*net, adam, o);
    trainer.fit(loader, &data);
    if (stop_after_2) {  // a new process, as after a crash: fresh objects, another seed for everything
      auto again = stateful_net(77, DType::float32, 2);
      nn::Adam adam2(again->parameters(), 0.5);
      nn::DataLoader loader2(data, {.batch_size = 16, .seed = 123});
      o.epochs = epochs;
      nn::Trainer resumed(*again, adam2, o);
      resumed.resume(path, loader2);
      CHECK(resumed.history().size() == 2);
      const auto& h = resumed.fit(loader2, &data);
      CHECK(h.size() == static_cast<size_t>(epochs));
      return std::make_pair(again->named_parameters(), h.back());
    }
    return std::make_pair(net->named_parameters(), trainer.history().back());
  };
  const auto [straight, last] = run(4, false);
  const auto [resumed, last_resumed] = run(4, true);
  for (size_t i = 0; i < straight.size(); ++i) {
    INFO(straight[i].first);
    CHECK(resumed[i].second.device() == g_device);
    CHECK(resumed[i].second.to(Device::cpu()).to_vector<float>() == straight[i].second.to(Device::cpu()).to_vector<float>());
  }
  CHECK(last_resumed.loss == last.loss);
  CHECK(last_resumed.lr_end == last.lr_end);
  CHECK_THROWS_WITH_AS(
      [&] {
        auto net = stateful_net(1, DType::float32, 2);
        nn::Adam adam(net->parameters(), 0.01);
        nn::DataLoader loader(data, {.batch_size = 16});
        nn::Trainer t(*net, adam, {.epochs = 4, .progress = false, .device = g_device});
        t.resume(path, loader);  // the file is the end of epoch 4 of 4
      }(),
      doctest::Contains("nothing is left"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("autocast: products run in 16 bits with float32 in and out; gradients reach float32 weights") {
  Generator gen(21);
  const Tensor x = randn({6, 5}, gen, DType::float32, 0, 1, g_device), w = randn({5, 4}, gen, DType::float32, 0, 1, g_device);
  const Tensor b = randn({4}, gen, DType::float32, 0, 1, g_device);
  for (DType half : {DType::bfloat16, DType::float16}) {
    INFO(half);
    Tensor wl = w.detach().clone().requires_grad_(), bl = b.detach().clone().requires_grad_();
    Tensor y;
    {
      AutocastGuard autocast(half);
      CHECK(autocast_dtype() == half);
      y = affine(x, wl, bl);
      {
        AutocastGuard off(half, false);  // nests; the innermost wins
        CHECK(matmul(x, wl).dtype() == DType::float32);
        CHECK_FALSE(autocast_dtype());
      }
    }
    CHECK_FALSE(autocast_dtype());
    CHECK(y.dtype() == DType::float32);
    // the value is the product of the 16-bit operands, rounded to 16 bits once
    const Tensor want = cast(affine(cast(x, half), cast(w, half), cast(b, half)), DType::float32);
    CHECK(y.to(Device::cpu()).to_vector<float>() == want.to(Device::cpu()).to_vector<float>());
    sum(y * y).backward();
    REQUIRE(wl.grad().defined());
    CHECK(wl.grad().dtype() == DType::float32);
    CHECK(bl.grad().dtype() == DType::float32);
    // within 16-bit rounding of the float32 gradient
    Tensor wf = w.detach().clone().requires_grad_(), bf = b.detach().clone().requires_grad_();
    const Tensor yf = affine(x, wf, bf);
    sum(yf * yf).backward();
    const double scale = max(abs(wf.grad())).to(Device::cpu()).item<float>();
    CHECK(max(abs(wl.grad() - wf.grad())).to(Device::cpu()).item<float>() < 0.05 * scale);
  }
  CHECK_THROWS_WITH_AS(AutocastGuard(DType::float64), doctest::Contains("float16 or bfloat16"), Error);
  AutocastGuard on_cpu(DType::bfloat16);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2})), doctest::Contains("[matmul] autocast to bfloat16"), Error);
}

TEST_CASE("autocast: a conv net and an MLP train in bfloat16 with float32 master weights, float16 with loss scaling") {
  nn::Dataset data = nn::spiral(50, 3, 2);
  for (DType half : {DType::float32, DType::bfloat16, DType::float16}) {
    INFO(half);
    Generator gen(3);
    nn::MLP net({2, 32, 3}, gen, "relu", nn::Init::he);
    net.to(g_device);
    nn::Adam adam(net.parameters(), 0.03);
    nn::LossScaler scaler(nn::LossScalerOptions{.init_scale = half == DType::float16 ? 1024.0 : 1.0});
    const Tensor x = cast(data.x, DType::float32).to(g_device), t = data.t.to(g_device);
    double loss = 0;
    for (int step = 0; step < 300; ++step) {
      AutocastGuard autocast(half == DType::float32 ? DType::bfloat16 : half, half != DType::float32);
      Tensor l = softmax_cross_entropy(net(x), t);
      adam.zero_grad();
      scaler.scale(l).backward();
      scaler.step(adam);
      loss = l.to(Device::cpu()).item<float>();
    }
    CHECK(net.parameters()[0].dtype() == DType::float32);
    CHECK(loss < 0.3);
  }
  Generator gen(4);
  nn::Conv2d conv(1, 2, 3, gen);
  conv.to(g_device);
  const Tensor img = randn({2, 1, 5, 5}, gen, DType::float32, 0, 1, g_device);
  AutocastGuard autocast(DType::bfloat16);
  const Tensor y = conv(img);
  CHECK(y.dtype() == DType::float32);
  sum(y).backward();
  CHECK(conv.parameters()[0].grad().dtype() == DType::float32);
}

int main(int argc, char** argv) {
  // These calls must answer without throwing, GPU or not.
  const int n = cuda::device_count();
  const char* want = std::getenv("TAPEGRAD_TEST_DEVICE");
  if (want && std::string(want) == "cuda_host") {
    g_device = Device::cuda_host();
    try {
      backend(g_device, "test_cuda");
    } catch (const Error& e) {
      fmt::print("SKIPPED: {}\n", e.what());
      return 77;
    }
  } else if (!cuda::is_available()) {
    fmt::print("SKIPPED: {} (device_count() = {})\n", cuda::unavailable_reason(), n);
    return 77;
  }
  fmt::print("testing on {}\n", g_device);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
