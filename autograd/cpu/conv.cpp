// CPU kernels of the conv family: im2col, split over the col matrix's rows,
// and its adjoint col2im, split over the images (Note [im2col's loop order]). The geometry is in Attrs::axes (Note [im2col
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

// Output rows (n, oh) per task: about 32k cells each.
int64_t grain(const Geo& g) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.ow * g.cols())); }

// dst[0, k) = src[0, k): a run of a window's row. Short runs (the usual kernels
// are 2 to 7 wide) are copied with the length known at compile time, since a
// call to memmove per run would cost more than the copy.
template <class T> inline void copy_run(const T* src, int64_t k, T* dst) {
  switch (k) {
    case 1: dst[0] = src[0]; return;
    case 2: std::copy_n(src, 2, dst); return;
    case 3: std::copy_n(src, 3, dst); return;
    case 4: std::copy_n(src, 4, dst); return;
    case 5: std::copy_n(src, 5, dst); return;
    case 7: std::copy_n(src, 7, dst); return;
    default: std::copy_n(src, k, dst);
  }
}

// dst[0, k) += src[0, k), likewise.
template <class T> inline void add_run(const T* src, int64_t k, T* dst) {
  auto add = [&]<int K>() {
    for (int j = 0; j < K; ++j) dst[j] += src[j];
  };
  switch (k) {
    case 2: add.template operator()<2>(); return;
    case 3: add.template operator()<3>(); return;
    case 5: add.template operator()<5>(); return;
    default:
      for (int64_t j = 0; j < k; ++j) dst[j] += src[j];
  }
}

}  // namespace

// Note [im2col's loop order]
// The col matrix is written row by row, each row (one output position) in
// order: its (c, kh) runs of KW cells are read from the image, which stays in
// cache while its rows are written, so the large col matrix is written
// sequentially. (Writing it a column at a time, channel by channel, touches
// every cache line of the matrix C·KH·KW times: 5 times slower at
// 100 x 16 x 28 x 28 with 3 x 3 windows.) col2im reads the matrix in the same
// order and adds into one image per task.

// col[(n, oh, ow), (c, kh, kw)] = x[n, c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW], or the pad value outside
template <class T> void im2col(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* col = out.impl()->data<T>();
  const Geo g = geo(in[0].shape(), a.axes);
  const T pad = static_cast<T>(a.scalar);
  const int64_t cols = g.cols();
  parallel_for(g.n * g.oh, grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / g.oh, oy = r % g.oh;
      T* dst = col + r * g.ow * cols;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const int64_t x0 = ox * g.sw - g.pw;
        const bool inside = x0 >= 0 && x0 + (g.kw - 1) * g.dw < g.w;
        for (int64_t c = 0; c < g.c; ++c) {
          const T* img = x + (n * g.c + c) * g.h * g.w;
          for (int64_t i = 0; i < g.kh; ++i, dst += g.kw) {
            const int64_t y = oy * g.sh - g.ph + i * g.dh;
            if (y < 0 || y >= g.h) {
              std::fill_n(dst, g.kw, pad);
              continue;
            }
            const T* row = img + y * g.w;
            if (inside && g.dw == 1) {
              copy_run(row + x0, g.kw, dst);
              continue;
            }
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t xx = x0 + j * g.dw;
              dst[j] = xx >= 0 && xx < g.w ? row[xx] : pad;
            }
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
  // one image per task: its pixels are written by no other task
  parallel_for(g.n, std::max<int64_t>(1, grain(g) / std::max<int64_t>(1, g.oh)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      std::fill_n(x + n * g.c * g.h * g.w, g.c * g.h * g.w, T(0));
      const T* src = col + n * g.oh * g.ow * cols;
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t x0 = ox * g.sw - g.pw;
          const bool inside = x0 >= 0 && x0 + (g.kw - 1) * g.dw < g.w;
          for (int64_t c = 0; c < g.c; ++c) {
            T* img = x + (n * g.c + c) * g.h * g.w;
            for (int64_t i = 0; i < g.kh; ++i, src += g.kw) {
              const int64_t y = oy * g.sh - g.ph + i * g.dh;
              if (y < 0 || y >= g.h) continue;
              T* row = img + y * g.w;
              if (inside && g.dw == 1) {
                add_run(src, g.kw, row + x0);
                continue;
              }
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t xx = x0 + j * g.dw;
                if (xx >= 0 && xx < g.w) row[xx] += src[j];
              }
            }
          }
        }
    }
  });
}

AG_CPU_KERNEL(im2col, im2col);
AG_CPU_KERNEL(col2im, col2im);

}  // namespace ag::cpu
