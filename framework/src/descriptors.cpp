#include "faultscope/detail/descriptors.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <string_view>

namespace faultscope::detail {

// Other threads' descriptors are looked at here, never used, so no call may
// count as a use: ThreadSanitizer takes fstat or getsockname on a descriptor
// that another thread opened or closes for a data race with that thread. So
// these are made as plain system calls, which it does not watch (statx, whose
// layout is the same on every architecture, in place of fstat).
//
// A stat per descriptor rather than readlink: a run takes two snapshots, and
// with readlink's path walk through /proc each cost about twice as much.
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
    struct statx st {};
    // Closed by another thread since it was listed: it is not open now.
    if (::syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_INO, &st) != 0) continue;
    out.emplace(fd, descriptor_identity{::makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_ino});
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

namespace {

// "127.0.0.1:5432", "[::1]:5432", "/run/db.sock"; empty for what has no name
// (an unnamed Unix socket, an unbound one).
std::string address_text(const sockaddr_storage& a, socklen_t length) {
  char host[INET6_ADDRSTRLEN] = {};
  switch (a.ss_family) {
    case AF_INET: {
      const auto& in = reinterpret_cast<const sockaddr_in&>(a);
      ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
      return std::string(host) + ":" + std::to_string(ntohs(in.sin_port));
    }
    case AF_INET6: {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
      ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
      return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6.sin6_port));
    }
    case AF_UNIX: {
      const auto& un = reinterpret_cast<const sockaddr_un&>(a);
      const auto offset = offsetof(sockaddr_un, sun_path);
      if (length <= offset) return {};
      std::string path(un.sun_path, length - offset);
      if (path.front() == '\0') return "@" + path.substr(1);  // Linux's abstract namespace
      return path.substr(0, path.find('\0'));
    }
    default:
      return {};
  }
}

// What a leaked socket was for: ", tcp 127.0.0.1:40112 -> 127.0.0.1:5432",
// ", tcp 0.0.0.0:8080, not connected", ", unix /run/db.sock"; empty when the
// descriptor is not a socket.
std::string socket_text(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t local_length = sizeof local, peer_length = sizeof peer;
  if (::syscall(SYS_getsockname, fd, &local, &local_length) != 0) return {};
  int type = 0;
  socklen_t type_length = sizeof type;
  ::syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &type_length);
  const bool inet = local.ss_family == AF_INET || local.ss_family == AF_INET6;
  const char* family = local.ss_family == AF_UNIX ? "unix"
                       : !inet                    ? "socket"
                       : type == SOCK_STREAM      ? "tcp"
                       : type == SOCK_DGRAM       ? "udp"
                                                  : "ip";
  std::string out = std::string(", ") + family;
  if (auto here = address_text(local, local_length); !here.empty()) out += " " + here;
  if (::syscall(SYS_getpeername, fd, &peer, &peer_length) == 0) {
    if (auto there = address_text(peer, peer_length); !there.empty()) out += " -> " + there;
  } else if (inet) {
    out += ", not connected";
  }
  return out;
}

}  // namespace

std::string descriptor_target(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[512];
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  if (n < 0) return "?";
  std::string out(target, static_cast<std::size_t>(n));
  if (static_cast<std::size_t>(n) == sizeof target) out += "…";  // readlink cut it short
  if (out.starts_with("socket:")) out += socket_text(fd);
  return out;
}

}  // namespace faultscope::detail
