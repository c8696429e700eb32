#include "faultscope/fakes/file.hpp"

#include <stdexcept>

#include "faultscope/fault_point.hpp"
#include "faultscope/virtual_time.hpp"

namespace faultscope::fakes {

boost::asio::awaitable<file> filesystem::open(std::string path, std::source_location loc) {
  co_await fault_point("file.open");
  co_await sleep_for(options_.open_latency);
  auto s = std::make_shared<file::state>();
  s->fs = this;
  s->path = std::move(path);
  files_[s->path];  // create if missing
  s->id = tracker_.acquire("file", s->path, loc);
  s->open = true;
  co_return file(std::move(s));
}

boost::asio::awaitable<std::string> file::read(std::source_location loc) {
  if (!state_) throw std::logic_error("read of an empty fakes::file");
  auto s = state_;
  s->fs->tracker_.touch(s->id, loc);
  co_await fault_point("file.read");
  co_await sleep_for(s->fs->options_.io_latency);
  co_return s->fs->files_[s->path];
}

boost::asio::awaitable<std::size_t> file::write(std::string data, std::source_location loc) {
  if (!state_) throw std::logic_error("write of an empty fakes::file");
  auto s = state_;
  s->fs->tracker_.touch(s->id, loc);
  co_await fault_point("file.write");
  co_await sleep_for(s->fs->options_.io_latency);
  s->fs->files_[s->path] += data;
  co_return data.size();
}

boost::asio::awaitable<void> file::close(std::source_location loc) {
  if (!state_) throw std::logic_error("close of an empty fakes::file");
  auto s = state_;
  s->open = false;
  s->fs->tracker_.release(s->id, loc);
  co_await sleep_for(s->fs->options_.io_latency);
  co_await fault_point("file.close");
}

}  // namespace faultscope::fakes
