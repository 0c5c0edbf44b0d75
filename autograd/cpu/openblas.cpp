// OpenBLAS's set-up: the CPU kernels it runs.
//
// Note [OpenBLAS core detection]: Debian 12's OpenBLAS (0.3.21, built with
// DYNAMIC_ARCH) picks its kernels by the CPU's family and model number when it
// loads. CPUs newer than that release (an Emerald Rapids Xeon, family 6 model
// 207, on our build machines) are not in its table, and it falls back to its
// "Prescott" kernels: SSE3, a fifth of the speed of its AVX-512 ones
// (sgemm 1024² on one core: 28 vs 138 GFLOP/s, measured on such a machine).
// OpenBLAS's own remedy is the environment variable OPENBLAS_CORETYPE, read
// once when the library loads, which is too late to set from a program.
// So when the library is loaded, before any product runs, and only when
//   - OPENBLAS_CORETYPE is not set (a user's choice stands),
//   - OpenBLAS chose one of its pre-AVX kernels, and
//   - the CPU has AVX-512 (F, BW, DQ, VL) or AVX2 with FMA,
// the kernels are chosen again the way OPENBLAS_CORETYPE would have chosen
// them: OpenBLAS's exported gotoblas_dynamic_quit and gotoblas_dynamic_init
// (declared weak: an OpenBLAS built for one core has neither, and nothing
// happens). blas_core() tells which kernels run; bench_tapegrad prints it.
#include <cstdlib>
#include <string>
#include <string_view>

#include "autograd/cpu/openblas.hpp"

extern "C" {
char* openblas_get_corename(void);
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace ag::cpu {

namespace {

bool pre_avx_core(std::string_view core) {
  for (std::string_view old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                               "Northwood", "Banias", "Opteron", "Barcelona", "Unknown"})
    if (core == old) return true;
  return false;
}

// The OPENBLAS_CORETYPE value for this CPU's vector units, or nullptr.
const char* best_core() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

const bool core_checked = [] {
  if (std::getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return false;
  const char* want = best_core();
  if (!want || !pre_avx_core(openblas_get_corename())) return false;
  setenv("OPENBLAS_CORETYPE", want, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");  // this process only: child processes detect for themselves
  return true;
}();

}  // namespace

std::string blas_core() {
  return std::string("OpenBLAS ") + openblas_get_corename() +
         (core_checked ? " (re-chosen: Note [OpenBLAS core detection])" : "");
}

}  // namespace ag::cpu
