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

// A report must parse whatever text it carries: an exception's message in
// Latin-1, a statement cut short, a log with a stray byte.
TEST(Format, BytesThatAreNotUtf8BecomeTheReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(detail::json_text("caf\xe9!"), "caf" + fffd + "!");
  EXPECT_EQ(detail::xml_text("caf\xe9!"), "caf" + fffd + "!");
  EXPECT_EQ(detail::xml_cdata("caf\xe9!"), "<![CDATA[caf" + fffd + "!]]>");
  // A sequence broken off is one character; a byte no sequence starts with,
  // and each byte of an overlong form or a surrogate, one each.
  EXPECT_EQ(detail::json_text("\xe2\x82!"), fffd + "!");
  EXPECT_EQ(detail::json_text("\xe2\x82"), fffd);
  EXPECT_EQ(detail::json_text("\x80\xff"), fffd + fffd);
  EXPECT_EQ(detail::json_text("\xc0\xaf"), fffd + fffd);
  EXPECT_EQ(detail::json_text("\xe0\x9f\xbf"), fffd + fffd + fffd);
  EXPECT_EQ(detail::json_text("\xf0\x8f\xbf\xbf"), fffd + fffd + fffd + fffd);
  EXPECT_EQ(detail::json_text("\xed\xa0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(detail::json_text("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  // Every kind of well-formed sequence passes as it is, at its bounds too.
  for (const char* ok : {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                         "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xe2\x82\xac"})
    EXPECT_EQ(detail::json_text(ok), ok) << detail::one_line(ok);
}

TEST(Format, XmlDropsWhatItCannotHoldFromCdataAndNoncharactersToo) {
  const std::string coloured = std::string("a\x1b[31mb") + '\0' + "c\td";
  EXPECT_EQ(detail::xml_cdata(coloured), "<![CDATA[a[31mbc\td]]>");
  const std::string fffe = "\xEF\xBF\xBE", ffff = "\xEF\xBF\xBF", fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(detail::xml_text("a" + fffe + "b" + ffff + "c" + fffd), "abc" + fffd);
}

TEST(Format, AUtf8PrefixCutsBeforeACharacterItWouldSplit) {
  EXPECT_EQ(detail::utf8_prefix("abc", 3), "abc");
  EXPECT_EQ(detail::utf8_prefix("abcd", 3), "abc");
  EXPECT_EQ(detail::utf8_prefix("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(detail::utf8_prefix("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(detail::utf8_prefix("a\xe2\x82\xac", 3), "a");
  EXPECT_EQ(detail::utf8_prefix("\xf0\x9f\x98\x80x", 4), "\xf0\x9f\x98\x80");
}
