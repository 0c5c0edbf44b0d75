// Bad input gets a clear error that names the op and the shapes or values.
#include "helpers.hpp"

using namespace ag;

TEST_SUITE("errors") {

TEST_CASE("matmul: inner dimensions that do not align") {
  CHECK(error_of([] { matmul(ones({2, 3}), ones({4, 5})); }) ==
        "[matmul] inner dimensions differ: lhs (2, 3), rhs (4, 5)");
  CHECK(error_of([] { matmul(ones({3}), ones({3, 2})); }).find("[matmul] needs operands with at least 2 axes") == 0);
}

TEST_CASE("mixing dtypes is an error unless a cast is recorded") {
  std::string msg = error_of([] { ones({2}) + ones({2}, DType::float64); });
  CHECK(msg.find("[add] dtypes differ: lhs (2,) float32, rhs (2,) float64") == 0);
  CHECK(msg.find("ag::cast") != std::string::npos);
  CHECK(error_of([] { ones({2}) + cast(ones({2}, DType::float64), DType::float32); }).empty());
}

TEST_CASE("shapes that cannot broadcast") {
  CHECK(error_of([] { ones({2, 3}) * ones({4, 3}); }) ==
        "[mul] shapes (2, 3) and (4, 3) cannot broadcast: sizes 2 and 4 at axis 0 differ and neither is 1");
}

TEST_CASE("axes, reshapes and slices out of range") {
  CHECK(error_of([] { sum(ones({2, 3}), {2}); }) == "[sum] axis 2 is out of range for a tensor with 2 axes");
  CHECK(error_of([] { reshape(ones({2, 3}), {4, 2}); }) ==
        "[reshape] cannot reshape (2, 3) (6 elements) to (4, 2) (8 elements)");
  CHECK(error_of([] { repeat(ones({2, 3}), 0, 4); }).find("[repeat] copies an axis of size 1") == 0);
  CHECK(error_of([] { slice(ones({4}), 0, 0, 4, 0); }) == "[slice] needs a positive step, got 0");
  CHECK(error_of([] { permute(ones({2, 3}), {0, 0}); }).find("[permute]") == 0);
  CHECK(error_of([] { concat({ones({2, 3}), ones({2, 4})}, 0); }).find("[concat] tensor 1 has shape (2, 4)") == 0);
}

TEST_CASE("indices and labels out of range name the value and its position") {
  Tensor idx = from_vector(std::vector<int64_t>{0, 7}, {2});
  CHECK(error_of([&] { index_select(ones({3, 2}), idx); }) ==
        "[index_select] index 7 at position 1 is out of range [0, 3)");
  CHECK(error_of([&] { softmax_cross_entropy(ones({2, 3}), idx); }) ==
        "[softmax_cross_entropy] label 7 at row 1 is out of range [0, 3)");
  CHECK(error_of([&] { softmax_cross_entropy(ones({2, 3}), ones({2})); }).find("[softmax_cross_entropy]") == 0);
  CHECK(error_of([&] { one_hot(idx, 3); }) == "[one_hot] label 7 at position 1 is out of range [0, 3)");
  CHECK(error_of([&] { index_select(ones({3, 2}), ones({2})); }).find("needs int64 indices") != std::string::npos);
}

TEST_CASE("loss inputs: shapes and domains") {
  CHECK(error_of([] { mse(ones({3}), ones({3, 1})); }) ==
        "[mse] prediction and target shapes differ: (3,) and (3, 1); reshape one so they match");
  CHECK(error_of([] { bce(tensor({0.5, 1.5}), tensor({0, 1})); }).find("[bce] probabilities must lie in [0, 1], got 1.5") ==
        0);
}

TEST_CASE("float ops refuse integer tensors; integer tensors cannot require grad") {
  Tensor i = arange(0, 3, 1, DType::int64);
  CHECK(error_of([&] { sigmoid(i); }) == "[sigmoid] needs a floating input, got an int64 tensor of shape (3,)");
  CHECK(error_of([&] { i.requires_grad_(); }).find("cannot require grad") != std::string::npos);
}

TEST_CASE("an undefined tensor is an error, not a crash") {
  Tensor u;
  CHECK(error_of([&] { u.requires_grad_(); }).find("undefined tensor") != std::string::npos);
  CHECK(error_of([&] { u.numel(); }).find("undefined tensor") != std::string::npos);
  CHECK(error_of([&] { (void)(u + ones({1})); }).find("undefined tensor") != std::string::npos);
}

TEST_CASE("float labels say that labels must be int64 class indices") {
  const std::string want =
      "labels must be int64 class indices: got float32 of shape (3,); pass tensor(..., DType::int64) or "
      "cast(t, DType::int64)";
  CHECK(error_of([] { softmax_cross_entropy(ones({3, 4}), tensor({0, 2, 1})); }) == "[softmax_cross_entropy] " + want);
  CHECK(error_of([] { nll(log_softmax(ones({3, 4}), 1), tensor({0, 2, 1})); }) == "[nll] " + want);
  // float64 labels for float32 logits: the labels message, not a dtype mismatch
  CHECK(error_of([] { softmax_cross_entropy(ones({3, 4}), tensor({0, 2, 1}, {3}, DType::float64)); })
            .find("[softmax_cross_entropy] labels must be int64 class indices: got float64 of shape (3,)") == 0);
  // a dense target of the wrong shape keeps its own message
  CHECK(error_of([] { softmax_cross_entropy(ones({3, 4}), ones({3, 2})); })
            .find("[softmax_cross_entropy] a dense target must have the logits' shape (3, 4)") == 0);
  CHECK(error_of([] { softmax_cross_entropy(ones({3, 4}), tensor({0, 2, 1}, {3}, DType::int64)); }).empty());
}

TEST_CASE(".grad() without a gradient prints why and what to do") {
  Tensor w = ones({2}).requires_grad_();
  std::string before = fmt::format("{}", w.grad());
  CHECK(before.find("tensor(undefined: no gradient yet") == 0);
  CHECK(before.find("call backward()") != std::string::npos);
  CHECK_FALSE(w.grad().defined());

  Tensor h = w * 3.0;
  std::string intermediate = fmt::format("{}", h.grad());
  CHECK(intermediate.find("tensor(undefined: this tensor ((2,) float32, computed by mul_scalar) is not a leaf") == 0);
  CHECK(intermediate.find("retain_grad()") != std::string::npos);

  Tensor c = ones({2});
  std::string constant = fmt::format("{}", c.grad());
  CHECK(constant.find("does not require grad; call requires_grad_()") != std::string::npos);

  Tensor k = w * 2.0;
  k.retain_grad();
  CHECK(fmt::format("{}", k.grad()).find("retain_grad() is set; call backward()") != std::string::npos);

  // using it in an op reports the same reason
  CHECK(error_of([&] { (void)(w.grad() * 2.0); })
            .find("[tensor] use of an undefined tensor, a .grad(): no gradient yet") == 0);

  sum(h + k).backward();
  CHECK(w.grad().defined());
  CHECK(k.grad().defined());
  CHECK(fmt::format("{}", h.grad()).find("is not a leaf") != std::string::npos);
  CHECK(fmt::format("{}", Tensor()) == "tensor(undefined)");
}

TEST_CASE("W = W - lr * W.grad() while recording is caught where it bites") {
  Tensor W = ones({2, 2}).requires_grad_().set_name("W");
  sum(W * W).backward();
  W = W - 0.1 * W.grad();  // recorded: W is now the output of a sub, not the leaf backward fills
  CHECK_FALSE(W.is_leaf());
  std::string msg = error_of([&] { W.zero_grad(); });
  CHECK(msg.find("[zero_grad] this tensor ((2, 2) float32, computed by sub) is not a leaf") == 0);
  CHECK(msg.find("W = W - lr * W.grad()") != std::string::npos);
  CHECK(msg.find("NoGradGuard") != std::string::npos);
  // the next step's W.grad() says the same
  sum(W * W).backward();
  msg = error_of([&] { W = W - 0.1 * W.grad(); });
  CHECK(msg.find("[tensor] use of an undefined tensor, a .grad(): this tensor ((2, 2) float32) is not a leaf") == 0);
  CHECK(msg.find("update the leaf in place inside a NoGradGuard scope") != std::string::npos);
  // zero_grad on a non-leaf that keeps its gradient is fine
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * 2.0;
  y.retain_grad();
  CHECK(error_of([&] { y.zero_grad(); }).empty());
}

TEST_CASE("tensor() and from_vector() agree: {} is the 0-d shape, one value") {
  CHECK(tensor({5}, {}).shape() == Shape{});
  CHECK(from_vector(std::vector<double>{5}, {}).shape() == Shape{});
  CHECK(tensor({1, 2, 3}).shape() == Shape{3});
  const std::string want =
      "[tensor] 3 values do not fill shape () (the 0-d shape {} holds one value); for a 1-d tensor pass the shape {3}";
  CHECK(error_of([] { tensor({1, 2, 3}, {}); }) == want);
  CHECK(error_of([] { tensor({1, 2, 3}, {}, DType::float64); }) == want);
  CHECK(error_of([] { from_vector(std::vector<double>{1, 2, 3}, {}); }) == want);
  CHECK(error_of([] { from_vector(std::vector<int64_t>{1, 2, 3}, {}); }) == want);
  CHECK(error_of([] { tensor({1, 2, 3}, {2, 2}); }) == "[tensor] 3 values do not fill shape (2, 2) (4 elements)");
}

TEST_CASE("backward misuse") {
  CHECK(error_of([] { ones({1}).backward(); }).find("does not require grad") != std::string::npos);
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK(error_of([&] { y.backward(ones({3})); }).find("upstream gradient has shape (3,)") != std::string::npos);
  CHECK(error_of([&] { (y * 1.0).requires_grad_(); }).find("[requires_grad_] only leaves") == 0);
}

TEST_CASE("sizes: a shape whose element or byte count overflows is an error, not a small buffer") {
  // Note [Checked sizes]: 2^62 float32 elements are 2^64 bytes, which used to wrap to 0
  const int64_t big = int64_t{1} << 62;
  CHECK(error_of([&] { zeros({big}); }).find("[empty] shape (4611686018427387904,) of float32 needs more than 2^64 bytes") == 0);
  CHECK(error_of([&] { ones({big + 1}); }).find("[empty]") == 0);
  CHECK(error_of([&] { empty({big}, DType::float16); }).find("above the allocation limit") != std::string::npos);
  CHECK(error_of([] { empty({int64_t{1} << 32, int64_t{1} << 32}); })
            .find("[empty] shape (4294967296, 4294967296) has more elements than int64 can count") == 0);
  CHECK(error_of([] { empty({int64_t{1} << 61, 8}, DType::float64); }).find("more elements than int64") != std::string::npos);
  CHECK(error_of([&] { repeat(ones({1, 2}), 0, big); }).find("[repeat] shape (4611686018427387904, 2)") == 0);
  CHECK(error_of([] { empty({-1, 2}); }).find("[empty] negative size in shape (-1, 2)") == 0);
  // a zero anywhere makes an empty tensor, whatever the other sizes
  CHECK(empty({0, int64_t{1} << 62, int64_t{1} << 62}).numel() == 0);
}

TEST_CASE("sizes: the allocation ceiling turns absurd sizes into an error before allocating") {
  CHECK(max_alloc_bytes() > 0);
  set_max_alloc_bytes(1024);
  CHECK(error_of([] { zeros({257}); }) ==
        "[empty] shape (257,) of float32 needs 1028 bytes, above the allocation limit of 1024 bytes (physical memory "
        "by default; see ag::set_max_alloc_bytes); use smaller sizes");
  CHECK(zeros({256}).numel() == 256);
  set_max_alloc_bytes(0);
  CHECK(zeros({257}).numel() == 257);
}

TEST_CASE("sizes: slice, reshape, concat and arange do not overflow") {
  // slice with a huge step takes the first element (the count used to overflow to 0)
  Tensor s = slice(arange(0, 4), 0, 0, 4, INT64_MAX);
  CHECK(s.shape() == Shape{1});
  CHECK(s.value_at(0) == 0.0);
  CHECK(slice(arange(0, 4), 0, 1, 4, INT64_MAX - 1).shape() == Shape{1});
  CHECK(error_of([] { reshape(ones({4}), {int64_t{1} << 32, int64_t{1} << 32, -1}); })
            .find("[reshape] shape (4294967296, 4294967296, -1) has more elements than int64 can count") == 0);
  CHECK(error_of([] { reshape(ones({4}), {int64_t{1} << 32, int64_t{1} << 32}); }).find("[reshape]") == 0);
  CHECK(error_of([] { arange(0, 1e300, 1e-300); }).find("[arange] [0, 1e+300) in steps of 1e-300 has") == 0);
}

TEST_CASE("float to int64 conversions: NaN, inf and out-of-range values are errors") {
  CHECK(error_of([] { cast(full({2}, NAN), DType::int64); }).find("[cast] element 0 is nan, which int64 cannot hold") == 0);
  CHECK(error_of([] { cast(tensor({1, 1e30}), DType::int64); }).find("[cast] element 1 is 1.0000000150474662e+30") == 0);
  CHECK(error_of([] { cast(tensor({-INFINITY}, {1}, DType::float64), DType::int64); }).find("[cast] element 0 is -inf") == 0);
  CHECK(error_of([] { full({2}, NAN, DType::int64); }).find("[full] fill value nan cannot be converted to int64") == 0);
  CHECK(error_of([] { scalar(1e30, DType::int64); }).find("[full] fill value 1e+30 cannot") == 0);
  CHECK(error_of([] { tensor({1e19}, {1}, DType::int64); }).find("[tensor] value 1e+19 cannot") == 0);
  CHECK(error_of([] { zeros({2}, DType::int64).fill_(INFINITY); }).find("[fill_] fill value inf") == 0);
  // the edges of int64's range
  CHECK(cast(tensor({-9223372036854775808.0, 9223372036854774784.0}, {2}, DType::float64), DType::int64)
            .to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, 9223372036854774784});
  CHECK(error_of([] { cast(tensor({9223372036854775808.0}, {1}, DType::float64), DType::int64); }).find("[cast]") == 0);
  CHECK(cast(tensor({-2.7, 2.7}), DType::int64).to_vector<int64_t>() == std::vector<int64_t>{-2, 2});
}

}  // TEST_SUITE
