// alertmanager_payload and WebhookSink::start's URL checks: no network involved.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "guardrail/sinks/webhook.hpp"

namespace guardrail {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

ordered_json egress_alert() {
  return {
      {"time", "2024-05-01T10:00:05.000000000Z"},
      {"kind", "net_connect"},
      {"verdict", "blocked"},
      {"backend", "cgroup_sock_addr"},
      {"policy", "sandbox"},
      {"workload", "/x/a"},
      {"zone", "agent-sandbox"},
      {"cgroup_id", 4242},
      {"pid", 77},
      {"tid", 78},
      {"comm", "python3"},
      {"direction", "egress"},
      {"protocol", "tcp"},
      {"family", "ipv4"},
      {"src", "198.18.0.3"},
      {"sport", 0},
      {"dst", "198.18.0.4"},
      {"dport", 8080},
      {"peer_workload", ""},
      {"peer_zone", "world"},
      {"rule", "default-deny"},
      {"count", 3},
      {"first_time", "2024-05-01T10:00:00.000000000Z"},
      {"last_time", "2024-05-01T10:00:05.000000000Z"},
      {"exe", "/usr/bin/python3.11"},
      {"ppid", 1},
      {"parent_exe", "/bin/sh"},
      {"node", "node-from-alert"},
      {"labels", {{"team", "ml"}}},
  };
}

ordered_json ingress_alert() {
  ordered_json alert = egress_alert();
  alert["kind"] = "net_ingress";
  alert["verdict"] = "audited";
  alert["direction"] = "ingress";
  alert["src"] = "203.0.113.7";
  alert["sport"] = 51000;
  alert["dport"] = 22;
  alert.erase("count");       // absent: one event
  alert.erase("first_time");  // absent: startsAt falls back to "time"
  return alert;
}

TEST(WebhookPayload, EgressAlertBecomesOneAlertmanagerAlert) {
  const std::vector<ordered_json> alerts{egress_alert()};
  const json payload = alertmanager_payload(alerts, "host-1", "http://host-1:9101/metrics");
  const json expected = json::array({{
      {"labels",
       {{"alertname", "GuardrailViolation"},
        {"kind", "net_connect"},
        {"verdict", "blocked"},
        {"zone", "agent-sandbox"},
        {"workload", "/x/a"},
        {"severity", "critical"},
        {"node", "host-1"},
        {"target", "tcp/198.18.0.4:8080"}}},
      {"annotations",
       {{"summary", "agent-sandbox:/x/a: net_connect to tcp/198.18.0.4:8080 blocked (3 times)"},
        {"description", alerts[0].dump()},
        {"count", "3"}}},
      {"startsAt", "2024-05-01T10:00:00.000000000Z"},
      {"generatorURL", "http://host-1:9101/metrics"},
  }});
  EXPECT_EQ(payload, expected) << payload.dump(2);
  // The description is the alert as one JSON line, keys in the alert's order.
  const std::string description = payload[0]["annotations"]["description"];
  EXPECT_EQ(description.find('\n'), std::string::npos);
  EXPECT_EQ(ordered_json::parse(description), alerts[0]);
}

TEST(WebhookPayload, IngressAlertTargetsTheSourceAndFallsBackToTime) {
  const std::vector<ordered_json> alerts{ingress_alert()};
  const json payload = alertmanager_payload(alerts, "host-1", "http://host-1:9101/metrics");
  ASSERT_EQ(payload.size(), 1u);
  const json& alert = payload[0];
  EXPECT_EQ(alert["labels"]["target"], "tcp/203.0.113.7");
  EXPECT_EQ(alert["labels"]["kind"], "net_ingress");
  EXPECT_EQ(alert["labels"]["verdict"], "audited");
  EXPECT_EQ(alert["labels"]["severity"], "warning");
  EXPECT_EQ(alert["annotations"]["summary"],
            "agent-sandbox:/x/a: net_ingress from tcp/203.0.113.7 audited");
  EXPECT_EQ(alert["annotations"]["count"], "1");
  EXPECT_EQ(alert["startsAt"], "2024-05-01T10:00:05.000000000Z");
}

TEST(WebhookPayload, UnixSocketAlertsTargetTheAddress) {
  ordered_json alert = egress_alert();
  for (const char* field :
       {"direction", "protocol", "family", "src", "sport", "dst", "dport", "peer_zone", "rule"})
    alert.erase(field);
  alert["kind"] = "unix_socket";
  alert["backend"] = "lsm";
  alert["path"] = "@spire";
  alert["inode"] = 0;
  alert["reason"] = "other_workload";
  alert["peer_workload"] = "agent-sandbox:/x/b";
  json payload = alertmanager_payload(std::vector<ordered_json>{alert}, "n", "");
  EXPECT_EQ(payload[0]["labels"]["target"], "@spire of agent-sandbox:/x/b");

  alert["kind"] = "runtime_socket";
  alert["path"] = "../run/docker.sock";
  alert["reason"] = "non_canonical";
  alert.erase("peer_workload");
  payload = alertmanager_payload(std::vector<ordered_json>{alert}, "n", "");
  EXPECT_EQ(payload[0]["labels"]["target"], "../run/docker.sock");
}

TEST(WebhookPayload, SeverityFollowsKindAndVerdict) {
  struct Case {
    const char* kind;
    const char* verdict;
    const char* severity;
  };
  const std::vector<Case> cases{
      {"net_connect", "blocked", "critical"},       {"net_send", "killed", "critical"},
      {"net_egress", "audited", "warning"},         {"net_connect", "detected", "warning"},
      {"east_west_bypass", "detected", "critical"}, {"east_west_bypass", "audited", "critical"},
      {"net_ingress", "blocked", "critical"},       {"net_ingress", "detected", "warning"},
      {"tamper", "detected", "critical"},
  };
  for (const Case& c : cases) {
    ordered_json alert = egress_alert();
    alert["kind"] = c.kind;
    alert["verdict"] = c.verdict;
    const std::vector<ordered_json> alerts{alert};
    const json payload = alertmanager_payload(alerts, "n", "");
    EXPECT_EQ(payload[0]["labels"]["severity"], c.severity) << c.kind << " " << c.verdict;
  }
}

TEST(WebhookPayload, TamperTargetsSayWhatWasDetachedOrRepaired) {
  ordered_json kernel = {{"kind", "tamper"}, {"verdict", "detected"},
                         {"zone", "z"},      {"bpf_command", "link_detach"},
                         {"link_id", 17},    {"prog_id", 42}};
  ordered_json repair = {
      {"kind", "tamper"}, {"verdict", "detected"}, {"zone", "z"}, {"cgroup", "/sys/fs/cgroup/a"}};
  const std::vector<ordered_json> alerts{kernel, repair};
  const json payload = alertmanager_payload(alerts, "n", "");
  EXPECT_EQ(payload[0]["labels"]["target"], "link_detach link 17 prog 42");
  EXPECT_EQ(payload[1]["labels"]["target"], "repaired /sys/fs/cgroup/a");
  EXPECT_EQ(payload[1]["labels"]["severity"], "critical");
}

TEST(WebhookPayload, LabelsAndAnnotationsAreStringsInBatchOrder) {
  ordered_json ipv6 = egress_alert();
  ipv6["protocol"] = "udp";
  ipv6["family"] = "ipv6";
  ipv6["dst"] = "2001:db8::4";
  ipv6["dport"] = 53;
  ipv6["count"] = 1;
  ordered_json numeric = egress_alert();
  numeric["zone"] = 7;  // not a string in the alert: still a string label
  const std::vector<ordered_json> alerts{ipv6, ingress_alert(), numeric};
  // No node given: the alert's own "node"; no generator URL: no generatorURL field.
  const json payload = alertmanager_payload(alerts, "", "");
  ASSERT_EQ(payload.size(), 3u);
  EXPECT_EQ(payload[0]["labels"]["target"], "udp/[2001:db8::4]:53");
  EXPECT_EQ(payload[0]["annotations"]["summary"],
            "agent-sandbox:/x/a: net_connect to udp/[2001:db8::4]:53 blocked");
  EXPECT_EQ(payload[1]["labels"]["kind"], "net_ingress");
  EXPECT_EQ(payload[2]["labels"]["zone"], "7");
  for (const json& alert : payload) {
    EXPECT_EQ(alert["labels"]["node"], "node-from-alert");
    EXPECT_FALSE(alert.contains("generatorURL"));
    ASSERT_TRUE(alert["labels"].is_object());
    for (const auto& [name, value] : alert["labels"].items())
      EXPECT_TRUE(value.is_string()) << name;
    for (const auto& [name, value] : alert["annotations"].items())
      EXPECT_TRUE(value.is_string()) << name;
  }
  EXPECT_EQ(alertmanager_payload(std::span<const ordered_json>{}, "n", ""), json::array());
}

TEST(WebhookPayload, EmptyLabelValuesAreLeftOut) {
  ordered_json alert = egress_alert();
  alert["workload"] = "";
  const std::vector<ordered_json> alerts{alert};
  const json payload = alertmanager_payload(alerts, "host-1", "");
  EXPECT_FALSE(payload[0]["labels"].contains("workload"));
  EXPECT_EQ(payload[0]["annotations"]["summary"],
            "agent-sandbox: net_connect to tcp/198.18.0.4:8080 blocked (3 times)");
}

std::string start_error(WebhookOptions options) {
  auto sink = WebhookSink::start(std::move(options), nullptr);
  return sink ? std::string("started") : sink.error().message;
}

TEST(WebhookUrl, RejectsSchemesOtherThanHttpAndHttps) {
  EXPECT_EQ(start_error({.url = "ftp://x"}),
            "webhook URL 'ftp://x' must start with http:// or https:// (give one like "
            "http://127.0.0.1:9093)");
  EXPECT_NE(start_error({.url = "127.0.0.1:9093"}).find("'127.0.0.1:9093' must start with"),
            std::string::npos);
  EXPECT_NE(start_error({.url = ""}).find("webhook URL '' must start with"), std::string::npos);
}

TEST(WebhookUrl, RejectsAUrlWithoutHost) {
  for (const char* url : {"http://", "https:///api/v2/alerts", "http://:9093", "http://user@/x"}) {
    const std::string error = start_error({.url = url});
    EXPECT_NE(error.find(std::string("webhook URL '") + url + "'"), std::string::npos) << error;
    EXPECT_NE(error.find("give one like http://127.0.0.1:9093"), std::string::npos) << error;
  }
}

TEST(WebhookUrl, RejectsBadOptions) {
  EXPECT_EQ(start_error({.url = "http://h", .batch_max = 0}),
            "webhook batch size must be at least 1");
  EXPECT_EQ(start_error({.url = "http://h", .queue_capacity = 0}),
            "webhook queue capacity must be at least 1");
  EXPECT_EQ(start_error({.url = "http://h", .retries = -1}),
            "webhook retries must be 0 or more, got -1");
  EXPECT_EQ(start_error({.url = "http://h", .timeout = std::chrono::milliseconds(0)}),
            "webhook timeout must be positive, got 0 ms");
  EXPECT_EQ(start_error({.url = "https://h", .ca_file = "/nonexistent/ca.pem"}),
            "webhook CA file /nonexistent/ca.pem: No such file or directory");
}

TEST(AlertmanagerPayload, ASuppressionSummaryIsAnAlertOfItsOwnName) {
  const ordered_json summary = {
      {"time", "2024-05-01T10:00:05.000000000Z"},
      {"first_time", "2024-05-01T10:00:01.000000000Z"},
      {"last_time", "2024-05-01T10:00:05.000000000Z"},
      {"count", 1},
      {"kind", "suppressed"},
      {"verdict", "suppressed"},
      {"backend", "pipeline"},
      {"workload", "agent-a"},
      {"zone", "agent-sandbox"},
      {"suppressed_events", 157},
      {"suppressed", {{"net_connect", 150}, {"net_send", 7}}},
      {"targets_overflow", {{"net_connect", 3}}},
  };
  const std::vector<ordered_json> alerts{summary};
  const json out = alertmanager_payload(alerts, "node-1", "");
  ASSERT_EQ(out.size(), 1u);
  const auto& labels = out[0]["labels"];
  EXPECT_EQ(labels["alertname"], "GuardrailAlertsSuppressed");
  EXPECT_EQ(labels["kind"], "suppressed");
  EXPECT_EQ(labels["workload"], "agent-a");
  EXPECT_EQ(labels["severity"], "warning");
  EXPECT_FALSE(labels.contains("target"));
  EXPECT_EQ(out[0]["annotations"]["summary"],
            "agent-sandbox:agent-a: 157 alert event(s) suppressed by the rate limit "
            "(net_connect 150, net_send 7); 3 new target(s) found the memory of targets full "
            "(net_connect 3)");
  EXPECT_EQ(out[0]["startsAt"], "2024-05-01T10:00:01.000000000Z");
}

TEST(WebhookUrl, EndpointAppendsTheAlertsPathOnce) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"http://127.0.0.1:9093", "http://127.0.0.1:9093/api/v2/alerts"},
      {"http://127.0.0.1:9093/", "http://127.0.0.1:9093/api/v2/alerts"},
      {"https://am.example/alertmanager/", "https://am.example/alertmanager/api/v2/alerts"},
      {"http://am:9093/api/v2/alerts", "http://am:9093/api/v2/alerts"},
      {"http://am:9093/api/v2/alerts/", "http://am:9093/api/v2/alerts"},
      {"HTTPS://am:9093", "https://am:9093/api/v2/alerts"},
      {"http://[::1]:9093", "http://[::1]:9093/api/v2/alerts"},
      {"http://am/hook?token=abc", "http://am/hook/api/v2/alerts?token=abc"},
  };
  for (const auto& [url, endpoint] : cases) {
    auto sink = WebhookSink::start({.url = url}, nullptr);
    ASSERT_TRUE(sink) << url << ": " << sink.error().message;
    EXPECT_EQ((*sink)->endpoint(), endpoint) << url;
  }
}

}  // namespace
}  // namespace guardrail
