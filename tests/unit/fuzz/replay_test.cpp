// Every file of fuzz/corpus/NAME/ through fuzz target NAME, in the normal build: each input a
// fuzzer found (a hang, a crash) stays a regression test. The named inputs at the top of a
// corpus get a test each; the minimized fuzzing corpus in found/ one test per target.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "targets.hpp"

namespace guardrail::fuzz {
namespace {

const std::filesystem::path kCorpus = std::filesystem::path(GUARDRAIL_SOURCE_DIR) / "fuzz/corpus";

struct Case {
  const Target* target;
  std::filesystem::path file;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

// The files directly in `dir`, sorted (none when it does not exist).
std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::ranges::sort(files);
  return files;
}

std::vector<Case> named_inputs() {
  std::vector<Case> out;
  for (const Target& target : kTargets)
    for (auto& file : files_in(kCorpus / target.name)) out.push_back({&target, std::move(file)});
  return out;
}

void replay(const Target& target, const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << file;
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  target.run(bytes);  // a crash, a sanitizer report or a hang fails the test
}

std::string test_name(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.file.lexically_relative(kCorpus).string();  // "policy/x.yaml"
  std::ranges::replace_if(
      name, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

class CorpusReplay : public testing::TestWithParam<Case> {};

TEST_P(CorpusReplay, EndsCleanly) { replay(*GetParam().target, GetParam().file); }

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusReplay, testing::ValuesIn(named_inputs()), test_name);

TEST(CorpusReplay, FoundInputsEndCleanly) {
  for (const Target& target : kTargets)
    for (const auto& file : files_in(kCorpus / target.name / "found")) {
      SCOPED_TRACE(file.string());
      replay(target, file);
    }
}

// Every target has named inputs (an empty folder would replay nothing and pass).
TEST(CorpusReplay, EveryTargetHasInputs) {
  for (const Target& target : kTargets)
    EXPECT_FALSE(files_in(kCorpus / target.name).empty())
        << "fuzz/corpus/" << target.name << " has no inputs";
}

}  // namespace
}  // namespace guardrail::fuzz
