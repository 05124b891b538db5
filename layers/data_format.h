#pragma once
// Keras's data_format argument of the pooling, reshaping and convolution layers.
//   md::standardize_data_format("");                // "channels_last" (Keras's default, None)
//   md::standardize_data_format("Channels_First");  // "channels_first"
#include <string>

namespace minidl {

// "" (Keras's None) becomes "channels_last"; other values are lower-cased and must be
// "channels_first" or "channels_last" (ValueError with Keras's message otherwise).
std::string standardize_data_format(const std::string& data_format);

}  // namespace minidl
