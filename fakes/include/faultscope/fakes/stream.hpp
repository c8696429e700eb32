// A socket-like byte stream: two connected ends; what one writes the other reads;
// closing one end gives the other end-of-file. Each end is tracked; connect,
// read, write and close are fault points.
//
//   auto [client, server] = co_await faultscope::fakes::stream::connect_pair(tracker, "api");
//   co_await client.write("GET /");
//   auto request = co_await server.read();   // "GET /"
//   co_await client.close();                  // server.read() now ends with eof
//
// Each end is also an Asio AsyncReadStream and AsyncWriteStream, so code
// written against those (asio::async_read_until, async_write, Beast) runs on it:
//
//   std::string line;
//   co_await boost::asio::async_read_until(server, boost::asio::dynamic_buffer(line), '\n',
//                                          boost::asio::use_awaitable);
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/system/error_code.hpp>

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
  ///
  /// `loc`, here and below: the caller's line, which a use after close or a
  /// second close names.
  boost::asio::awaitable<std::string> read(
      std::source_location loc = std::source_location::current());
  boost::asio::awaitable<void> write(std::string data,
                                     std::source_location loc = std::source_location::current());
  boost::asio::awaitable<void> close(std::source_location loc = std::source_location::current());
  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] resource_id id() const noexcept;

  // Asio's AsyncReadStream and AsyncWriteStream: any completion token,
  // per-operation cancellation (operation_aborted), eof once the peer closed and
  // everything was read. The same fault points as read and write; a fault
  // there completes the operation with its code (`error(connection_reset)`),
  // `throw` with io_error.
  using executor_type = boost::asio::any_io_executor;
  /// The executor of connect_pair's caller.
  [[nodiscard]] executor_type get_executor() const noexcept;

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    std::vector<boost::asio::mutable_buffer> into(boost::asio::buffer_sequence_begin(buffers),
                                                  boost::asio::buffer_sequence_end(buffers));
    return start(std::forward<Token>(token), [l = link_, side = side_, into = std::move(into)] {
      return read_some(l, side, into);
    });
  }

  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    std::string data(boost::asio::buffer_size(buffers), '\0');
    boost::asio::buffer_copy(boost::asio::buffer(data), buffers);
    return start(std::forward<Token>(token), [l = link_, side = side_, data = std::move(data)] {
      return write_some(l, side, data);
    });
  }

 private:
  struct end;
  struct link;
  stream(std::shared_ptr<link> l, int side) : link_(std::move(l)), side_(side) {}

  /// Both reads: the read fault point, then the peer's bytes (or eof once it
  /// closed), then the link's latency.
  static boost::asio::awaitable<void> inbox_ready(std::shared_ptr<link> l, int side);
  static boost::asio::awaitable<std::size_t> read_some(
      std::shared_ptr<link> l, int side, std::vector<boost::asio::mutable_buffer> into);
  static boost::asio::awaitable<std::size_t> write_some(std::shared_ptr<link> l, int side,
                                                        std::string data);
  /// What an exception of read_some or write_some completes the operation with.
  static boost::system::error_code to_error_code(std::exception_ptr e) noexcept;

  // Runs the coroutine `make` returns as one Asio operation: the handler's
  // cancellation slot reaches the coroutine's waits, and the handler runs on
  // its own executor.
  template <typename Token, typename MakeOp>
  auto start(Token&& token, MakeOp make) const {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [ex = get_executor()](auto handler, MakeOp make) {
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          auto handler_ex = boost::asio::get_associated_executor(handler, ex);
          boost::asio::co_spawn(
              ex, make(),
              boost::asio::bind_cancellation_slot(
                  slot, boost::asio::bind_executor(
                            handler_ex,
                            [h = std::move(handler)](std::exception_ptr e, std::size_t n) mutable {
                              auto ec = to_error_code(e);
                              std::move(h)(ec, ec ? std::size_t{0} : n);
                            })));
        },
        token, std::move(make));
  }

  std::shared_ptr<link> link_;
  int side_ = 0;
};

}  // namespace faultscope::fakes
