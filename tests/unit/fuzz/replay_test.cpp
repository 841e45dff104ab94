// Every file of fuzz/corpus/NAME/ through fuzz target NAME, in the normal build: each input a
// fuzzer found (a hang, a crash) stays a regression test. A test per file, named after it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "targets.hpp"

namespace guardrail::fuzz {
namespace {

struct Case {
  const Target* target;
  std::filesystem::path file;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

std::vector<Case> corpus() {
  std::vector<Case> out;
  const std::filesystem::path root = std::filesystem::path(GUARDRAIL_SOURCE_DIR) / "fuzz/corpus";
  for (const Target& target : kTargets) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root / target.name, ec))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::ranges::sort(files);
    for (auto& file : files) out.push_back({&target, std::move(file)});
  }
  return out;
}

std::string test_name(const testing::TestParamInfo<Case>& info) {
  std::string name =
      std::string(info.param.target->name) + "_" + info.param.file.filename().string();
  std::ranges::replace_if(
      name, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

class CorpusReplay : public testing::TestWithParam<Case> {};

TEST_P(CorpusReplay, EndsCleanly) {
  std::ifstream in(GetParam().file, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << GetParam().file;
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  GetParam().target->run(bytes);  // a crash, a sanitizer report or a hang fails the test
}

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusReplay, testing::ValuesIn(corpus()), test_name);

// Every target has a corpus (an empty folder would replay nothing and pass).
TEST(CorpusReplay, EveryTargetHasInputs) {
  for (const Target& target : kTargets)
    EXPECT_TRUE(std::ranges::any_of(corpus(), [&](const Case& c) { return c.target == &target; }))
        << "fuzz/corpus/" << target.name << " is empty";
}

}  // namespace
}  // namespace guardrail::fuzz
