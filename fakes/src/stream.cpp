#include "faultscope/fakes/stream.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include "faultscope/fault_point.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::fakes {

struct stream::end {
  resource_id id = 0;
  bool open = true;
  std::string inbox;                ///< bytes written by the peer, not yet read
  detail::wait_queue<bool> reader;  ///< a read waiting for bytes or eof
};

struct stream::link {
  faultscope::tracker* owner = nullptr;
  std::chrono::nanoseconds latency{};
  boost::asio::any_io_executor executor;
  end ends[2];
};

boost::asio::awaitable<std::pair<stream, stream>> stream::connect_pair(
    tracker& t, std::string label, std::chrono::nanoseconds latency, std::source_location loc) {
  co_await fault_point("stream.connect");
  co_await sleep_for(latency);
  auto l = std::make_shared<link>();
  l->owner = &t;
  l->latency = latency;
  l->executor = co_await boost::asio::this_coro::executor;
  l->ends[0].id = t.acquire("stream", label + ":client", loc);
  l->ends[1].id = t.acquire("stream", label + ":server", loc);
  co_return std::pair{stream(l, 0), stream(l, 1)};
}

stream::executor_type stream::get_executor() const noexcept {
  return link_->executor;
}

bool stream::is_open() const noexcept {
  return link_ && link_->ends[side_].open;
}
resource_id stream::id() const noexcept {
  return link_ ? link_->ends[side_].id : 0;
}

boost::asio::awaitable<void> stream::inbox_ready(std::shared_ptr<link> l, int side) {
  end& self = l->ends[side];
  co_await fault_point("stream.read");
  while (self.inbox.empty()) {
    if (!l->ends[1 - side].open) throw boost::system::system_error(boost::asio::error::eof);
    co_await self.reader.wait("stream.read waiting for the peer");
  }
  co_await sleep_for(l->latency);
}

boost::asio::awaitable<std::string> stream::read(std::source_location loc) {
  auto l = link_;
  int side = side_;
  end& self = l->ends[side];
  l->owner->touch(self.id, loc);
  co_await inbox_ready(l, side);
  co_return std::exchange(self.inbox, {});
}

boost::asio::awaitable<void> stream::write(std::string data, std::source_location loc) {
  auto l = link_;
  int side = side_;
  l->owner->touch(l->ends[side].id, loc);
  co_await fault_point("stream.write");
  co_await sleep_for(l->latency);
  end& peer = l->ends[1 - side];
  if (!peer.open) throw boost::system::system_error(boost::asio::error::broken_pipe);
  peer.inbox += data;
  bool ready = true;
  peer.reader.grant(ready);
}

boost::asio::awaitable<void> stream::close(std::source_location loc) {
  auto l = link_;
  int side = side_;
  end& self = l->ends[side];
  self.open = false;
  l->owner->release(self.id, loc);
  bool eof = true;
  l->ends[1 - side].reader.grant(eof);  // wake the peer's read: it sees eof
  co_await sleep_for(l->latency);
  co_await fault_point("stream.close");
}

boost::asio::awaitable<std::size_t> stream::read_some(
    std::shared_ptr<link> l, int side, std::vector<boost::asio::mutable_buffer> into) {
  end& self = l->ends[side];
  l->owner->touch(self.id);
  // Asio's rule: a read into no space completes at once, with nothing.
  if (boost::asio::buffer_size(into) == 0) co_return 0;
  co_await inbox_ready(l, side);
  std::size_t n = boost::asio::buffer_copy(into, boost::asio::buffer(self.inbox));
  self.inbox.erase(0, n);
  co_return n;
}

boost::asio::awaitable<std::size_t> stream::write_some(std::shared_ptr<link> l, int side,
                                                       std::string data) {
  if (data.empty()) {
    l->owner->touch(l->ends[side].id);
    co_return 0;
  }
  std::size_t n = data.size();
  stream self(std::move(l), side);
  co_await self.write(std::move(data));
  co_return n;
}

boost::system::error_code stream::to_error_code(std::exception_ptr e) noexcept {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& x) {
    return x.code();
  } catch (...) {
    // An injected `throw` (or any other failure) is what a socket reports as EIO.
    return make_error_code(boost::system::errc::io_error);
  }
}

}  // namespace faultscope::fakes
