#include "faultscope/fakes/stream.hpp"

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
  end ends[2];
};

boost::asio::awaitable<std::pair<stream, stream>> stream::connect_pair(
    tracker& t, std::string label, std::chrono::nanoseconds latency, std::source_location loc) {
  co_await fault_point("stream.connect");
  co_await sleep_for(latency);
  auto l = std::make_shared<link>();
  l->owner = &t;
  l->latency = latency;
  l->ends[0].id = t.acquire("stream", label + ":client", loc);
  l->ends[1].id = t.acquire("stream", label + ":server", loc);
  co_return std::pair{stream(l, 0), stream(l, 1)};
}

bool stream::is_open() const noexcept {
  return link_ && link_->ends[side_].open;
}
resource_id stream::id() const noexcept {
  return link_ ? link_->ends[side_].id : 0;
}

boost::asio::awaitable<std::string> stream::read() {
  auto l = link_;
  int side = side_;
  end& self = l->ends[side];
  l->owner->touch(self.id);
  co_await fault_point("stream.read");
  while (self.inbox.empty()) {
    if (!l->ends[1 - side].open) throw boost::system::system_error(boost::asio::error::eof);
    co_await self.reader.wait("stream.read waiting for the peer");
  }
  co_await sleep_for(l->latency);
  co_return std::exchange(self.inbox, {});
}

boost::asio::awaitable<void> stream::write(std::string data) {
  auto l = link_;
  int side = side_;
  l->owner->touch(l->ends[side].id);
  co_await fault_point("stream.write");
  co_await sleep_for(l->latency);
  end& peer = l->ends[1 - side];
  if (!peer.open) throw boost::system::system_error(boost::asio::error::broken_pipe);
  peer.inbox += data;
  bool ready = true;
  peer.reader.grant(ready);
}

boost::asio::awaitable<void> stream::close() {
  auto l = link_;
  int side = side_;
  end& self = l->ends[side];
  self.open = false;
  l->owner->release(self.id);
  bool eof = true;
  l->ends[1 - side].reader.grant(eof);  // wake the peer's read: it sees eof
  co_await sleep_for(l->latency);
  co_await fault_point("stream.close");
}

}  // namespace faultscope::fakes
