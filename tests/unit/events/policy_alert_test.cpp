// The agent's policy_rejected alert: the refused file, why, and the policy that stays in force.
#include <gtest/gtest.h>

#include "guardrail/events/events.hpp"
#include "guardrail/events/policy.hpp"
#include "testing/json_fields.hpp"

namespace guardrail::events {
namespace {

PolicyRejection sample() {
  PolicyRejection r;
  r.trigger = ReloadTrigger::FileChange;
  r.file = "/etc/guardrail/policy.yaml";
  r.sha256 = std::string(64, 'b');
  r.errors = {"/etc/guardrail/policy.yaml:12:9: error: unknown capability 'CAP_FLY'",
              "/etc/guardrail/policy.yaml:14:3: error: missing required field 'name'"};
  r.active_policy = "default";
  r.active_generation = 4;
  r.active_sha256 = std::string(64, 'a');
  r.time_ns = 2'000'000'000;
  r.agent_pid = 321;
  return r;
}

TEST(PolicyRejectedAlert, NamesTheFileTheErrorsAndWhatStaysInForce) {
  const auto j = policy_rejected_alert(sample(), WallClock(0), "node1");
  test::expect_fields(j, R"({
    "kind": "policy_rejected", "verdict": "rejected", "backend": "agent", "policy": "default",
    "workload": "guardrail-agent", "zone": "host", "cgroup_id": 0, "pid": 321, "tid": 321,
    "comm": "guardrail", "file": "/etc/guardrail/policy.yaml",
    "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "trigger": "file_change",
    "errors": ["/etc/guardrail/policy.yaml:12:9: error: unknown capability 'CAP_FLY'",
               "/etc/guardrail/policy.yaml:14:3: error: missing required field 'name'"],
    "active_generation": 4,
    "active_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "time": "1970-01-01T00:00:02.000000000Z", "first_time": "1970-01-01T00:00:02.000000000Z",
    "last_time": "1970-01-01T00:00:02.000000000Z", "count": 1, "node": "node1", "labels": {}
  })");
  const auto message = j["message"].get<std::string>();
  EXPECT_NE(message.find("2 problems"), std::string::npos) << message;
  EXPECT_NE(message.find("12:9: error: unknown capability"), std::string::npos) << message;
  EXPECT_NE(message.find("'default' generation 4"), std::string::npos) << message;
  EXPECT_NE(message.find("stays in force"), std::string::npos) << message;
}

TEST(PolicyRejectedAlert, SignalTriggerAndUnreadableFile) {
  auto r = sample();
  r.trigger = ReloadTrigger::Signal;
  r.sha256.clear();
  r.errors = {"/etc/guardrail/policy.yaml: error: cannot read: No such file or directory"};
  const auto j = policy_rejected_alert(r, WallClock(0), "n");
  EXPECT_EQ(j["trigger"], "sighup");
  EXPECT_EQ(j["sha256"], "");
  EXPECT_NE(j["message"].get<std::string>().find("1 problem;"), std::string::npos);
}

}  // namespace
}  // namespace guardrail::events
