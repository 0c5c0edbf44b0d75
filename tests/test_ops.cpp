#include <doctest/doctest.h>
#include "autograd/tapegrad.hpp"
