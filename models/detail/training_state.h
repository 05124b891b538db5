#pragma once
// Model's compile state (private to models/): what compile() sets and fit() uses, shared by
// every copy of a model. Its own header so that model.cpp, which allocates it with the model,
// and training.cpp see the same definition.
#include <memory>
#include <vector>

#include "minidl/models/model.h"
#include "minidl/models/training.h"
#include "minidl/optim/metrics.h"
#include "minidl/optim/optimizer.h"

namespace minidl {

struct Model::Training {
  bool compiled = false;
  bool stop = false;
  // Where the current fit() starts: FitOptions::initial_epoch, or what a callback's
  // on_train_begin restored (BackupAndRestore).
  int initial_epoch = 0;
  std::shared_ptr<optim::Optimizer> optimizer;
  LossArg loss;
  std::vector<MetricArg> metric_args;
  // Resolved on the first batch, where "accuracy" learns from the shapes which one it means.
  std::vector<std::shared_ptr<metrics::Metric>> metrics;
  bool metrics_resolved = false;
  metrics::Mean loss_tracker{{.name = "loss"}};
};

}  // namespace minidl
