#include "minidl/models/detail/zip_archive.h"

#include <fmt/format.h>
#include <zip.h>

#include <ctime>
#include <memory>
#include <set>

#include "minidl/core/error.h"

namespace minidl::detail {
namespace {

// A member that states more than this many bytes and more than kMaxExpansion times its stored
// size is refused before anything is allocated for it: stored and deflated data never expand
// that much (deflate tops out near 1032:1), a crafted header does (Keras's _reject_zip_bomb).
constexpr zip_uint64_t kBombFloorBytes = zip_uint64_t{1} << 28;  // 256 MiB
constexpr zip_uint64_t kMaxExpansion = 100;

struct ErrorText {
  zip_error_t error;
  ErrorText() { zip_error_init(&error); }
  ~ErrorText() { zip_error_fini(&error); }
  ErrorText(const ErrorText&) = delete;
  ErrorText& operator=(const ErrorText&) = delete;
  std::string str() { return zip_error_strerror(&error); }
};

struct SourceDeleter {
  void operator()(zip_source_t* source) const { zip_source_free(source); }
};
struct ArchiveDeleter {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct MemberDeleter {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
using SourcePtr = std::unique_ptr<zip_source_t, SourceDeleter>;
using ArchivePtr = std::unique_ptr<zip_t, ArchiveDeleter>;
using MemberPtr = std::unique_ptr<zip_file_t, MemberDeleter>;

[[noreturn]] void fail(const std::string& prefix, const std::string& what) { throw IOError(prefix + what); }

// The bytes a source holds after zip_close wrote the archive into it.
std::string source_bytes(zip_source_t* source, const std::string& prefix) {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_source_stat(source, &stat) != 0 || !(stat.valid & ZIP_STAT_SIZE)) {
    fail(prefix, fmt::format("cannot size the zip archive: {}", zip_error_strerror(zip_source_error(source))));
  }
  std::string bytes(stat.size, '\0');
  if (zip_source_open(source) != 0) {
    fail(prefix, fmt::format("cannot read the zip archive back: {}", zip_error_strerror(zip_source_error(source))));
  }
  const zip_int64_t n = zip_source_read(source, bytes.data(), bytes.size());
  zip_source_close(source);
  if (n < 0 || static_cast<zip_uint64_t>(n) != stat.size) fail(prefix, "cannot read the zip archive back.");
  return bytes;
}

}  // namespace

std::string write_zip(const std::vector<ZipMember>& members, const std::string& error_prefix) {
  ErrorText error;
  SourcePtr buffer(zip_source_buffer_create(nullptr, 0, 0, &error.error));
  if (!buffer) fail(error_prefix, "cannot create an in-memory zip archive: " + error.str());
  // The archive frees its source on close; the extra reference keeps the bytes readable after.
  zip_source_keep(buffer.get());
  ArchivePtr archive(zip_open_from_source(buffer.get(), ZIP_TRUNCATE, &error.error));
  if (!archive) {
    zip_source_free(buffer.get());  // the reference zip_open_from_source did not take
    fail(error_prefix, "cannot create an in-memory zip archive: " + error.str());
  }
  const time_t now = std::time(nullptr);
  for (const ZipMember& member : members) {
    zip_source_t* data = zip_source_buffer(archive.get(), member.data.data(), member.data.size(), 0);
    if (!data) fail(error_prefix, fmt::format("cannot add {}: {}", member.name, zip_strerror(archive.get())));
    const zip_int64_t index = zip_file_add(archive.get(), member.name.c_str(), data, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(data);
      fail(error_prefix, fmt::format("cannot add {}: {}", member.name, zip_strerror(archive.get())));
    }
    const auto i = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive.get(), i, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(archive.get(), i, now, 0) != 0) {
      fail(error_prefix, fmt::format("cannot add {}: {}", member.name, zip_strerror(archive.get())));
    }
  }
  if (zip_close(archive.get()) != 0) {
    fail(error_prefix, fmt::format("cannot write the zip archive: {}", zip_strerror(archive.get())));
  }
  archive.release();  // zip_close freed it
  return source_bytes(buffer.get(), error_prefix);
}

std::vector<ZipMember> read_zip(const std::string& bytes, const std::string& error_prefix) {
  ErrorText error;
  SourcePtr buffer(zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error.error));
  if (!buffer) fail(error_prefix, "cannot read the file as a zip archive: " + error.str());
  ArchivePtr archive(zip_open_from_source(buffer.get(), ZIP_RDONLY | ZIP_CHECKCONS, &error.error));
  if (!archive) {
    // libzip says "Not a zip archive", "Zip archive inconsistent", "Premature end of file", ...
    fail(error_prefix, fmt::format("not a valid zip archive ({}): the file is truncated, corrupted or of another "
                                   "format.",
                                   error.str()));
  }
  buffer.release();  // the archive owns it now
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  if (count < 0) fail(error_prefix, "cannot list the zip archive.");
  std::vector<ZipMember> members;
  std::set<std::string> names;
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count); ++i) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive.get(), i, 0, &stat) != 0 || !(stat.valid & ZIP_STAT_NAME) ||
        !(stat.valid & ZIP_STAT_SIZE) || !(stat.valid & ZIP_STAT_COMP_SIZE)) {
      fail(error_prefix, fmt::format("cannot read the header of zip member {}: {}", i, zip_strerror(archive.get())));
    }
    ZipMember member{stat.name, {}};
    if (!names.insert(member.name).second) {
      fail(error_prefix, fmt::format("the zip archive holds '{}' twice.", member.name));
    }
    if (stat.size > kBombFloorBytes && stat.size > kMaxExpansion * stat.comp_size) {
      fail(error_prefix, fmt::format("zip member '{}' states {} bytes from {} stored bytes; refusing a likely "
                                     "decompression bomb.",
                                     member.name, stat.size, stat.comp_size));
    }
    MemberPtr file(zip_fopen_index(archive.get(), i, 0));
    if (!file) {
      fail(error_prefix, fmt::format("cannot open zip member '{}': {}", member.name, zip_strerror(archive.get())));
    }
    member.data.resize(stat.size);
    zip_uint64_t got = 0;
    while (got < stat.size) {
      const zip_int64_t n = zip_fread(file.get(), member.data.data() + got, stat.size - got);
      if (n < 0) {
        fail(error_prefix, fmt::format("zip member '{}' is damaged: {}", member.name,
                                       zip_error_strerror(zip_file_get_error(file.get()))));
      }
      if (n == 0) break;
      got += static_cast<zip_uint64_t>(n);
    }
    // One more read reaches the end of the member, where libzip compares the CRC.
    char extra = 0;
    const zip_int64_t tail = zip_fread(file.get(), &extra, 1);
    if (got != stat.size || tail != 0) {
      fail(error_prefix, fmt::format("zip member '{}' is damaged: {}", member.name,
                                     tail < 0 ? zip_error_strerror(zip_file_get_error(file.get()))
                                              : "its size does not match its header"));
    }
    members.push_back(std::move(member));
  }
  return members;
}

}  // namespace minidl::detail
