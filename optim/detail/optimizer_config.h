#pragma once
// Private to optim/: the config keys every optimizer shares, read for each from_config.
#include "minidl/core/config_reader.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/optim/optimizer.h"

namespace minidl::optim::detail {

// Reads name, learning_rate (a float or a schedule's envelope), weight_decay and the clip keys
// into `options`. Keras's `decay` is ignored (Keras warns and ignores it); use_ema,
// ema_overwrite_frequency, loss_scale_factor and gradient_accumulation_steps must be off
// (NotImplementedError otherwise); ema_momentum is read and unused, as Keras does without EMA.
void read_optimizer_options(ConfigReader& fields, OptimizerOptions& options);

}  // namespace minidl::optim::detail

namespace minidl::optim::detail {

// Each optimizer's options struct repeats the shared fields (designated initializers cannot
// reach into a base struct); these move them to and from OptimizerOptions.
template <class Options>
OptimizerOptions base_options(const Options& o) {
  return OptimizerOptions{.learning_rate = o.learning_rate,
                          .weight_decay = o.weight_decay,
                          .clipnorm = o.clipnorm,
                          .clipvalue = o.clipvalue,
                          .global_clipnorm = o.global_clipnorm,
                          .name = o.name};
}

template <class Options>
void read_optimizer_options(ConfigReader& fields, Options& o) {
  OptimizerOptions base = base_options(o);
  read_optimizer_options(fields, base);
  o.learning_rate = base.learning_rate;
  o.weight_decay = base.weight_decay;
  o.clipnorm = base.clipnorm;
  o.clipvalue = base.clipvalue;
  o.global_clipnorm = base.global_clipnorm;
  o.name = base.name;
}

// Adam's own keys, which AdamW shares.
template <class Options>
void read_adam_options(ConfigReader& fields, Options& o) {
  read_optimizer_options(fields, o);
  o.beta_1 = fields.optional<double>("beta_1", 0.9);
  o.beta_2 = fields.optional<double>("beta_2", 0.999);
  o.epsilon = fields.optional<double>("epsilon", 1e-7);
  o.amsgrad = fields.optional<bool>("amsgrad", false);
}

}  // namespace minidl::optim::detail
