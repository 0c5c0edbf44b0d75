// Seeded image augmentations for float batches (n, H, W) or (n, C, H, W):
// each image of the batch gets its own random parameters (shared by its
// channels), drawn from the generator passed in, so one seed reproduces a
// whole training run. The input is never modified; the output is a new tensor.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <memory>
#include <vector>

#include "../autograd/tensor.hpp"

namespace nn {

// ---- Deterministic transforms of every image in a batch --------------------------------

// Mirrors each image left to right.
ag::Tensor hflip(const ag::Tensor& x);
// Moves each image dy rows down and dx columns right, filling with zeros.
ag::Tensor shift(const ag::Tensor& x, int64_t dy, int64_t dx);
// Rotates each image by `degrees` (counter-clockwise as displayed, rows going
// down) and scales it by `scale` about its centre: bilinear sampling by the
// inverse mapping, zero outside the source image.
ag::Tensor rotate_scale(const ag::Tensor& x, double degrees, double scale = 1.0);

// ---- Random augmentations -----------------------------------------------------------

// One augmentation: apply draws its random parameters from gen.
class Augmentation {
 public:
  virtual ~Augmentation() = default;
  virtual ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const = 0;
};

// A random shift of up to max_shift pixels along each axis, with zero padding:
// the same as padding by max_shift and cropping back to H x W at a random place.
class RandomShift : public Augmentation {
 public:
  explicit RandomShift(int64_t max_shift);
  ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const override;

 private:
  int64_t max_shift_;
};

// Horizontal flip of each image with probability p.
class RandomFlip : public Augmentation {
 public:
  explicit RandomFlip(double p = 0.5);
  ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const override;

 private:
  double p_;
};

// A rotation by an angle uniform in [-max_degrees, max_degrees] and a scaling
// uniform in [min_scale, max_scale], about the image centre (see rotate_scale).
class RandomRotateScale : public Augmentation {
 public:
  explicit RandomRotateScale(double max_degrees, double min_scale = 1.0, double max_scale = 1.0);
  ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const override;

 private:
  double max_degrees_, min_scale_, max_scale_;
};

// Adds Normal(0, stddev) noise to every pixel.
class GaussianNoise : public Augmentation {
 public:
  explicit GaussianNoise(double stddev);
  ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const override;

 private:
  double stddev_;
};

// Augmentations applied in order. operator() draws from the Compose's own
// generator, seeded at construction:
//
//   nn::Compose augment({std::make_shared<nn::RandomShift>(2), std::make_shared<nn::RandomRotateScale>(10, 0.9, 1.1)}, 7);
//   ag::Tensor xb = augment(batch.x);
class Compose : public Augmentation {
 public:
  Compose(std::vector<std::shared_ptr<const Augmentation>> steps, uint64_t seed = 0);
  ag::Tensor apply(const ag::Tensor& x, ag::Generator& gen) const override;
  ag::Tensor operator()(const ag::Tensor& x) { return apply(x, gen_); }
  // Restarts the random sequence.
  void manual_seed(uint64_t seed) { gen_.manual_seed(seed); }

 private:
  std::vector<std::shared_ptr<const Augmentation>> steps_;
  ag::Generator gen_;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
