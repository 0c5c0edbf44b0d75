// The nn library in one include: modules, layers, initialisers, optimisers and schedules.
#pragma once

#include "nn/checkpoint.hpp"
#include "nn/datasets.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
