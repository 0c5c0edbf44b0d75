// The nn library in one include: modules, layers, initialisers, optimisers and
// schedules, data (loaders, MNIST, CSV, preprocessing, augmentation),
// checkpoints and the Trainer.
#pragma once

#include "nn/augment.hpp"
#include "nn/checkpoint.hpp"
#include "nn/csv.hpp"
#include "nn/data.hpp"
#include "nn/datasets.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/mnist.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/precision.hpp"
#include "nn/preprocess.hpp"
#include "nn/trainer.hpp"
