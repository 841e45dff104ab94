#include "guardrail/cli/cli.hpp"

#include <gtest/gtest.h>

#include <sstream>

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

TEST(Cli, NoArgumentsIsAUsageError) {
  auto r = cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: guardrail <command>"), std::string::npos);
}

TEST(Cli, UnknownCommandIsNamed) {
  auto r = cli({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Cli, AgentNeedsAPolicy) {
  auto r = cli({"agent"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--policy"), std::string::npos) << r.err;
}

TEST(Cli, AgentRejectsAnUnknownOption) {
  auto r = cli({"agent", "--policy", "x.yaml", "--frob"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("frob"), std::string::npos) << r.err;
}

TEST(Cli, AgentHelpListsItsOptions) {
  auto r = cli({"agent", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--metrics-address"), std::string::npos);
  EXPECT_NE(r.out.find("--alerts"), std::string::npos);
}

TEST(Cli, PolicyCheckNeedsFiles) {
  auto r = cli({"policy", "check"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("name at least one policy file"), std::string::npos);
}

TEST(Cli, PolicyWithoutCheckIsAUsageError) {
  auto r = cli({"policy", "lint", "a.yaml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("guardrail policy check FILE"), std::string::npos);
}

TEST(Cli, PolicyCheckOfTheDefaultProfileSucceeds) {
  auto r = cli({"policy", "check", std::string(GUARDRAIL_SOURCE_DIR) + "/profiles/default.yaml"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
}

TEST(Cli, PolicyCheckOfAMissingFileFails) {
  auto r = cli({"policy", "check", "/nonexistent/policy.yaml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent/policy.yaml"), std::string::npos);
}

TEST(Cli, VersionPrintsTheVersion) {
  auto r = cli({"version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string("guardrail ") + GUARDRAIL_VERSION + "\n");
}

}  // namespace
}  // namespace guardrail
