// Machinery: the run's side of Asio's handler tracking (asio_tracking.hpp).
// While a watch lives, every Asio operation created on its context is recorded
// until it completes, so the run can name what is still pending when it ends
// or hangs. In a build without FAULTSCOPE_ASIO_TRACKING nothing is recorded.
// Not part of the public API.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class execution_context;
}

namespace faultscope::detail {

class asio_op_watch {
 public:
  /// Whether this build of faultscope records Asio operations at all.
  static const bool enabled;

  explicit asio_op_watch(const boost::asio::execution_context& context);
  ~asio_op_watch();
  asio_op_watch(const asio_op_watch&) = delete;
  asio_op_watch& operator=(const asio_op_watch&) = delete;

  /// The operations created on the context and not completed, in the order
  /// they were started, identical ones once with a count:
  /// "Asio channel async_receive at vendor/queue.cpp:19 (×2)".
  [[nodiscard]] std::vector<std::string> pending() const;

  struct table;

 private:
  std::unique_ptr<table> table_;
};

}  // namespace faultscope::detail
