// tapegrad: reverse-mode automatic differentiation with a dynamic tape.
// One include for the whole autograd API.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include "atomic_file.hpp"
#include "autocast.hpp"
#include "check.hpp"
#include "dtype.hpp"
#include "dump.hpp"
#include "error.hpp"
#include "function.hpp"
#include "functional.hpp"
#include "ops.hpp"
#include "ops/op.hpp"  // the op index: op_name, op_info, all_ops
#include "parallel.hpp"
#include "tape.hpp"
#include "tensor.hpp"

#endif  // TAPEGRAD_CXX20
