// Fuzz target: the file a runner going on past a blocked schedule reads with
// --continue-from. Any input either reads or throws continuation_error; what
// reads is written back in a form that reads again to the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "continuation.hpp"
#include "faultscope/scenarios/library.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The names a file may hold are the registered scenarios'.
  static const bool registered = (faultscope::scenarios::register_builtins(), true);
  (void)registered;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto read = faultscope::cli::from_text(text);
    const std::string written = faultscope::cli::to_text(read);
    FUZZ_CHECK(faultscope::cli::to_text(faultscope::cli::from_text(written)) == written,
               "what was read is written back in a form that reads the same");
  } catch (const faultscope::cli::continuation_error&) {
  }
  return 0;
}
