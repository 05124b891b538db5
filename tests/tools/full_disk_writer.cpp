// The full-disk half of tests/models/full_disk_test.cpp, run as its own process: in a private
// mount namespace it mounts a small tmpfs on DIR, fills it to the last byte, and runs the cases
// of full_disk_cases.h. Prints one line per problem and exits 1 if there were any; exits 3 when
// the system allows no private mount here (no root and no user namespaces), saying why.
//   minidl_full_disk_writer DIR
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tools/full_disk_cases.h"

namespace {

bool write_file(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

// A private mount namespace: as root directly, else as root of a new user namespace.
bool enter_private_mounts(std::string& why) {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWNS) != 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      why = std::string("unshare: ") + std::strerror(errno);
      return false;
    }
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why = std::string("making / private: ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: minidl_full_disk_writer DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::string why;
  if (!enter_private_mounts(why) || ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") != 0) {
    if (why.empty()) why = std::string("mounting a tmpfs: ") + std::strerror(errno);
    std::printf("unavailable: %s\n", why.c_str());
    return 3;
  }
  const std::string filler = dir + "/filler";
  const auto fill = [&] {
    // Every page the tmpfs has left, so that the next write of any size fails.
    const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::vector<char> block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    for (size_t n = 512; n > 0; n /= 2) {
      while (::write(fd, block.data(), n) > 0) {
      }
    }
    ::close(fd);
  };
  const auto empty = [&] { std::remove(filler.c_str()); };
  const std::vector<std::string> problems = full_disk::run(dir, fill, empty, "No space left on device");
  for (const std::string& p : problems) std::printf("problem: %s\n", p.c_str());
  std::printf("cases done: %zu problem(s)\n", problems.size());
  return problems.empty() ? 0 : 1;
} catch (const std::exception& e) {
  std::printf("problem: %s\n", e.what());
  return 1;
}
