// Machinery behind run_options::check_fds: the process's open file descriptors,
// as /proc/self/fd lists them, and those a run left open. Not part of the
// public API.
//
//   auto before = detail::open_descriptors();          // nullopt: no /proc here
//   … the run, torn down …
//   for (int fd : detail::opened_since(*before, *detail::open_descriptors()))
//     report(fd, detail::descriptor_target(fd));
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace faultscope::detail {

/// What a descriptor refers to: the device and inode `fstat` gives it.
struct descriptor_identity {
  unsigned long long device = 0;
  unsigned long long inode = 0;
  friend bool operator==(const descriptor_identity&, const descriptor_identity&) = default;
};

/// Descriptor number → what it refers to.
using descriptor_table = std::map<int, descriptor_identity>;

/// Every descriptor open now but the one used to list them; nullopt when
/// /proc/self/fd cannot be read.
[[nodiscard]] std::optional<descriptor_table> open_descriptors();

/// Those in `after` that `before` did not have, or had for something else (the
/// number was closed and reused): each was opened in between, in number order.
[[nodiscard]] std::vector<int> opened_since(const descriptor_table& before,
                                            const descriptor_table& after);

/// What `fd` refers to, as people read it: a path, "pipe:[17]",
/// "anon_inode:[eventfd]", a socket with its addresses ("socket:[4242], tcp
/// 127.0.0.1:40112 -> 127.0.0.1:5432"); "?" when it cannot be read.
[[nodiscard]] std::string descriptor_target(int fd);

}  // namespace faultscope::detail
