#include "faultscope/detail/descriptors.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

namespace faultscope::detail {

// fstat rather than readlink per descriptor: a run takes two snapshots, and
// the path walk through /proc that readlink makes costs several times more.
std::optional<descriptor_table> open_descriptors() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  const int own = ::dirfd(dir);
  descriptor_table out;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    int fd = -1;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (ec != std::errc() || end != name.data() + name.size() || fd == own) continue;  // ".", ".."
    struct stat st {};
    // Closed by another thread since it was listed: it is not open now.
    if (::fstat(fd, &st) != 0) continue;
    out.emplace(fd, descriptor_identity{st.st_dev, st.st_ino});
  }
  ::closedir(dir);
  return out;
}

std::vector<int> opened_since(const descriptor_table& before, const descriptor_table& after) {
  std::vector<int> out;
  for (const auto& [fd, identity] : after) {
    auto was = before.find(fd);
    if (was == before.end() || was->second != identity) out.push_back(fd);
  }
  return out;
}

std::string descriptor_target(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[512];
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  if (n < 0) return "?";
  std::string out(target, static_cast<std::size_t>(n));
  if (static_cast<std::size_t>(n) == sizeof target) out += "…";  // readlink cut it short
  return out;
}

}  // namespace faultscope::detail
