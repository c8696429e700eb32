// A fake file system in memory: open, read, write, close, each a fault point
// with a latency, every open file tracked. Writes are visible to later reads.
//
//   faultscope::fakes::filesystem fs(tracker);
//   auto f = co_await fs.open("users.csv");
//   co_await f.write("ada\n");
//   co_await f.close();
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <source_location>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "faultscope/tracker.hpp"

namespace faultscope::fakes {

using namespace std::chrono_literals;

struct file_options {
  std::chrono::nanoseconds open_latency = 1ms;
  std::chrono::nanoseconds io_latency = 1ms;
};

class filesystem;

/// Fault points: file.open, file.read, file.write, file.close (after release).
class file {
 public:
  file() = default;
  // `loc`: the caller's line, which a use after close or a second close names.
  boost::asio::awaitable<std::string> read(
      std::source_location loc = std::source_location::current());
  boost::asio::awaitable<std::size_t> write(
      std::string data, std::source_location loc = std::source_location::current());
  boost::asio::awaitable<void> close(std::source_location loc = std::source_location::current());
  [[nodiscard]] bool is_open() const noexcept { return state_ && state_->open; }
  [[nodiscard]] resource_id id() const noexcept { return state_ ? state_->id : 0; }

 private:
  friend class filesystem;
  struct state {
    filesystem* fs = nullptr;
    std::string path;
    resource_id id = 0;
    bool open = false;
  };
  explicit file(std::shared_ptr<state> s) : state_(std::move(s)) {}
  std::shared_ptr<state> state_;
};

class filesystem {
 public:
  explicit filesystem(tracker& t, file_options options = {}) : tracker_(t), options_(options) {}
  boost::asio::awaitable<file> open(std::string path,
                                    std::source_location loc = std::source_location::current());
  [[nodiscard]] const std::string& contents(const std::string& path) { return files_[path]; }

 private:
  friend class file;
  tracker& tracker_;
  file_options options_;
  std::map<std::string, std::string> files_;
};

}  // namespace faultscope::fakes
