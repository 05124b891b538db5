#pragma once
// minidl's JSON type: nlohmann's insertion-ordered json, so configs keep Keras's key order
// when written. It converts to and from nlohmann::json.
//   md::json cfg = layer.get_config();   // {"name": ..., "trainable": ..., "dtype": ..., ...}
#include <nlohmann/json.hpp>

namespace minidl {
using json = nlohmann::ordered_json;
}
