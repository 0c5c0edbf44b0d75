// The CPU matrix product behind MatMul and Affine: one row-major GEMM with a
// backend picked per shape class (Note [GEMM backend] in gemm.cpp), or forced
// with TAPEGRAD_GEMM=openblas|dnnl|auto.
#pragma once

#include <cstdint>
#include <string>

namespace ag::cpu {

enum class GemmBackend { automatic, openblas, dnnl };

// C = op(A) op(B) + beta C, row-major: op(A) is m x k, op(B) k x n, C m x n;
// lda, ldb, ldc are the row strides of A, B and C as stored.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double beta, double* c, int64_t ldc);

// The same through one backend, as TAPEGRAD_GEMM=name would run it (automatic:
// the rule). Double products always run on OpenBLAS. ag::Error if not built.
void gemm_with(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_with(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// The backend a value of TAPEGRAD_GEMM names (null or empty: automatic); ag::Error
// naming the variable, the value and the built backends if unknown or not built.
GemmBackend gemm_backend_from(const char* value);
const char* gemm_backend_name(GemmBackend backend);
bool gemm_backend_built(GemmBackend backend);
// "openblas, dnnl, ...": the backends this build has.
std::string gemm_backends_built();

// OpenBLAS's kernels, e.g. "SkylakeX" (Note [OpenBLAS core detection] in gemm.cpp).
std::string openblas_core();
// What runs the products here, for benchmarks and bug reports, e.g.
// "float products on dnnl 2.6.3, double on OpenBLAS SkylakeX".
std::string gemm_info();

// Called by ag::set_num_threads: the thread count of the libraries that run their own threads.
void gemm_set_num_threads(int n);

}  // namespace ag::cpu
