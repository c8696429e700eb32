// What a caller binds, as a SQLite value: every kind converts to its column
// type, and an unsigned integer SQLite cannot hold is refused, not wrapped.
#include "faultscope/sqlite/value.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sq = faultscope::sqlite;

namespace {

TEST(SqliteValue, EveryKindConvertsToItsColumnType) {
  EXPECT_EQ(sq::to_value(42), sq::value(std::int64_t{42}));
  EXPECT_EQ(sq::to_value(true), sq::value(std::int64_t{1}));
  EXPECT_EQ(sq::to_value(std::uint32_t{4'000'000'000u}), sq::value(std::int64_t{4'000'000'000}));
  EXPECT_EQ(sq::to_value('a'), sq::value(std::int64_t{97})) << "a char is a small integer";
  EXPECT_EQ(sq::to_value(2.5f), sq::value(2.5));
  EXPECT_EQ(sq::to_value("ada"), sq::value(std::string("ada")));
  EXPECT_EQ(sq::to_value(std::string_view("grace")), sq::value(std::string("grace")));
  EXPECT_EQ(sq::to_value(nullptr), sq::value(nullptr));
  EXPECT_EQ(sq::to_value(std::optional<int>()), sq::value(nullptr));
  EXPECT_EQ(sq::to_value(std::optional<int>(7)), sq::value(std::int64_t{7}));
  const sq::blob bytes{std::byte{0}, std::byte{255}};
  EXPECT_EQ(sq::to_value(bytes), sq::value(bytes));
}

TEST(SqliteValue, AnUnsignedIntegerAboveInt64MaxIsRefused) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(sq::to_value(static_cast<std::uint64_t>(max)), sq::value(max));
  EXPECT_THROW(static_cast<void>(sq::to_value(static_cast<std::uint64_t>(max) + 1)),
               std::out_of_range)
      << "would be bound as a negative number";
  EXPECT_THROW(static_cast<void>(sq::to_value(
                   std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()))),
               std::out_of_range);
}

}  // namespace
