// The descriptor table behind run_options::check_fds.
#include "faultscope/detail/descriptors.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace detail = faultscope::detail;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::IsEmpty;
using ::testing::StartsWith;

namespace {

TEST(Descriptors, ListAPipeWhileItIsOpenAndNotOnceItIsClosed) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  auto open = detail::open_descriptors();
  ASSERT_TRUE(open.has_value());
  EXPECT_TRUE(open->contains(ends[0]));
  EXPECT_TRUE(open->contains(ends[1]));
  EXPECT_THAT(detail::descriptor_target(ends[0]), StartsWith("pipe:["));
  ::close(ends[0]);
  ::close(ends[1]);
  auto after = detail::open_descriptors();
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->contains(ends[0]));
  EXPECT_FALSE(after->contains(ends[1]));
  EXPECT_EQ(detail::descriptor_target(ends[0]), "?");
}

TEST(Descriptors, ATargetTooLongToShowInFullEndsInAnEllipsis) {
  // A file 600 characters deep: readlink's buffer holds 512.
  std::string dir = ::testing::TempDir() + "fd_target";
  ::mkdir(dir.c_str(), 0700);
  std::vector<std::string> made{dir};
  while (dir.size() < 600) {
    dir += "/" + std::string(100, 'd');
    ::mkdir(dir.c_str(), 0700);
    made.push_back(dir);
  }
  const std::string file = dir + "/f";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string target = detail::descriptor_target(fd);
  ::close(fd);
  ::unlink(file.c_str());
  for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
  EXPECT_THAT(target, StartsWith(::testing::TempDir() + "fd_target/ddd"));
  EXPECT_THAT(target, EndsWith("d…"));
}

sockaddr_in loopback(std::uint16_t port = 0) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A socket of `type` bound to 127.0.0.1 on a port the kernel picks, or -1.
int bound_to_loopback(int type) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback();
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t length = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  return ntohs(a.sin_port);
}

TEST(Descriptors, ASocketIsNamedByItsAddresses) {
  const int listener = bound_to_loopback(SOCK_STREAM);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  sockaddr_in a = loopback(port_of(listener));
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string server = "127.0.0.1:" + std::to_string(port_of(listener));
  const std::string listening = detail::descriptor_target(listener);
  const std::string connected = detail::descriptor_target(client);
  const std::string expected_client =
      ", tcp 127.0.0.1:" + std::to_string(port_of(client)) + " -> " + server;
  ::close(client);
  ::close(listener);
  EXPECT_THAT(listening, StartsWith("socket:["));
  EXPECT_THAT(listening, EndsWith("], tcp " + server + ", not connected"));
  EXPECT_THAT(connected, EndsWith("]" + expected_client));
}

// A datagram socket is udp; an IPv6 address is bracketed before its port.
TEST(Descriptors, UdpAndIpv6SocketsAreNamedAsTheirAddressesAreWritten) {
  const int udp = bound_to_loopback(SOCK_DGRAM);
  ASSERT_GE(udp, 0);
  const std::string datagram = detail::descriptor_target(udp);
  const std::string bound = "127.0.0.1:" + std::to_string(port_of(udp));
  ::close(udp);
  EXPECT_THAT(datagram, EndsWith("], udp " + bound + ", not connected"));

  const int tcp6 = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  if (tcp6 < 0 || ::bind(tcp6, reinterpret_cast<sockaddr*>(&a6), sizeof a6) != 0) {
    if (tcp6 >= 0) ::close(tcp6);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  socklen_t length = sizeof a6;
  ::getsockname(tcp6, reinterpret_cast<sockaddr*>(&a6), &length);
  const std::string six = detail::descriptor_target(tcp6);
  ::close(tcp6);
  EXPECT_THAT(six,
              EndsWith("], tcp [::1]:" + std::to_string(ntohs(a6.sin6_port)) + ", not connected"));
}

TEST(Descriptors, AUnixSocketIsNamedByItsPathIfItHasOne) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_THAT(detail::descriptor_target(pair[0]), EndsWith("], unix"));
  ::close(pair[0]);
  ::close(pair[1]);
  const std::string path = ::testing::TempDir() + "descriptors_test.sock";
  ::unlink(path.c_str());
  const int bound = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  path.copy(un.sun_path, sizeof un.sun_path - 1);
  ASSERT_EQ(::bind(bound, reinterpret_cast<sockaddr*>(&un), sizeof un), 0);
  const std::string target = detail::descriptor_target(bound);
  ::close(bound);
  ::unlink(path.c_str());
  EXPECT_THAT(target, EndsWith("], unix " + path));

  // Linux's abstract namespace: a name that starts with a NUL, written '@'.
  const std::string abstract = "faultscope-descriptors-test-" + std::to_string(::getpid());
  const int named = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un an{};
  an.sun_family = AF_UNIX;
  abstract.copy(an.sun_path + 1, sizeof an.sun_path - 2);
  const auto an_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  ASSERT_EQ(::bind(named, reinterpret_cast<sockaddr*>(&an), an_length), 0);
  const std::string abstract_target = detail::descriptor_target(named);
  ::close(named);
  EXPECT_THAT(abstract_target, EndsWith("], unix @" + abstract));
}

TEST(Descriptors, DoNotListTheDirectoryTheyAreReadFrom) {
  auto first = detail::open_descriptors();
  auto second = detail::open_descriptors();
  ASSERT_TRUE(first && second);
  EXPECT_THAT(detail::opened_since(*first, *second), IsEmpty());
}

TEST(Descriptors, ANumberClosedAndReusedForAnotherFileCountsAsOpenedSince) {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto before = detail::open_descriptors();
  ::close(fd);
  const int again = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);  // the lowest free number
  ASSERT_EQ(again, fd);
  auto after = detail::open_descriptors();
  ::close(again);
  ASSERT_TRUE(before && after);
  EXPECT_THAT(detail::opened_since(*before, *after), ElementsAre(fd));
}

TEST(Descriptors, OpenedSinceIsWhatIsNewOrNowRefersToSomethingElse) {
  const detail::descriptor_table before{{0, {1, 10}}, {3, {2, 20}}, {4, {3, 30}}};
  const detail::descriptor_table after{{0, {1, 10}}, {3, {2, 21}}, {5, {4, 40}}};
  EXPECT_THAT(detail::opened_since(before, after), ElementsAre(3, 5));  // 3 reused, 4 closed, 5 new
  EXPECT_THAT(detail::opened_since(after, after), IsEmpty());
}

}  // namespace
