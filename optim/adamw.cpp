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
  ConfigReader f(config, "AdamW");
  AdamWOptions o;
  detail::read_adam_options(f, o);
  f.reject_unread();
  return AdamW(o);
}

}  // namespace minidl::optim
