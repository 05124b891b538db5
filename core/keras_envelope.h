#pragma once
// Keras's serialization envelope, written and read in this one place for every serializable
// kind (layers, losses, metrics, optimizers, schedules):
//   {"module": "keras.losses", "class_name": "MeanSquaredError", "config": {...}, "registered_name": null}
// A built-in names its Keras module and has a null registered_name; a user class is written
// under "minidl.custom" as "Custom>Name" (Keras's register_keras_serializable form).
//
//   md::json obj = md::keras_envelope("keras.losses", /*builtin=*/true, "MeanSquaredError", config);
//   std::string cls = md::serialized_class_name(obj);   // "Custom>Name" -> "Name"
#include <optional>
#include <string>

#include "minidl/core/json.h"

namespace minidl {

// The envelope itself: {"module", "class_name", "config", "registered_name"} (null when unset).
json keras_envelope(const std::string& module, const std::string& class_name, json config,
                    const std::optional<std::string>& registered_name);
// A built-in (under `builtin_module`, registered_name null) or a registered user class
// ("minidl.custom", "Custom>Name").
json keras_envelope(const std::string& builtin_module, bool builtin, const std::string& class_name, json config);

// The class a serialized object names: Name for a registered_name "Custom>Name" (or
// "Package>Name"), else its class_name. ValueError when class_name is not a string.
std::string serialized_class_name(const json& object);

// The config of a serialized `what` ("loss", "metric"), after checking that it names a class;
// a missing or null config reads as {}.
json envelope_config(const json& object, const std::string& what);

}  // namespace minidl
