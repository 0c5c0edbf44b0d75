// tapegrad: reverse-mode automatic differentiation with a dynamic tape.
// One include for the whole autograd API.
#pragma once

#include "autograd/atomic_file.hpp"
#include "autograd/check.hpp"
#include "autograd/dtype.hpp"
#include "autograd/dump.hpp"
#include "autograd/error.hpp"
#include "autograd/function.hpp"
#include "autograd/functional.hpp"
#include "autograd/ops.hpp"
#include "autograd/parallel.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"
