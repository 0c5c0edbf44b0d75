// CPU kernels of the conv family: im2col and its adjoint col2im, split over
// the (image, channel) pairs, whose cells in the col matrix (and pixels in
// the image) are disjoint. The geometry is in Attrs::axes (Note [im2col
// geometry in the attributes] in ops/conv.cpp).
#include <algorithm>

#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {

// The window geometry and both shapes of one call.
struct Geo {
  int64_t n, c, h, w;           // the image (N, C, H, W)
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;               // output positions per axis
  int64_t cols() const { return c * kh * kw; }
};

Geo geo(const Shape& image, const Axes& a) {
  Geo g{image[0], image[1], image[2], image[3], a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], 0, 0};
  g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g;
}

// (image, channel) pairs per task: about 32k cells each.
int64_t grain(const Geo& g) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.oh * g.ow * g.kh * g.kw)); }

}  // namespace

// col[(n, oh, ow), (c, kh, kw)] = x[n, c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW], or the pad value outside
template <class T> void im2col(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* col = out.impl()->data<T>();
  const Geo g = geo(in[0].shape(), a.axes);
  const T pad = static_cast<T>(a.scalar);
  const int64_t cols = g.cols();
  parallel_for(g.n * g.c, grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / g.c, c = nc % g.c;
      const T* img = x + nc * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          T* dst = col + n * g.oh * g.ow * cols + (c * g.kh + i) * g.kw + j;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const int64_t y = oy * g.sh - g.ph + i * g.dh;
            const bool row_in = y >= 0 && y < g.h;
            for (int64_t ox = 0; ox < g.ow; ++ox, dst += cols) {
              const int64_t xx = ox * g.sw - g.pw + j * g.dw;
              *dst = row_in && xx >= 0 && xx < g.w ? img[y * g.w + xx] : pad;
            }
          }
        }
    }
  });
}

// zeros, then x[n, c, y, x] += col[(n, oh, ow), (c, kh, kw)] for every window cell reading that pixel
template <class T> void col2im(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* col = in[0].impl()->data<T>();
  T* x = out.impl()->data<T>();
  const Geo g = geo(out.shape(), a.axes);
  const int64_t cols = g.cols();
  parallel_for(g.n * g.c, grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / g.c, c = nc % g.c;
      T* img = x + nc * g.h * g.w;
      std::fill_n(img, g.h * g.w, T(0));
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* src = col + n * g.oh * g.ow * cols + (c * g.kh + i) * g.kw + j;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const int64_t y = oy * g.sh - g.ph + i * g.dh;
            if (y < 0 || y >= g.h) {
              src += g.ow * cols;
              continue;
            }
            for (int64_t ox = 0; ox < g.ow; ++ox, src += cols) {
              const int64_t xx = ox * g.sw - g.pw + j * g.dw;
              if (xx >= 0 && xx < g.w) img[y * g.w + xx] += *src;
            }
          }
        }
    }
  });
}

AG_CPU_KERNEL(im2col, im2col);
AG_CPU_KERNEL(col2im, col2im);

}  // namespace ag::cpu
