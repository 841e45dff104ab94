#include "guardrail/posture/watch.hpp"

#include <gtest/gtest.h>

namespace guardrail::posture {
namespace {

TEST(PostureWatchAlert, CarriesTheContainerTheCheckAndTheCommonFields) {
  docker::Container c;
  c.id = std::string(64, 'a');
  c.name = "agent-1";
  c.image = "gr-busybox:latest";
  c.pid = 4242;
  const Finding f{"no_secret_env", false, "SECRET_TOKEN in the environment"};
  auto j = posture_alert(c, f, "agent-sandbox:/docker/" + c.id, "agent-sandbox", "default",
                         "node-1", "2026-11-28T22:53:11.441515303Z");
  EXPECT_EQ(j["kind"], "posture");
  EXPECT_EQ(j["verdict"], "detected");
  EXPECT_EQ(j["backend"], "docker_api");
  EXPECT_EQ(j["container_id"], c.id);
  EXPECT_EQ(j["container"], "agent-1");
  EXPECT_EQ(j["image"], "gr-busybox:latest");
  EXPECT_EQ(j["check"], "no_secret_env");
  EXPECT_EQ(j["detail"], "SECRET_TOKEN in the environment");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["zone"], "agent-sandbox");
  EXPECT_EQ(j["node"], "node-1");
  for (const char* field : {"time", "first_time", "last_time", "cgroup_id", "tid", "ppid", "comm",
                            "exe", "parent_exe", "labels", "policy", "workload"})
    EXPECT_TRUE(j.contains(field)) << field;
}

}  // namespace
}  // namespace guardrail::posture
