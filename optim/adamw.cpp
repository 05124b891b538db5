#include "minidl/optim/adamw.h"

#include "minidl/core/error.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
namespace {

AdamOptions adamw_as_adam_options(const AdamWOptions& o) {
  if (!o.weight_decay) throw ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None");
  return AdamOptions{.learning_rate = o.learning_rate,
                     .beta_1 = o.beta_1,
                     .beta_2 = o.beta_2,
                     .epsilon = o.epsilon,
                     .amsgrad = o.amsgrad,
                     .weight_decay = o.weight_decay,
                     .clipnorm = o.clipnorm,
                     .clipvalue = o.clipvalue,
                     .global_clipnorm = o.global_clipnorm,
                     .name = o.name};
}

}  // namespace

AdamW::AdamW(const AdamWOptions& options) : Adam("AdamW", adamw_as_adam_options(options)) {}

AdamW AdamW::from_config(const json& config) {
  detail::ConfigFields f(config, "AdamW");
  AdamWOptions o;
  detail::read_optimizer_options(f, o);
  o.beta_1 = f.number("beta_1", 0.9);
  o.beta_2 = f.number("beta_2", 0.999);
  o.epsilon = f.number("epsilon", 1e-7);
  o.amsgrad = f.boolean("amsgrad", false);
  f.reject_unread();
  return AdamW(o);
}

}  // namespace minidl::optim
