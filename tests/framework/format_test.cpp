// Formatting shared by reports and error messages.
#include "faultscope/detail/format.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace detail = faultscope::detail;
using namespace std::chrono_literals;

TEST(Format, ADurationTakesTheLargestUnitThatRendersItExactly) {
  EXPECT_EQ(detail::format_duration(30s), "30s");
  EXPECT_EQ(detail::format_duration(1500ms), "1500ms");
  EXPECT_EQ(detail::format_duration(7ns), "7ns");
  EXPECT_EQ(detail::format_duration(0ns), "0ns");  // divides by every unit, yet is no hours
  EXPECT_EQ(detail::format_duration(std::chrono::nanoseconds::max()), "forever");
}

TEST(Format, ANameListStopsAtWhatItShows) {
  EXPECT_EQ(detail::name_list({}), "");
  EXPECT_EQ(detail::name_list({"a", "b"}), "a, b");
  EXPECT_EQ(detail::name_list({"a", "b", "c"}, 2), "a, b, …");
  EXPECT_EQ(detail::name_list({"a", "b"}, 2), "a, b");
}

TEST(Format, OneLineShowsControlCharacters) {
  EXPECT_EQ(detail::one_line("a\nb\x7f"), "a\\x0ab\\x7f");
}

TEST(Format, XmlTextEscapesTheFiveEntitiesAndDropsWhatXmlCannotHold) {
  EXPECT_EQ(detail::xml_text("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(detail::xml_text(std::string("a\x01\x1b[31mb\tc\r\n", 12)), "a[31mb\tc\r\n");
}

TEST(Format, AnXmlAttributeKeepsItsLineBreaks) {
  EXPECT_EQ(detail::xml_text("one\ntwo", true), "one&#x0A;two");
  EXPECT_EQ(detail::xml_text("one\ntwo"), "one\ntwo");
}

TEST(Format, CdataSplitsAroundItsOwnEnd) {
  EXPECT_EQ(detail::xml_cdata("a < b"), "<![CDATA[a < b]]>");
  // Read back, the two sections are "x]]" and ">y": the text as given.
  EXPECT_EQ(detail::xml_cdata("x]]>y"), "<![CDATA[x]]]]><![CDATA[>y]]>");
  EXPECT_EQ(detail::xml_cdata("]]>]]>"), "<![CDATA[]]]]><![CDATA[>]]]]><![CDATA[>]]>");
}

TEST(Format, JsonTextEscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(detail::json_text(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(detail::json_text(std::string("a\nb\tc\rd\x01\x1b", 9)), R"(a\nb\tc\rd\u0001\u001b)");
  EXPECT_EQ(detail::json_text("\x1f\x20"), R"(\u001f )");  // the last control character
  EXPECT_EQ(detail::json_text("caf\xc3\xa9 <&>'"), "caf\xc3\xa9 <&>'");  // the rest as it is
}
