#pragma once
// Keras's naming rules for operations, layers and models.
//   md::to_snake_case("AdditiveAttention");   // "additive_attention"
//   md::auto_name("Dense");                   // "dense", then "dense_1", "dense_2", ...
//   md::clear_session();                      // counters start again (keras.backend.clear_session)
#include <string>
#include <string_view>

namespace minidl {

// Strips non-word characters and inserts '_' before capitalised words: "InputLayer" ->
// "input_layer", "SGD" -> "sgd", "AdamW" -> "adam_w".
std::string to_snake_case(std::string_view name);

// The first use of a prefix returns it unchanged; later uses append _1, _2, ... (per process).
std::string uniquify(const std::string& prefix);

// uniquify(to_snake_case(class_name)).
std::string auto_name(std::string_view class_name);

// Resets the name counters, as keras.backend.clear_session() does.
void clear_session();

}  // namespace minidl
