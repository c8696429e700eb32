// The README's links: every `#section` it points at is one of its headings, and
// every file it points at is in the repository. The README is the first thing a
// user reads; a link that goes nowhere there is a bug.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// GitHub's anchor for a heading: lower case, spaces to dashes, punctuation
// other than '-' and '_' dropped; a repeated heading gets -1, -2, ….
std::string slug(std::string_view heading) {
  std::string s;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '-' || c == '_' || c >= 0x80)
      s += static_cast<char>(std::tolower(c));
    else if (c == ' ')
      s += '-';
  }
  return s;
}

// The text outside fenced code blocks, where a heading is a heading.
std::string unfenced(std::string_view markdown) {
  std::string out;
  bool fenced = false;
  std::istringstream in{std::string(markdown)};
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("```")) {
      fenced = !fenced;
    } else if (!fenced) {
      out += line;
    }
    out += '\n';
  }
  return out;
}

// Without inline code spans either, where a link is a link (not a lambda's
// `[](int x)`). A span may cross a line break.
std::string without_spans(std::string_view text) {
  std::string out;
  bool span = false;
  for (char c : text) {
    if (c == '`')
      span = !span;
    else if (!span || c == '\n')
      out += c;
  }
  return out;
}

struct link_problems {
  std::vector<std::string> anchors;  ///< `#x` naming no heading
  std::vector<std::string> files;    ///< a relative path naming no file
};

link_problems check_links(std::string_view markdown, const std::filesystem::path& dir) {
  const std::string text = unfenced(markdown);
  std::set<std::string> anchors;
  std::map<std::string, int> seen;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    auto hashes = line.find_first_not_of('#');
    if (hashes == 0 || hashes == std::string::npos || hashes > 6 || line[hashes] != ' ') continue;
    std::string s = slug(std::string_view(line).substr(hashes + 1));
    int n = seen[s]++;
    anchors.insert(n == 0 ? s : s + "-" + std::to_string(n));
  }
  link_problems problems;
  const std::string prose = without_spans(text);
  for (std::size_t at = prose.find("]("); at != std::string::npos; at = prose.find("](", at + 2)) {
    auto end = prose.find(')', at + 2);
    if (end == std::string::npos) break;
    std::string target = prose.substr(at + 2, end - at - 2);
    if (target.empty() || target.find_first_of(" \n") != std::string::npos) continue;
    if (target.starts_with("http://") || target.starts_with("https://")) continue;
    if (target.starts_with('#')) {
      if (!anchors.contains(target.substr(1))) problems.anchors.push_back(target);
    } else if (!std::filesystem::exists(dir / target.substr(0, target.find('#')))) {
      problems.files.push_back(target);
    }
  }
  return problems;
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Readme, EveryLinkLeadsSomewhere) {
  const std::filesystem::path root = FAULTSCOPE_SOURCE_DIR;
  const std::string readme = read(root / "README.md");
  ASSERT_GT(readme.size(), 1000u) << "README.md not found in " << root;
  auto problems = check_links(readme, root);
  EXPECT_THAT(problems.anchors, ::testing::IsEmpty()) << "links to no heading";
  EXPECT_THAT(problems.files, ::testing::IsEmpty()) << "links to no file";
}

// Canary: the checker finds what it is for, and is not fooled by code.
TEST(Readme, CanaryBrokenLinksAreFound) {
  const std::filesystem::path root = FAULTSCOPE_SOURCE_DIR;
  auto problems = check_links(
      "# Top\n"
      "## A run (`x::y`)\n"
      "## A run (`x::y`)\n"
      "[ok](#a-run-xy) [second](#a-run-xy-1) [top](#top) [file](README.md#top)\n"
      "[gone](#no-such-section) [moved](#a-run-xy-2) [lost](NO_SUCH_FILE.md)\n"
      "[split\ntext](#top) [web](https://example.com/x)\n"
      "`[](#in-code)` and\n"
      "```\n"
      "## Not a heading\n"
      "auto f = [](int x) { return x; };  // [](#in-a-fence)\n"
      "```\n"
      "[fenced](#not-a-heading)\n",
      root);
  EXPECT_THAT(problems.anchors,
              ::testing::ElementsAre("#no-such-section", "#a-run-xy-2", "#not-a-heading"));
  EXPECT_THAT(problems.files, ::testing::ElementsAre("NO_SUCH_FILE.md"));
}
