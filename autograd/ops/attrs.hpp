// The attributes of one op call, kept on its node: the scalar ones (named by
// meaning, in kinds.hpp) plus axes and shapes. Apart from op.hpp so that the
// tape (tape.hpp) does not depend on the op index.
#pragma once

#include "../config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include "../dtype.hpp"
#include "../kinds.hpp"

namespace ag {

struct Attrs : ScalarAttrs {
  Axes axes;    // reduction axes, permutation
  Shape shape;  // target or original shape (concat: the inputs' sizes along the axis)
};

}  // namespace ag

#endif  // TAPEGRAD_CXX20
