// Note [C++20 check]
// tapegrad's headers need C++20 (std::span, std::bit_cast, defaulted
// comparisons, designated initialisers). An older -std would bury the cause
// under dozens of errors deep inside the headers, so every installed header
// includes this one first and keeps its body inside #ifdef TAPEGRAD_CXX20: an
// older standard gets exactly one error, the #error below. 201709L also
// accepts GCC 10's -std=c++20, which reports the C++2a value.
#pragma once

#if __cplusplus < 201709L
#error "tapegrad needs C++20: compile with -std=c++20"
#else
#define TAPEGRAD_CXX20 1
#endif
