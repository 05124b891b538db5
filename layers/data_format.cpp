#include "minidl/layers/data_format.h"

#include <algorithm>
#include <cctype>

#include "minidl/core/error.h"

namespace minidl {

std::string standardize_data_format(const std::string& data_format) {
  if (data_format.empty()) return "channels_last";  // keras.config.image_data_format()
  std::string lower = data_format;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower != "channels_first" && lower != "channels_last") {
    throw ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: "
                     "data_format=" +
                     lower);
  }
  return lower;
}

}  // namespace minidl
