#include <sqlite3.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "faultscope/sqlite/error.hpp"
#include "faultscope/sqlite/value.hpp"

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

const std::vector<std::string>& row::columns() const {
  static const std::vector<std::string> none;
  return columns_ ? *columns_ : none;
}

std::size_t row::index(std::string_view column) const {
  const auto& cols = columns();
  auto it = std::find(cols.begin(), cols.end(), column);
  if (it == cols.end()) throw std::out_of_range(fmt::format("no column '{}' in the row", column));
  return static_cast<std::size_t>(it - cols.begin());
}

}  // namespace faultscope::sqlite
