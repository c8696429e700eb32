// Built by tracking_guard.cmake with Asio handler tracking's definitions
// against a faultscope built without them: it must not link.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

int main() {
  boost::asio::io_context io;
  boost::asio::post(io, [] {});
  io.run();
}
