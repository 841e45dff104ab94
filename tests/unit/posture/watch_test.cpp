#include "guardrail/posture/watch.hpp"

#include <gtest/gtest.h>

#include "testing/json_fields.hpp"

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
  EXPECT_EQ(j["container_id"], c.id);
  test::expect_fields(j, R"({
    "kind": "posture", "verdict": "detected", "backend": "docker_api", "container": "agent-1",
    "image": "gr-busybox:latest", "check": "no_secret_env",
    "detail": "SECRET_TOKEN in the environment", "pid": 4242, "count": 1,
    "zone": "agent-sandbox", "node": "node-1"})");
  for (const char* field : {"time", "first_time", "last_time", "cgroup_id", "tid", "ppid", "comm",
                            "exe", "parent_exe", "labels", "policy", "workload"})
    EXPECT_TRUE(j.contains(field)) << field;
}

}  // namespace
}  // namespace guardrail::posture
