// CUDA kernels of the conv family: im2col and its adjoint col2im, each a map
// over its output positions (col2im gathers the window cells that read each
// pixel, so it needs no atomics). The geometry arrives in KAttrs::axes as
// {KH, KW, SH, SW, PH, PW, DH, DW} (Note [im2col geometry in the attributes]
// in autograd/ops/conv.cpp); the image's shape is im2col's input's and col2im's output's.
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

// The window geometry and both shapes of one call.
struct Geo {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;
  AG_HD int64_t cols() const { return c * kh * kw; }
};

Geo geo(const View& image, const KAttrs& a) {
  Geo g{image.shape[0], image.shape[1], image.shape[2], image.shape[3], a.axes[0], a.axes[1], a.axes[2], a.axes[3],
        a.axes[4],      a.axes[5],      a.axes[6],      a.axes[7],      0,         0};
  g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g;
}

// col[(n, oh, ow), (c, kh, kw)] = x[n, c, oh·SH − PH + kh·DH, ow·SW − PW + kw·DW], or the pad value outside
template <class T> struct Im2colValue {
  const T* x;
  Geo g;
  compute_t<T> pad;
  AG_HD T operator()(int64_t k) const {
    const int64_t cols = g.cols();
    const int64_t row = k / cols, cell = k % cols;
    const int64_t n = row / (g.oh * g.ow), r = row % (g.oh * g.ow), oy = r / g.ow, ox = r % g.ow;
    const int64_t c = cell / (g.kh * g.kw), ij = cell % (g.kh * g.kw), i = ij / g.kw, j = ij % g.kw;
    const int64_t y = oy * g.sh - g.ph + i * g.dh, xx = ox * g.sw - g.pw + j * g.dw;
    if (y < 0 || y >= g.h || xx < 0 || xx >= g.w) return static_cast<T>(pad);
    return x[((n * g.c + c) * g.h + y) * g.w + xx];
  }
};

// x[n, c, y, x] = the sum of the col cells whose window reads that pixel
template <class T> struct Col2imValue {
  const T* col;
  Geo g;
  AG_HD T operator()(int64_t k) const {
    const int64_t xx = k % g.w, y = (k / g.w) % g.h, c = (k / (g.w * g.h)) % g.c, n = k / (g.w * g.h * g.c);
    const int64_t cols = g.cols();
    compute_t<T> acc = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ty = y + g.ph - i * g.dh;
      if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
      const int64_t oy = ty / g.sh;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t tx = xx + g.pw - j * g.dw;
        if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
        const int64_t ox = tx / g.sw;
        acc += static_cast<compute_t<T>>(col[((n * g.oh + oy) * g.ow + ox) * cols + (c * g.kh + i) * g.kw + j]);
      }
    }
    return static_cast<T>(acc);
  }
};

template <class T> void run(KOp op, const View* in, const View& out, const KAttrs& a, const char* name) {
  T* y = out.ptr<T>();
  switch (op) {
    case KOp::im2col: {
      const Im2colValue<T> f{in[0].ptr<T>(), geo(in[0], a), static_cast<compute_t<T>>(a.scalar)};
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y, f);
      return;
    }
    case KOp::col2im: {
      const Col2imValue<T> f{in[0].ptr<T>(), geo(out, a)};
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y, f);
      return;
    }
    default: break;
  }
  throw std::logic_error(std::string(name) + ": not a conv kernel");
}

}  // namespace

void conv(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  if (a.naxes != 8) throw std::logic_error(std::string(name) + ": needs the 8 geometry values in its axes");
  for_float(in[0].dtype, [&](auto x) { run<decltype(x)>(op, in, out, a, name); });
}

}  // namespace ag::AG_KNS
