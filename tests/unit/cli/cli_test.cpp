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

TEST(Cli, AgentHelpNamesPinningAndDetaching) {
  expect_cli({"agent", "--help"}, 0, Printed::Out, "--pin-dir");
  expect_cli({"agent", "--help"}, 0, Printed::Out, "--detach-on-exit");
}

TEST(Cli, UninstallWithNothingPinnedSaysSo) {
  expect_cli({"uninstall", "--pin-dir", "/nonexistent/guardrail-pins"}, 0, Printed::Out,
             "nothing pinned at /nonexistent/guardrail-pins");
  expect_cli({"help"}, 0, Printed::Out, "uninstall");
}

TEST(Cli, AgentRejectsAnUnknownOption) {
  expect_cli({"agent", "--policy", "x.yaml", "--frob"}, 2, Printed::Err, "frob");
}

TEST(Cli, AgentRejectsATamperCheckTooOftenOrNegative) {
  for (const char* bad : {"-1", "0.001", "nan"})
    expect_cli({"agent", "--policy", "x.yaml", std::string("--tamper-check-seconds=") + bad}, 2,
               Printed::Err, "--tamper-check-seconds must be 0 (off) or at least 0.01");
}

// The alert budgets and the summary: bad values are usage errors that name the option, before
// anything is loaded (the policy file x.yaml does not exist).
TEST(Cli, AgentRejectsBadAlertBudgets) {
  auto agent = [](std::vector<std::string> more) {
    std::vector<std::string> args{"agent", "--policy", "x.yaml"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  expect_cli(agent({"--rate-limit-kind", "frob=1"}), 2, Printed::Err,
             "--rate-limit-kind 'frob=1': unknown kind 'frob' (kinds: net_connect");
  expect_cli(agent({"--rate-limit-kind", "mount"}), 2, Printed::Err,
             "expected KIND=RATE or KIND=RATE/BURST");
  expect_cli(agent({"--rate-limit-kind", "mount=1/0"}), 2, Printed::Err,
             "the burst must be at least 1");
  expect_cli(agent({"--rate-limit-kind", "mount=1", "--rate-limit-kind", "mount=2"}), 2,
             Printed::Err, "names kind 'mount' twice");
  expect_cli(agent({"--summary-interval-seconds", "0"}), 2, Printed::Err,
             "--summary-interval-seconds must be between 0.1 and 86400");
  expect_cli(agent({"--distinct-targets", "0"}), 2, Printed::Err,
             "--distinct-targets must be between 1 and 1000000");
  expect_cli(agent({"--distinct-target-seconds", "0.5"}), 2, Printed::Err,
             "--distinct-target-seconds must be between 1 and 86400");
  expect_cli(agent({"--rate-burst", "0"}), 2, Printed::Err, "--rate-burst must be at least 1");
}

TEST(Cli, AgentHelpListsItsOptions) {
  auto r = cli({"agent", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--metrics-address"), std::string::npos);
  EXPECT_NE(r.out.find("--alerts"), std::string::npos);
  EXPECT_NE(r.out.find("--rate-limit-kind"), std::string::npos);
  EXPECT_NE(r.out.find("--summary-interval-seconds"), std::string::npos);
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
