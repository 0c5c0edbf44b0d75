// Errors: one project exception type, messages that start with the op in
// brackets ("[matmul] inner dimensions differ: lhs (2, 3), rhs (4, 5).").
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace ag {

// The exception for user mistakes: bad shapes, dtypes, devices, values or use.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ag::Error("[op] message"); the message is formatted only when thrown.
template <class... Args>
[[noreturn]] void fail(std::string_view op, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format("[{}] {}", op, fmt::format(f, std::forward<Args>(args)...)));
}

[[noreturn]] void assert_failed(const char* cond, const char* file, int line, std::string_view what);

}  // namespace ag

// A broken invariant inside the library (a bug, not a user mistake).
#define AG_ASSERT(cond, what)                                       \
  do {                                                              \
    if (!(cond)) ::ag::assert_failed(#cond, __FILE__, __LINE__, what); \
  } while (0)

#endif  // TAPEGRAD_CXX20
