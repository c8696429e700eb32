// Asio's handler-tracking hooks, pointed at faultscope so that a run can name the
// Asio operations still pending on its context — a channel receive, a socket
// read, a steady_timer wait — where it would otherwise only know that some
// operation it cannot see is pending. Asio includes this header itself, from
// boost/asio/detail/handler_tracking.hpp, when a build defines
//
//   BOOST_ASIO_CUSTOM_HANDLER_TRACKING=<faultscope/detail/asio_tracking.hpp>
//
// which CMake's FAULTSCOPE_ASIO_TRACKING=ON does for every target that links
// faultscope (and faultscope::asio_tracking for other targets of the binary).
// It is included before Asio's own declarations, so it may include nothing of
// Asio's; and the hooks are defined only in a faultscope built with the option,
// so a program compiled with them against one built without fails to link
// instead of mixing two layouts of use_awaitable_t.
#pragma once

#include <cstdint>

namespace boost::asio {
class execution_context;
}

namespace faultscope::detail::asio_tracking {

/// One entry of a thread's stack of call sites that Asio names while it starts
/// an operation: a composed operation's (`async_read_until` in its header), a
/// `use_awaitable_t{}`'s (the co_await in the caller's source).
class location {
 public:
  location(const char* file, int line, const char* function) noexcept;
  ~location();
  location(const location&) = delete;
  location& operator=(const location&) = delete;

  const char* const file;
  const int line;
  const char* const function;
  const location* const outer;
};

/// Marks, on the same stack, where Asio began to invoke a handler: an
/// operation started inside the handler was not started by the call sites
/// around the invocation (an inline dispatch inside another's initiation).
class invocation : public location {
 public:
  invocation() noexcept : location(nullptr, boundary, nullptr) {}
  template <typename... Args>
  static invocation begin(const Args&... /*arguments*/) noexcept {
    return invocation();
  }
  static constexpr int boundary = -1;
};

void creation(const boost::asio::execution_context& context, const void* operation,
              const char* object_type, std::uintmax_t native_handle,
              const char* operation_name) noexcept;
void completion(const void* operation) noexcept;

template <typename Operation>
void on_creation(const boost::asio::execution_context& context, Operation& operation,
                 const char* object_type, const volatile void* /*object*/,
                 std::uintmax_t native_handle, const char* operation_name) noexcept {
  creation(context, __builtin_addressof(operation), object_type, native_handle, operation_name);
}

template <typename Operation>
void on_completion(const Operation& operation) noexcept {
  completion(__builtin_addressof(operation));
}

}  // namespace faultscope::detail::asio_tracking

// The handler keeps Asio's layout: faultscope keys an operation by its address,
// so no base class is added to it.
#define BOOST_ASIO_INHERIT_TRACKED_HANDLER
#define BOOST_ASIO_ALSO_INHERIT_TRACKED_HANDLER
#define BOOST_ASIO_HANDLER_TRACKING_INIT (void)0
#define BOOST_ASIO_HANDLER_LOCATION(args) \
  ::faultscope::detail::asio_tracking::location faultscope_asio_location args
#define BOOST_ASIO_HANDLER_CREATION(args) ::faultscope::detail::asio_tracking::on_creation args
// Asio calls this both when an operation completes and when it is destroyed
// without completing (its context shut down): either way it is no longer pending.
#define BOOST_ASIO_HANDLER_COMPLETION(args) ::faultscope::detail::asio_tracking::on_completion args
// Asio writes both in one block around the call; the boundary ends with it,
// on an exception too.
#define BOOST_ASIO_HANDLER_INVOCATION_BEGIN(args)                                    \
  const ::faultscope::detail::asio_tracking::invocation faultscope_asio_invocation = \
      ::faultscope::detail::asio_tracking::invocation::begin args
#define BOOST_ASIO_HANDLER_INVOCATION_END (void)0
#define BOOST_ASIO_HANDLER_OPERATION(args) (void)0
#define BOOST_ASIO_HANDLER_REACTOR_REGISTRATION(args) (void)0
#define BOOST_ASIO_HANDLER_REACTOR_DEREGISTRATION(args) (void)0
#define BOOST_ASIO_HANDLER_REACTOR_READ_EVENT 0
#define BOOST_ASIO_HANDLER_REACTOR_WRITE_EVENT 0
#define BOOST_ASIO_HANDLER_REACTOR_ERROR_EVENT 0
#define BOOST_ASIO_HANDLER_REACTOR_EVENTS(args) (void)0
#define BOOST_ASIO_HANDLER_REACTOR_OPERATION(args) (void)0
