#pragma once
// One training fixture case (training.h5, regularization.h5), replayed in minidl: Keras's model
// config deserialized, Keras's initial weights set, compiled from Keras's compile config and fit
// as Keras did; the per-epoch logs, final weights, optimizer variables, evaluate() and predict()
// must match Keras's within 1e-4 relative.
#include <string>

#include "keras/keras_fixture.h"

namespace kf {

void check_training_case(const FixtureFile& file, const std::string& name);

}  // namespace kf
