#include <sqlite3.h>

#include <fmt/format.h>

#include "faultscope/sqlite/error.hpp"

namespace faultscope::sqlite {

namespace {
std::string render(int code, const std::string& message, const std::string& sql) {
  const char* name = sqlite3_errstr(code);
  std::string out = fmt::format("sqlite: {} (code {})", message.empty() ? name : message, code);
  if (!sql.empty())
    out += fmt::format(" in: {}", sql.size() > 200 ? sql.substr(0, 200) + "…" : sql);
  return out;
}
}  // namespace

error::error(int extended_code, const std::string& message, const std::string& sql)
    : std::runtime_error(render(extended_code, message, sql)),
      extended_code_(extended_code),
      sql_(sql) {}

}  // namespace faultscope::sqlite
