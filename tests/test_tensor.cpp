#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "helpers.hpp"

using namespace ag;

TEST_SUITE("tensor") {

TEST_CASE("creation: zeros, ones, full, arange and values keep shape and dtype") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::float32);
  CHECK(z.numel() == 6);
  check_values(z, {0, 0, 0, 0, 0, 0});
  Tensor o = ones({4}, DType::float64);
  CHECK(o.dtype() == DType::float64);
  check_values(o, {1, 1, 1, 1});
  check_values(full({2}, 2.5), {2.5, 2.5});
  check_values(arange(0, 5), {0, 1, 2, 3, 4});
  check_values(arange(1, 2, 0.25, DType::float64), {1, 1.25, 1.5, 1.75});
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.at<float>({1, 2}) == 6.0f);
  CHECK(t.at<float>({0, 1}) == 2.0f);
  CHECK(scalar(3.0).item<float>() == 3.0f);
  CHECK(scalar(3.0).dim() == 0);
  CHECK(tensor({1, 2, 3}).shape() == Shape{3});
}

TEST_CASE("creation: wrong value counts and bad ranges are errors") {
  CHECK(error_of([] { tensor({1, 2, 3}, {2, 2}); }).find("3 values do not fill shape (2, 2)") != std::string::npos);
  CHECK(error_of([] { arange(0, 1, 0); }).find("[arange]") == 0);
  CHECK(error_of([] { zeros({2, -1}); }).find("negative size") != std::string::npos);
  CHECK(error_of([] { tensor({1, 2}).at<float>({2}); }).find("out of range") != std::string::npos);
  CHECK(error_of([] { tensor({1, 2}).at<double>({0}); }).find("holds float32 but float64") != std::string::npos);
  CHECK(error_of([] { Tensor().shape(); }).find("undefined tensor") != std::string::npos);
}

TEST_CASE("random: the same seed gives the same numbers, another seed others") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = randn({100}, g1), b = randn({100}, g2), c = randn({100}, g3);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  // normal(0, 1): the sample mean and variance are close to 0 and 1
  Generator g(7);
  Tensor big = randn({20000}, g, DType::float64);
  double m = mean(big).item<double>();
  double v = mean((big - m) * (big - m)).item<double>();
  CHECK(std::abs(m) < 0.03);
  CHECK(std::abs(v - 1.0) < 0.05);
  Tensor u = rand({1000}, g, DType::float64, -1.0, 3.0);
  CHECK(min(u).item<double>() >= -1.0);
  CHECK(max(u).item<double>() < 3.0);
  Tensor i = randint({1000}, 0, 5, g);
  CHECK(i.dtype() == DType::int64);
  CHECK(min(cast(i, DType::float64)).item<double>() == 0.0);
  CHECK(max(cast(i, DType::float64)).item<double>() == 4.0);
}

TEST_CASE("random: seed 42 gives the same numbers on every run and platform") {
  // Boost.Random's mt19937_64 and its distributions are specified exactly, so
  // these golden values hold wherever the library builds.
  Generator g(42);
  check_values(randn({3}, g, DType::float64), {-0.69018591622748071, -0.80723593464514476, -2.1769669541929053}, 1e-15);
  check_values(rand({2}, g, DType::float64), {0.13627268363243711, 0.90326896642837828}, 1e-15);
  CHECK(randint({3}, 0, 100, g).to_vector<int64_t>() == std::vector<int64_t>{9, 57, 37});
}

TEST_CASE("printing: fmt shows values, shape and dtype like NumPy") {
  Tensor t = tensor({1, -2.5, 3, 4}, {2, 2});
  CHECK(fmt::format("{}", t) ==
        "tensor([[ 1.0000, -2.5000],\n"
        "        [ 3.0000,  4.0000]], shape=(2, 2), dtype=float32)");
  CHECK(fmt::format("{}", arange(0, 3, 1, DType::int64)) == "tensor([0, 1, 2], shape=(3,), dtype=int64)");
  CHECK(fmt::format("{}", scalar(0.5, DType::float64)) == "tensor(0.5000, shape=(), dtype=float64)");
  Tensor w = ones({2}).requires_grad_();
  CHECK(fmt::format("{}", w).find("requires_grad=true") != std::string::npos);
}

TEST_CASE("printing: large tensors are elided") {
  std::string s = fmt::format("{}", arange(0, 5000));
  CHECK(s.find("...") != std::string::npos);
  CHECK(s.find("4999.0000") != std::string::npos);
  CHECK(s.find("2500.0000") == std::string::npos);
  CHECK(s.size() < 200);
  std::string m = fmt::format("{}", zeros({100, 100}));
  CHECK(m.find("shape=(100, 100)") != std::string::npos);
  CHECK(m.size() < 1000);
}

TEST_CASE("in-place ops update values and bump the version") {
  Tensor a = tensor({1, 2, 3});
  uint32_t v0 = a.version();
  a.add_(tensor({1, 1, 1}), 2.0);
  check_values(a, {3, 4, 5});
  CHECK(a.version() == v0 + 1);
  a.mul_(2.0);
  check_values(a, {6, 8, 10});
  a.sub_(tensor({1, 1, 1}));
  check_values(a, {5, 7, 9});
  a.mul_(tensor({0, 1, 2}));
  check_values(a, {0, 7, 18});
  a.zero_();
  check_values(a, {0, 0, 0});
  CHECK(a.version() == v0 + 5);
  CHECK(error_of([&] { a.add_(ones({2})); }).find("[add_] shapes/dtypes differ") == 0);
}

TEST_CASE("in-place update of a parameter while recording is refused") {
  Tensor w = ones({3}).requires_grad_();
  CHECK(error_of([&] { w.add_(ones({3})); }).find("NoGradGuard") != std::string::npos);
  NoGradGuard guard;
  w.add_(ones({3}));
  check_values(w, {2, 2, 2});
}

TEST_CASE("reshape is a view sharing storage and version; -1 is inferred") {
  Tensor a = arange(0, 6);
  Tensor b = reshape(a, {2, -1});
  CHECK(b.shape() == Shape{2, 3});
  b.add_(ones({2, 3}));
  check_values(a, {1, 2, 3, 4, 5, 6});
  CHECK(a.version() == b.version());
  CHECK(squeeze(unsqueeze(a, 0), 0).shape() == Shape{6});
  CHECK(unsqueeze(a, -1).shape() == Shape{6, 1});
  CHECK(flatten(zeros({2, 3, 4})).shape() == Shape{2, 12});
}

TEST_CASE("detach shares data but leaves the tape; clone copies") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  Tensor c = y.clone();
  CHECK(c.requires_grad());
  {
    NoGradGuard g;
    d.mul_(0.0);
  }
  check_values(y, {0, 0});  // same storage as d
}

TEST_CASE("bytes: the raw row-major elements of a cpu tensor, readable and writable") {
  Tensor x = tensor({1, 2, 3}, {3}, DType::float64);
  const Tensor& cx = x;
  CHECK(cx.bytes().size() == 3 * sizeof(double));
  CHECK(static_cast<const void*>(cx.bytes().data()) == static_cast<const void*>(x.data<double>()));
  const double four = 4;
  std::memcpy(x.bytes().data() + sizeof(double), &four, sizeof four);
  check_values(x, {1, 4, 3});
  CHECK(tensor({1, 2}, {2}, DType::int64).bytes().size() == 16);
}

TEST_CASE("move_to_: the same tensor in place; a no-op on its own device; a non-leaf is an error") {
  Tensor w = tensor({1, 2}).requires_grad_().set_name("w");
  sum(w * w).backward();
  Tensor alias = w;
  w.move_to_(Device::cpu());  // already there: nothing changes, the gradient stays
  CHECK(alias.grad().defined());
  CHECK(alias.impl() == w.impl());
  Tensor y = w * 2.0;
  CHECK(error_of([&] { y.move_to_(Device::cuda_host()); }).find("[move_to_] this tensor ((2,) float32, computed by "
                                                                "mul_scalar) is not a leaf") == 0);
}

TEST_CASE("parallel_for: every index once, for any thread count and grain; nested loops run serially") {
  const int before = num_threads();
  for (int threads : {1, 2, 3, 4}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 99, 100, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(n, 100, [&](int64_t b, int64_t e) {
        CHECK(b < e);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        parallel_for(e - b, 10, [&](int64_t bb, int64_t ee) { CHECK(bb <= ee); });  // nested: serial, no deadlock
      });
      for (int64_t i = 0; i < n; ++i) REQUIRE(hits[static_cast<size_t>(i)] == 1);
    }
  }
  set_num_threads(before);
  CHECK_THROWS_WITH_AS(set_num_threads(0), doctest::Contains("[set_num_threads] needs at least 1 thread, got 0"),
                       ag::Error);
}

TEST_CASE("parallel_for: back-to-back jobs of different sizes never share a chunk or lose one") {
  // Note [Worker pool]: a worker still claiming from the previous job used to read the next job's
  // fields without the lock (a data race; ThreadSanitizer flags it) and could take or count its chunks
  const int before = num_threads();
  set_num_threads(4);
  int64_t wrong = 0;
  for (int job = 0; job < 3000; ++job) {
    const int64_t n = 200 + (job % 7) * 100;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 50, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (auto& h : hits) wrong += h != 1;
  }
  set_num_threads(before);
  CHECK(wrong == 0);
}

TEST_CASE("elementwise kernels give the same values on one thread and on several") {
  Generator gen(11);
  Tensor x = randn({1 << 18}, gen, DType::float32, 0.0, 10.0), w = randn({1 << 18}, gen);
  const int before = num_threads();
  set_num_threads(1);
  std::vector<float> y1 = sigmoid(x).to_vector<float>(), z1 = (x * w + w).to_vector<float>();
  set_num_threads(3);
  CHECK(sigmoid(x).to_vector<float>() == y1);
  CHECK((x * w + w).to_vector<float>() == z1);
  set_num_threads(before);
}

TEST_CASE("sigmoid float32: within 2 ulp-ish of the float64 value everywhere, 0 and 1 at the ends") {
  std::vector<float> xs;
  for (float v = -120.0f; v <= 120.0f; v += 0.01953125f) xs.push_back(v);
  Tensor y = sigmoid(from_vector(xs, {static_cast<int64_t>(xs.size())}));
  const float* p = y.data<float>();
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double ref = 1.0 / (1.0 + std::exp(-static_cast<double>(xs[i])));
    REQUIRE(std::isfinite(p[i]));
    REQUIRE(p[i] >= 0.0f);
    REQUIRE(p[i] <= 1.0f);
    if (ref > 1e-30) worst = std::max(worst, std::abs(p[i] - ref) / ref);
  }
  CHECK(worst < 5e-7);
  CHECK(sigmoid(scalar(1000.0)).item<float>() == 1.0f);
  CHECK(sigmoid(scalar(-1000.0)).item<float>() < 1e-37f);
}

TEST_CASE("storage: freed large blocks are cached for reuse and released on request") {
  cpu_pool_release();
  CHECK(cpu_pool_cached_bytes() == 0);
  const void* first;
  {
    Tensor big = empty({3 << 20});  // 12 MiB: above the small-block pool
    first = big.data<float>();
  }
  CHECK(cpu_pool_cached_bytes() >= size_t{12} << 20);
  {
    Tensor again = empty({3 << 20});
    CHECK(again.data<float>() == first);  // the same warm block, no new mapping
  }
  cpu_pool_release();
  CHECK(cpu_pool_cached_bytes() == 0);
}


// Every bit pattern of a 16-bit type H converts to float and back unchanged;
// and between each finite value and the next one away from zero, the midpoint
// (exact in float) rounds to the even one of the two, and anything nearer rounds
// to the nearer. `last` is the bit pattern of the largest finite value.
template <class H> int check_rounding(uint16_t last) {
  int checked = 0;
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = H::from_bits(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      CHECK(std::isnan(static_cast<float>(H(f))));
      continue;
    }
    REQUIRE(H(f).bits == b);
    if ((b & 0x7fff) >= last) continue;  // the largest finite and inf have no finite successor
    const float next = H::from_bits(static_cast<uint16_t>(b + 1));
    const float mid = f + (next - f) / 2;
    CHECK(H(mid).bits == ((b & 1) ? b + 1 : b));
    CHECK(H(std::nextafter(mid, f)).bits == b);
    CHECK(H(std::nextafter(mid, next)).bits == b + 1);
    ++checked;
  }
  return checked;
}

TEST_CASE("Half converts every float16 value exactly and rounds floats to the nearest, ties to even") {
  CHECK(check_rounding<Half>(0x7bff) > 60000);
  CHECK(Half(65504.0f).bits == 0x7bff);
  CHECK(Half(65519.0f).bits == 0x7bff);  // below the midpoint to "65536": the largest finite
  CHECK(std::isinf(static_cast<float>(Half(65520.0f))));
  CHECK(static_cast<float>(Half(5.9604644775390625e-8f)) == 5.9604644775390625e-8f);  // the smallest subnormal
  CHECK(static_cast<float>(Half(2.9e-8f)) == 0.0f);
}

TEST_CASE("BFloat16 converts every value exactly and rounds floats to the nearest, ties to even") {
  CHECK(check_rounding<BFloat16>(0x7f7f) > 60000);
  CHECK(static_cast<float>(BFloat16(3.0e38f)) == doctest::Approx(3.0e38).epsilon(4e-3));
}

TEST_CASE("float16 and bfloat16 on the cpu: created, cast, printed and saved; computing with them is a clear error") {
  Tensor x = tensor({1.0, 0.1, -2.5, 1e-3}, {4});
  Tensor h = cast(x, DType::float16), b = cast(x, DType::bfloat16);
  CHECK(h.dtype() == DType::float16);
  CHECK(dtype_size(h.dtype()) == 2);
  check_values(cast(h, DType::float64), {1.0, 0.0999755859375, -2.5, 0.0010004043579101562}, 1e-12);
  check_values(cast(b, DType::float64), {1.0, 0.10009765625, -2.5, 0.00099945068359375}, 1e-12);
  CHECK(to_string(h) == "tensor([ 1.0000,  0.1000, -2.5000,  0.0010], shape=(4,), dtype=float16)");
  CHECK(zeros({2}, DType::bfloat16).value_at(1) == 0.0);
  CHECK(full({2}, 0.1, DType::float16).value_at(0) == 0.0999755859375);
  CHECK(randn({8}, *std::make_unique<Generator>(1), DType::float16).dtype() == DType::float16);
  CHECK(error_of([&] { add(h, h); }) ==
        "[add] no kernel for float16 tensors on cpu: 16-bit floats are storage for device tensors; cast to "
        "float32 on the cpu, or compute on a device");
}

}  // TEST_SUITE
