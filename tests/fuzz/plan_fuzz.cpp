// Fuzz target: fault plans and replay tokens, as typed by a user or pasted from a
// CI log. Any input either parses or throws plan_error with a one-line message;
// what parses prints canonically and parses back to the same plan.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "faultscope/explore.hpp"
#include "faultscope/fault_plan.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto plan = faultscope::fault_plan::parse(text);
    const std::string canonical = plan.to_string();
    FUZZ_CHECK(faultscope::fault_plan::parse(canonical) == plan, "canonical form parses back");
    FUZZ_CHECK(faultscope::fault_plan::parse(canonical).to_string() == canonical,
               "canonical form is stable");
  } catch (const faultscope::plan_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).find('\n') == std::string_view::npos,
               "a plan error is one line");
  }
  try {
    auto [name, plan] = faultscope::parse_replay_token(text);
    FUZZ_CHECK(!name.empty(), "a token names a scenario");
    auto again = faultscope::parse_replay_token(faultscope::replay_token(name, plan));
    FUZZ_CHECK(again.first == name && again.second == plan, "a printed token parses back");
  } catch (const faultscope::plan_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).find('\n') == std::string_view::npos,
               "a token error is one line");
  }
  return 0;
}
