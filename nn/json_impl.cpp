// Boost.JSON compiled into the library (header-only mode): one translation unit.
#include <boost/json/src.hpp>
