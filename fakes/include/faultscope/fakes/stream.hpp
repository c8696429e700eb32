// A socket-like byte stream: two connected ends; what one writes the other reads;
// closing one end gives the other end-of-file. Each end is tracked; connect,
// read, write and close are fault points.
//
//   auto [client, server] = co_await faultscope::fakes::stream::connect_pair(tracker, "api");
//   co_await client.write("GET /");
//   auto request = co_await server.read();   // "GET /"
//   co_await client.close();                  // server.read() now ends with eof
#pragma once

#include <chrono>
#include <memory>
#include <source_location>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "faultscope/fakes/detail/wait_queue.hpp"
#include "faultscope/tracker.hpp"

namespace faultscope::fakes {

using namespace std::chrono_literals;

/// Fault points: stream.connect, stream.read, stream.write, stream.close (after release).
class stream {
 public:
  stream() = default;
  [[nodiscard]] static boost::asio::awaitable<std::pair<stream, stream>> connect_pair(
      tracker& t, std::string label, std::chrono::nanoseconds latency,
      std::source_location loc = std::source_location::current());
  // Overloads, not default arguments: g++ 12 mis-copies class-type default
  // arguments of coroutines.
  [[nodiscard]] static boost::asio::awaitable<std::pair<stream, stream>> connect_pair(
      tracker& t, std::string label, std::source_location loc = std::source_location::current()) {
    return connect_pair(t, std::move(label), std::chrono::milliseconds(1), loc);
  }
  [[nodiscard]] static boost::asio::awaitable<std::pair<stream, stream>> connect_pair(
      tracker& t, std::source_location loc = std::source_location::current()) {
    return connect_pair(t, "stream", loc);
  }

  /// Waits for bytes; throws `boost::asio::error::eof` once the peer closed and
  /// everything was read.
  boost::asio::awaitable<std::string> read();
  boost::asio::awaitable<void> write(std::string data);
  boost::asio::awaitable<void> close();
  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] resource_id id() const noexcept;

 private:
  struct end;
  struct link;
  stream(std::shared_ptr<link> l, int side) : link_(std::move(l)), side_(side) {}
  std::shared_ptr<link> link_;
  int side_ = 0;
};

}  // namespace faultscope::fakes
