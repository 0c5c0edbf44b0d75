// AG_LOOP_CLONES: compile a hot loop once per x86-64 level.
//
// Note [Loop clones]: a function marked AG_LOOP_CLONES is compiled for
// x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline, and the
// loader picks one for the running CPU, so one portable binary runs the widest
// vectors the machine has (cpu/elementwise.cpp's maps, cpu/inplace.cpp's
// optimiser steps). Clang cannot multiversion templates, and under
// ThreadSanitizer the loader would run the instrumented ifunc resolver before
// the runtime starts (a crash at load): those builds (the fuzzers and the TSan
// run, docs/fuzzing.md) get the baseline loop only.
#pragma once

#if defined(__clang__) || defined(__SANITIZE_THREAD__)
#define AG_LOOP_CLONES
#else
#define AG_LOOP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
