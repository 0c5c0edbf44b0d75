// Small helpers shared by the tests.
#pragma once

#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include "autograd/tapegrad.hpp"

// Element-wise closeness of a tensor to expected values (any floating dtype).
inline void check_values(const ag::Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("flat index " << i);
    CHECK(t.value_at(static_cast<int64_t>(i)) == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
  }
}

// Runs f and returns the exception message it throws (empty when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ag::Error& e) {
    return e.what();
  }
  return "";
}

// Counts the nodes of one op on this thread's live tape.
inline int count_nodes(ag::Op op) {
  auto g = ag::current_graph();
  int n = 0;
  if (g)
    for (const auto& node : g->nodes) n += node.op == op;
  return n;
}
