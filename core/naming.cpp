#include "minidl/core/naming.h"

#include <cctype>
#include <mutex>
#include <unordered_map>

namespace minidl {
namespace {

std::mutex g_names_mutex;
std::unordered_map<std::string, int64_t> g_name_uids;

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_upper(char c) { return std::isupper(static_cast<unsigned char>(c)); }
bool is_lower(char c) { return std::islower(static_cast<unsigned char>(c)); }

}  // namespace

std::string to_snake_case(std::string_view name) {
  // The three regex passes of keras.src.utils.naming.to_snake_case, written out.
  std::string word;
  for (char c : name) {
    if (is_word(c)) word += c;
  }
  // (.)([A-Z][a-z]+) -> \1_\2 : an underscore before each capitalised word (not at the start).
  std::string pass1;
  for (size_t i = 0; i < word.size(); ++i) {
    if (i > 0 && is_upper(word[i]) && i + 1 < word.size() && is_lower(word[i + 1])) {
      pass1 += '_';
    }
    pass1 += word[i];
  }
  // ([a-z])([A-Z]) -> \1_\2 : an underscore at each remaining lower-to-upper step.
  std::string out;
  for (size_t i = 0; i < pass1.size(); ++i) {
    if (i > 0 && is_upper(pass1[i]) && is_lower(pass1[i - 1])) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(pass1[i])));
  }
  return out;
}

std::string uniquify(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_names_mutex);
  auto [it, inserted] = g_name_uids.try_emplace(prefix, 0);
  const std::string name = inserted ? prefix : prefix + "_" + std::to_string(it->second);
  ++it->second;
  return name;
}

std::string auto_name(std::string_view class_name) { return uniquify(to_snake_case(class_name)); }

void clear_session() {
  std::lock_guard<std::mutex> lock(g_names_mutex);
  g_name_uids.clear();
}

}  // namespace minidl
