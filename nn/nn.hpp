// The nn library in one include: modules, layers, initialisers, optimisers and
// schedules, data (loaders, MNIST, CSV, preprocessing, augmentation),
// checkpoints and the Trainer.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include "augment.hpp"
#include "checkpoint.hpp"
#include "conv.hpp"
#include "csv.hpp"
#include "data.hpp"
#include "datasets.hpp"
#include "dist.hpp"
#include "init.hpp"
#include "layers.hpp"
#include "mnist.hpp"
#include "norm.hpp"
#include "module.hpp"
#include "optim.hpp"
#include "precision.hpp"
#include "preprocess.hpp"
#include "trainer.hpp"

#endif  // TAPEGRAD_CXX20
