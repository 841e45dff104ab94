// print_table() and to_json() on a hand-built audit.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

std::vector<ContainerPosture> sample() {
  ContainerPosture good;
  good.container.id = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b";
  good.container.name = "agent-7";
  good.container.image = "registry.example/agent:1.4";
  good.container.labels = {{"guardrail.zone", "agent-sandbox"}};
  good.findings = {{"seccomp_filter", true, "Seccomp 2 (filter)"},
                   {"memory_limit", true, "HostConfig.Memory 268435456"}};

  ContainerPosture bad;
  bad.container.id = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
  bad.container.name = "web";
  bad.container.image = "nginx";
  bad.findings = {{"seccomp_filter", false, "Seccomp 0 (disabled)"},
                  {"memory_limit", true, "HostConfig.Memory 1"},
                  {"no_secret_env", false, "SECRET_TOKEN in env (pass secrets as files on tmpfs)"}};
  return {good, bad};
}

TEST(PostureReport, CompliantMeansEveryFindingPassed) {
  auto s = sample();
  EXPECT_TRUE(s[0].compliant());
  EXPECT_FALSE(s[1].compliant());
  EXPECT_TRUE(ContainerPosture{}.compliant());
}

TEST(PostureReport, TableHasOneRowPerContainerAndALinePerFailure) {
  std::ostringstream out;
  print_table(sample(), out);
  EXPECT_EQ(out.str(),
            "NAME     ID            IMAGE                       PASS  FAIL\n"
            "agent-7  4f3c2b1a0e9d  registry.example/agent:1.4     2     0\n"
            "web      9a8b7c6d5e4f  nginx                          1     2\n"
            "    seccomp_filter: Seccomp 0 (disabled)\n"
            "    no_secret_env: SECRET_TOKEN in env (pass secrets as files on tmpfs)\n"
            "\n"
            "2 containers, 1 compliant\n");
}

TEST(PostureReport, TableNeutralisesControlCharactersAndSaysWhenEmpty) {
  auto s = sample();
  s[1].container.name = "we\x1b[2Jb";
  s[1].findings[0].detail = "line\nbreak";
  std::ostringstream out;
  print_table(s, out);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
  EXPECT_NE(out.str().find("we?[2Jb"), std::string::npos);
  EXPECT_NE(out.str().find("    seccomp_filter: line?break\n"), std::string::npos);

  std::ostringstream empty;
  print_table({}, empty);
  EXPECT_EQ(empty.str(), "no running containers\n");
}

TEST(PostureReport, JsonShape) {
  const auto j = to_json(sample());
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  const nlohmann::json expected = {
      {"id", "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"},
      {"name", "agent-7"},
      {"image", "registry.example/agent:1.4"},
      {"labels", {{"guardrail.zone", "agent-sandbox"}}},
      {"compliant", true},
      {"findings",
       {{{"check", "seccomp_filter"}, {"passed", true}, {"detail", "Seccomp 2 (filter)"}},
        {{"check", "memory_limit"}, {"passed", true}, {"detail", "HostConfig.Memory 268435456"}}}}};
  EXPECT_EQ(j[0], expected);
  EXPECT_EQ(j[1]["compliant"], false);
  EXPECT_EQ(j[1]["labels"], nlohmann::json::object());
  ASSERT_EQ(j[1]["findings"].size(), 3u);
  EXPECT_EQ(j[1]["findings"][2]["check"], "no_secret_env");
  EXPECT_EQ(j[1]["findings"][2]["passed"], false);
  EXPECT_EQ(to_json({}), nlohmann::json::array());
}

}  // namespace
}  // namespace guardrail::posture
