// The nn library in one include: modules, layers, initialisers, optimisers and
// schedules, data (loaders, MNIST, CSV, preprocessing, augmentation),
// checkpoints and the Trainer.
#pragma once

#include "augment.hpp"
#include "checkpoint.hpp"
#include "csv.hpp"
#include "data.hpp"
#include "datasets.hpp"
#include "init.hpp"
#include "layers.hpp"
#include "mnist.hpp"
#include "module.hpp"
#include "optim.hpp"
#include "precision.hpp"
#include "preprocess.hpp"
#include "trainer.hpp"
