// Small helpers shared by the tests.
#pragma once

#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "autograd/ops/op.hpp"  // the op index: tests generated from its rows
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

// Note [One subcase per op]: the table-driven suites (every op x dtype x order,
// on one device) run each entry as its own doctest subcase, so a failure names
// its entry and `--subcase="sigmoid *"` runs one op. doctest re-enters the test
// case once per subcase (names must differ, so each names its op, dtype and
// order), and an exception that leaves a subcase ends the whole test case,
// skipping every later entry. op_case therefore catches it: a missing kernel or
// a failed REQUIRE fails its own entry, and the loop goes on. Assertions outside
// op_case run once per entry, so the tests keep theirs inside.

// Runs body as the subcase `name`; an exception fails this subcase, naming it.
template <class Body>
void op_case(const std::string& name, Body&& body) {
  SUBCASE(name.c_str()) {
    try {
      body();
    } catch (const doctest::detail::TestFailureException&) {
      // a REQUIRE failed and has reported itself
    } catch (const std::exception& e) {
      FAIL_CHECK(name << " threw: " << std::string(e.what()));
    } catch (...) {
      FAIL_CHECK(name << " threw an exception that is not a std::exception");
    }
  }
}
