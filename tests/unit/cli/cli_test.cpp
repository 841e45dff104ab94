#include "guardrail/cli/cli.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string_view>

namespace guardrail {
namespace {

struct Run {
  int code;
  std::string out, err;
};

Run cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = run_cli(args, out, err);
  return {code, out.str(), err.str()};
}

enum class Printed { Out, Err };

// Runs the CLI with `args`: it exits with `code` and prints `text` on stdout or stderr.
void expect_cli(std::vector<std::string> args, int code, Printed where, std::string_view text) {
  const auto r = cli(std::move(args));
  EXPECT_EQ(r.code, code) << r.err;
  const std::string& printed = where == Printed::Out ? r.out : r.err;
  EXPECT_NE(printed.find(text), std::string::npos) << printed;
}

TEST(Cli, NoArgumentsIsAUsageError) {
  expect_cli({}, 2, Printed::Err, "usage: guardrail <command>");
}

TEST(Cli, UnknownCommandIsNamed) {
  expect_cli({"frobnicate"}, 2, Printed::Err, "unknown command 'frobnicate'");
}

TEST(Cli, AgentNeedsAPolicy) { expect_cli({"agent"}, 2, Printed::Err, "--policy"); }

TEST(Cli, AgentRejectsAnUnknownOption) {
  expect_cli({"agent", "--policy", "x.yaml", "--frob"}, 2, Printed::Err, "frob");
}

TEST(Cli, AgentRejectsATamperCheckTooOftenOrNegative) {
  for (const char* bad : {"-1", "0.001", "nan"})
    expect_cli({"agent", "--policy", "x.yaml", std::string("--tamper-check-seconds=") + bad}, 2,
               Printed::Err, "--tamper-check-seconds must be 0 (off) or at least 0.01");
}

TEST(Cli, AgentHelpListsItsOptions) {
  auto r = cli({"agent", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--metrics-address"), std::string::npos);
  EXPECT_NE(r.out.find("--alerts"), std::string::npos);
}

TEST(Cli, PolicyCheckNeedsFiles) {
  expect_cli({"policy", "check"}, 2, Printed::Err, "name at least one policy file");
}

TEST(Cli, PolicyWithoutCheckIsAUsageError) {
  expect_cli({"policy", "lint", "a.yaml"}, 2, Printed::Err, "guardrail policy check FILE");
}

TEST(Cli, PolicyCheckOfTheDefaultProfileSucceeds) {
  expect_cli({"policy", "check", std::string(GUARDRAIL_SOURCE_DIR) + "/profiles/default.yaml"}, 0,
             Printed::Out, "ok");
}

TEST(Cli, PolicyCheckOfAMissingFileFails) {
  expect_cli({"policy", "check", "/nonexistent/policy.yaml"}, 1, Printed::Err,
             "/nonexistent/policy.yaml");
}

TEST(Cli, VersionPrintsTheVersion) {
  auto r = cli({"version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string("guardrail ") + GUARDRAIL_VERSION + "\n");
}

}  // namespace
}  // namespace guardrail
