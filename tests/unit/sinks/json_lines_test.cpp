#include "guardrail/sinks/json_lines.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace guardrail {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gr-jsonl-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::ordered_json alert(int n) {
  nlohmann::ordered_json j;
  j["type"] = "net_connect";
  j["n"] = n;
  j["exe"] = "/usr/bin/caf\xc3\xa9\n\"x\"";  // UTF-8 kept, control characters escaped
  j["bad"] = std::string("\xff\xfe", 2);     // invalid UTF-8: replaced, not thrown
  j["labels"] = nlohmann::ordered_json::object();
  return j;
}

std::string line(int n) {
  return alert(n).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

TEST(JsonLinesSink, DeferredLinesAreTheSameBytesAsDumpAndGoOutAtFlush) {
  TempDir dir;
  const auto file = dir.path / "alerts.jsonl";
  auto sink = JsonLinesSink::open(file.string());
  ASSERT_TRUE(sink) << sink.error().message;
  EXPECT_TRUE((*sink)->defer(alert(1)));
  EXPECT_TRUE((*sink)->defer(alert(2)));
  EXPECT_EQ(slurp(file), "");  // not yet
  EXPECT_TRUE((*sink)->flush());
  EXPECT_EQ(slurp(file), line(1) + line(2));
  EXPECT_TRUE((*sink)->flush());  // nothing deferred: nothing to fail
}

TEST(JsonLinesSink, AnImmediateWriteGoesOutAfterTheDeferredLines) {
  TempDir dir;
  const auto file = dir.path / "alerts.jsonl";
  auto sink = JsonLinesSink::open(file.string());
  ASSERT_TRUE(sink);
  EXPECT_TRUE((*sink)->defer(alert(1)));
  EXPECT_TRUE((*sink)->write(alert(2)));
  EXPECT_EQ(slurp(file), line(1) + line(2));
  EXPECT_TRUE((*sink)->flush());  // the deferred line was written by write()
}

TEST(JsonLinesSink, DeferredLinesRotateAtTheSameLineAsImmediateWrites) {
  TempDir dir;
  const auto file = dir.path / "alerts.jsonl";
  const std::uint64_t max = 2 * line(1).size() + 1;  // two lines per file
  auto sink = JsonLinesSink::open(file.string(), max, 3);
  ASSERT_TRUE(sink);
  for (int i = 1; i <= 5; i++) EXPECT_TRUE((*sink)->defer(alert(i)));
  EXPECT_TRUE((*sink)->flush());
  EXPECT_EQ(slurp(fs::path(file.string() + ".2")), line(1) + line(2));
  EXPECT_EQ(slurp(fs::path(file.string() + ".1")), line(3) + line(4));
  EXPECT_EQ(slurp(file), line(5));
}

TEST(JsonLinesSink, LinesLeftDeferredAreWrittenWhenTheSinkCloses) {
  TempDir dir;
  const auto file = dir.path / "alerts.jsonl";
  {
    auto sink = JsonLinesSink::open(file.string());
    ASSERT_TRUE(sink);
    EXPECT_TRUE((*sink)->defer(alert(1)));
  }
  EXPECT_EQ(slurp(file), line(1));
}

TEST(JsonLinesSink, AFailedWriteOfDeferredLinesIsReportedByFlush) {
  // /dev/full takes the open and refuses every write.
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full here";
  auto sink = JsonLinesSink::open("/dev/full");
  ASSERT_TRUE(sink);
  EXPECT_TRUE((*sink)->defer(alert(1)));
  EXPECT_FALSE((*sink)->flush());
  EXPECT_TRUE((*sink)->flush());  // reported once
  EXPECT_FALSE((*sink)->write(alert(2)));
}

}  // namespace
}  // namespace guardrail
