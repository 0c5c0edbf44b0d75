// A doctest assertion for users' own test suites: CHECK_GRADIENTS(fn, inputs)
// runs ag::gradcheck and, on failure, prints its report as the message.
//
//   TEST_CASE("my node's gradient") {
//     ag::TensorFn f = [](std::span<const ag::Tensor> x) { return my_node(x[0]); };
//     ag::Tensor in[1] = {ag::tensor({0.5, -1.5}, {2}, ag::DType::float64)};
//     CHECK_GRADIENTS(f, in);
//   }
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <doctest/doctest.h>

#include "check.hpp"

// Checks fn's gradients at inputs (and, with _OPTS, the given GradcheckOptions).
#define CHECK_GRADIENTS_OPTS(fn, inputs, opts)                        \
  do {                                                                \
    const ::ag::GradcheckReport ag_report_ = ::ag::gradcheck((fn), (inputs), (opts)); \
    CHECK_MESSAGE(ag_report_.ok, ag_report_.to_string());             \
  } while (0)
#define CHECK_GRADIENTS(fn, inputs) CHECK_GRADIENTS_OPTS(fn, inputs, ::ag::GradcheckOptions{})
// The same for second derivatives.
#define CHECK_GRADGRADIENTS(fn, inputs)                                   \
  do {                                                                    \
    const ::ag::GradcheckReport ag_report_ = ::ag::gradgradcheck((fn), (inputs)); \
    CHECK_MESSAGE(ag_report_.ok, ag_report_.to_string());                 \
  } while (0)

#endif  // TAPEGRAD_CXX20
