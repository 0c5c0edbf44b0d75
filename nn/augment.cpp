#include "nn/augment.hpp"

#include <cmath>
#include <numbers>

namespace nn {

namespace {

// A batch of images: n images of c channels of h x w pixels.
struct Images {
  int64_t n, c, h, w;
};

Images images_of(const ag::Tensor& x, std::string_view op) {
  if (!x.defined()) ag::fail(op, "needs a defined tensor");
  if (!ag::is_floating(x.dtype())) ag::fail(op, "needs float images, got {}", x.dtype());
  if (!x.device().is_cpu()) ag::fail(op, "needs images on the CPU, got {}", x.device());
  const ag::Shape& s = x.shape();
  if (s.size() == 3) return {s[0], 1, s[1], s[2]};
  if (s.size() == 4) return {s[0], s[1], s[2], s[3]};
  ag::fail(op, "needs a batch of images (n, H, W) or (n, C, H, W), got shape {}", s);
}

// Per-image parameters: f(image index, source plane, destination plane) for every channel.
template <class T, class F>
ag::Tensor map_planes(const ag::Tensor& x, const Images& im, F&& f) {
  ag::Tensor y = ag::empty(x.shape(), x.dtype());
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  const int64_t plane = im.h * im.w;
  for (int64_t i = 0; i < im.n; ++i)
    for (int64_t ch = 0; ch < im.c; ++ch) {
      const int64_t off = (i * im.c + ch) * plane;
      f(i, src + off, dst + off);
    }
  return y;
}

template <class T>
void shift_plane(const T* src, T* dst, const Images& im, int64_t dy, int64_t dx) {
  for (int64_t y = 0; y < im.h; ++y)
    for (int64_t x = 0; x < im.w; ++x) {
      const int64_t sy = y - dy, sx = x - dx;
      dst[y * im.w + x] = sy >= 0 && sy < im.h && sx >= 0 && sx < im.w ? src[sy * im.w + sx] : T(0);
    }
}

template <class T>
void flip_plane(const T* src, T* dst, const Images& im) {
  for (int64_t y = 0; y < im.h; ++y)
    for (int64_t x = 0; x < im.w; ++x) dst[y * im.w + x] = src[y * im.w + (im.w - 1 - x)];
}

// Output pixel (y, x) samples the source at the inverse rotation and scaling of
// its offset from the centre: bilinear, pixels outside the source count as 0.
template <class T>
void rotate_scale_plane(const T* src, T* dst, const Images& im, double degrees, double scale) {
  const double th = degrees * std::numbers::pi / 180.0, cs = std::cos(th) / scale, sn = std::sin(th) / scale;
  const double cy = 0.5 * static_cast<double>(im.h - 1), cx = 0.5 * static_cast<double>(im.w - 1);
  auto at = [&](int64_t y, int64_t x) -> double {
    return y >= 0 && y < im.h && x >= 0 && x < im.w ? static_cast<double>(src[y * im.w + x]) : 0.0;
  };
  for (int64_t y = 0; y < im.h; ++y)
    for (int64_t x = 0; x < im.w; ++x) {
      const double u = static_cast<double>(x) - cx, v = static_cast<double>(y) - cy;
      const double sx = cx + u * cs - v * sn, sy = cy + u * sn + v * cs;
      if (!(std::abs(sx) < 1e15 && std::abs(sy) < 1e15)) {  // far outside (a tiny scale): 0, and no int64 overflow
        dst[y * im.w + x] = T(0);
        continue;
      }
      const double fy = std::floor(sy), fx = std::floor(sx);
      const double ay = sy - fy, ax = sx - fx;
      const auto y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
      const double val = (1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
                         ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1));
      dst[y * im.w + x] = static_cast<T>(val);
    }
}

// Calls f.template operator()<T>() for the tensor's float type.
template <class F>
ag::Tensor by_dtype(const ag::Tensor& x, F&& f) {
  return x.dtype() == ag::DType::float32 ? f.template operator()<float>() : f.template operator()<double>();
}

}  // namespace

ag::Tensor hflip(const ag::Tensor& x) {
  const Images im = images_of(x, "hflip");
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t, const T* s, T* d) { flip_plane(s, d, im); });
  });
}

ag::Tensor shift(const ag::Tensor& x, int64_t dy, int64_t dx) {
  const Images im = images_of(x, "shift");
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t, const T* s, T* d) { shift_plane(s, d, im, dy, dx); });
  });
}

ag::Tensor rotate_scale(const ag::Tensor& x, double degrees, double scale) {
  const Images im = images_of(x, "rotate_scale");
  if (!(scale > 0) || !std::isfinite(degrees)) ag::fail("rotate_scale", "needs a scale > 0 and a finite angle, got scale {} and {} degrees", scale, degrees);
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t, const T* s, T* d) { rotate_scale_plane(s, d, im, degrees, scale); });
  });
}

RandomShift::RandomShift(int64_t max_shift) : max_shift_(max_shift) {
  if (max_shift < 0) ag::fail("RandomShift", "needs max_shift >= 0, got {}", max_shift);
}

ag::Tensor RandomShift::apply(const ag::Tensor& x, ag::Generator& gen) const {
  const Images im = images_of(x, "RandomShift");
  std::vector<int64_t> dy(static_cast<size_t>(im.n)), dx(static_cast<size_t>(im.n));
  for (int64_t i = 0; i < im.n; ++i) {
    dy[static_cast<size_t>(i)] = gen.randint(-max_shift_, max_shift_ + 1);
    dx[static_cast<size_t>(i)] = gen.randint(-max_shift_, max_shift_ + 1);
  }
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t i, const T* s, T* d) {
      shift_plane(s, d, im, dy[static_cast<size_t>(i)], dx[static_cast<size_t>(i)]);
    });
  });
}

RandomFlip::RandomFlip(double p) : p_(p) {
  if (!(p >= 0 && p <= 1)) ag::fail("RandomFlip", "needs a probability in [0, 1], got {}", p);
}

ag::Tensor RandomFlip::apply(const ag::Tensor& x, ag::Generator& gen) const {
  const Images im = images_of(x, "RandomFlip");
  std::vector<char> flip(static_cast<size_t>(im.n));
  for (auto& f : flip) f = gen.uniform() < p_;
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t i, const T* s, T* d) {
      if (flip[static_cast<size_t>(i)]) flip_plane(s, d, im);
      else std::copy(s, s + im.h * im.w, d);
    });
  });
}

RandomRotateScale::RandomRotateScale(double max_degrees, double min_scale, double max_scale)
    : max_degrees_(max_degrees), min_scale_(min_scale), max_scale_(max_scale) {
  if (!(max_degrees >= 0) || !(min_scale > 0) || !(min_scale <= max_scale))
    ag::fail("RandomRotateScale", "needs max_degrees >= 0 and 0 < min_scale <= max_scale, got {}, {}, {}",
             max_degrees, min_scale, max_scale);
}

ag::Tensor RandomRotateScale::apply(const ag::Tensor& x, ag::Generator& gen) const {
  const Images im = images_of(x, "RandomRotateScale");
  std::vector<double> deg(static_cast<size_t>(im.n)), sc(static_cast<size_t>(im.n));
  for (int64_t i = 0; i < im.n; ++i) {
    deg[static_cast<size_t>(i)] = max_degrees_ > 0 ? gen.uniform(-max_degrees_, max_degrees_) : 0.0;
    sc[static_cast<size_t>(i)] = max_scale_ > min_scale_ ? gen.uniform(min_scale_, max_scale_) : min_scale_;
  }
  return by_dtype(x, [&]<class T>() {
    return map_planes<T>(x, im, [&](int64_t i, const T* s, T* d) {
      rotate_scale_plane(s, d, im, deg[static_cast<size_t>(i)], sc[static_cast<size_t>(i)]);
    });
  });
}

GaussianNoise::GaussianNoise(double stddev) : stddev_(stddev) {
  if (!(stddev >= 0)) ag::fail("GaussianNoise", "needs a stddev >= 0, got {}", stddev);
}

ag::Tensor GaussianNoise::apply(const ag::Tensor& x, ag::Generator& gen) const {
  images_of(x, "GaussianNoise");
  return by_dtype(x, [&]<class T>() {
    ag::Tensor y = ag::empty(x.shape(), x.dtype());
    const T* s = x.data<T>();
    T* d = y.data<T>();
    for (int64_t k = 0; k < x.numel(); ++k)
      d[k] = static_cast<T>(static_cast<double>(s[k]) + (stddev_ > 0 ? gen.normal(0.0, stddev_) : 0.0));
    return y;
  });
}

Compose::Compose(std::vector<std::shared_ptr<const Augmentation>> steps, uint64_t seed)
    : steps_(std::move(steps)), gen_(seed) {
  for (size_t k = 0; k < steps_.size(); ++k)
    if (!steps_[k]) ag::fail("Compose", "step {} is null", k);
}

ag::Tensor Compose::apply(const ag::Tensor& x, ag::Generator& gen) const {
  ag::Tensor y = x;
  for (const auto& s : steps_) y = s->apply(y, gen);
  if (steps_.empty()) y = x.detach().clone();
  return y;
}

}  // namespace nn
