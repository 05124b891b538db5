#pragma once
// Zip archives held in memory (libzip), for `.keras` files: built as bytes so that the atomic
// writer puts them on disk in one rename, and read from bytes so that a damaged file is found
// before anything is loaded.
#include <string>
#include <vector>

namespace minidl::detail {

struct ZipMember {
  std::string name;
  std::string data;
};

// An archive of `members`, stored uncompressed as Keras writes them (zipfile's default).
// IOError starting with `error_prefix` when libzip fails.
std::string write_zip(const std::vector<ZipMember>& members, const std::string& error_prefix);

// Every member of the archive in `bytes`, CRC-checked. IOError starting with `error_prefix`
// for bytes that are not a zip archive, a truncated or inconsistent archive, a CRC mismatch,
// a repeated member name, or a member whose stated size is a decompression bomb's.
std::vector<ZipMember> read_zip(const std::string& bytes, const std::string& error_prefix);

}  // namespace minidl::detail
