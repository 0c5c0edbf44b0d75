// OpenBLAS's set-up (openblas.cpp, Note [OpenBLAS core detection]).
#pragma once

#include <string>

namespace ag::cpu {

// Which OpenBLAS kernels this process runs, e.g. "OpenBLAS SkylakeX".
std::string blas_core();

}  // namespace ag::cpu
