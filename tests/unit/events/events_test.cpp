#include "guardrail/events/events.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "guardrail/events/guards.hpp"
#include "testing/json_fields.hpp"

namespace guardrail::events {
namespace {

// The fields net and host records share: the task (tid = pid + 1) and its workload agent-a.
template <typename Record>
void set_task(Record& ev, std::uint64_t cgroup_id, std::uint32_t pid, const char* comm) {
  ev.cgroup_id = cgroup_id;
  ev.pid = pid;
  ev.tid = pid + 1;
  std::strcpy(ev.comm, comm);
  ev.workload_id = GR_WORKLOAD_ID_BASE + 1;
  ev.zone_id = 1;
}

gr_net_event sample() {
  gr_net_event ev{};
  ev.hdr = {GR_EV_NET_CONNECT, GR_EVENT_VERSION, sizeof(gr_net_event), 1'000'000'123};
  set_task(ev, 4242, 77, "python3");
  ev.peer_workload_id = GR_WORKLOAD_ID_BASE + 2;
  ev.peer_zone_id = 1;
  ev.verdict = GR_VERDICT_BLOCKED;
  ev.backend = GR_BACKEND_CGROUP_SOCK_ADDR;
  ev.direction = GR_DIR_EGRESS;
  ev.family = AF_INET;
  ev.protocol = GR_PROTO_TCP;
  ev.sport = 0;
  ev.dport = 8080;
  ev.saddr[10] = ev.saddr[11] = 0xff;
  ev.daddr[10] = ev.daddr[11] = 0xff;
  inet_pton(AF_INET, "198.18.0.3", &ev.saddr[12]);
  inet_pton(AF_INET, "198.18.0.4", &ev.daddr[12]);
  return ev;
}

// The ring buffer record of a net or host event, cut or padded to `size` bytes.
template <typename Record>
std::vector<std::byte> bytes(const Record& ev, std::size_t size = sizeof(Record)) {
  std::vector<std::byte> out(size);
  std::memcpy(out.data(), &ev, std::min(size, sizeof ev));
  return out;
}

NameTable names() {
  return {"itest",
          {{1, "agent-sandbox"}},
          {{GR_WORKLOAD_ID_BASE + 1, "agent-a"}, {GR_WORKLOAD_ID_BASE + 2, "agent-b"}}};
}

TEST(EventsDecode, AcceptsAWellFormedNetRecord) {
  auto decoded = decode(bytes(sample()));
  ASSERT_TRUE(decoded) << decoded.error().message;
  const auto& ev = std::get<gr_net_event>(*decoded);
  EXPECT_EQ(ev.cgroup_id, 4242u);
  EXPECT_EQ(ev.dport, 8080);
}

TEST(EventsDecode, RejectsATruncatedRecord) {
  auto decoded = decode(bytes(sample(), 8));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().message, "event record of 8 bytes is shorter than its header");
}

TEST(EventsDecode, RejectsAnotherVersionNamingTheMismatch) {
  auto ev = sample();
  ev.hdr.version = GR_EVENT_VERSION + 1;
  auto decoded = decode(bytes(ev));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("the BPF object and the agent differ"), std::string::npos);
}

TEST(EventsDecode, RejectsAnUnknownType) {
  auto ev = sample();
  ev.hdr.type = 999;
  auto decoded = decode(bytes(ev));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().message, "unknown event type 999");
}

TEST(EventsDecode, RejectsASizeThatDoesNotMatchTheBody) {
  auto ev = sample();
  ev.hdr.size = sizeof(gr_net_event) - 8;
  auto decoded = decode(bytes(ev));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("expected " + std::to_string(sizeof(gr_net_event))),
            std::string::npos);
}

TEST(EventsDecode, RejectsASizeLargerThanTheRecord) {
  auto ev = sample();
  ev.hdr.size = sizeof(gr_net_event) + 64;
  EXPECT_FALSE(decode(bytes(ev)));
}

TEST(EventsJson, CarriesEveryFieldWithNames) {
  const WallClock clock(1'700'000'000'000'000'000);  // 2023-11-14T22:13:20Z
  test::expect_fields(to_json(sample(), names(), clock), R"({
    "time": "2023-11-14T22:13:21.000000123Z", "kind": "net_connect", "verdict": "blocked",
    "backend": "cgroup_sock_addr", "policy": "itest", "workload": "agent-a",
    "zone": "agent-sandbox", "cgroup_id": 4242, "pid": 77, "comm": "python3",
    "direction": "egress", "protocol": "tcp", "family": "ipv4", "src": "198.18.0.3",
    "dst": "198.18.0.4", "dport": 8080, "peer_workload": "agent-b",
    "peer_zone": "agent-sandbox", "rule": "default-deny"})");
}

TEST(EventsJson, NamesTheWorldAndIpv6Peers) {
  auto ev = sample();
  ev.hdr.type = GR_EV_EAST_WEST_BYPASS;
  ev.family = AF_INET6;
  std::memset(ev.daddr, 0, 16);
  inet_pton(AF_INET6, "fd00::4", ev.daddr);
  ev.peer_workload_id = 0;
  ev.peer_zone_id = GR_IDENTITY_WORLD;
  ev.rule = GR_RULE_ISOLATION;
  ev.verdict = GR_VERDICT_AUDITED;
  test::expect_fields(to_json(ev, names(), WallClock(0)), R"({
    "kind": "east_west_bypass", "family": "ipv6", "dst": "fd00::4", "peer_workload": "",
    "peer_zone": "world", "rule": "isolation", "verdict": "audited"})");
}

TEST(EventsNames, CoverEveryWireId) {
  EXPECT_EQ(kind_name(GR_EV_NET_SEND), "net_send");
  EXPECT_EQ(kind_name(GR_EV_NET_EGRESS), "net_egress");
  EXPECT_EQ(kind_name(GR_EV_NET_INGRESS), "net_ingress");
  EXPECT_EQ(verdict_name(GR_VERDICT_DETECTED), "detected");
  EXPECT_EQ(verdict_name(GR_VERDICT_KILLED), "killed");
  EXPECT_EQ(backend_name(GR_BACKEND_CGROUP_SKB), "cgroup_skb");
  EXPECT_EQ(protocol_name(GR_PROTO_UDP), "udp");
  EXPECT_EQ(protocol_name(132), "132");
  EXPECT_EQ(names().zone(99), "unknown");
}

}  // namespace
}  // namespace guardrail::events

namespace guardrail::events {
namespace {

gr_host_event host_sample(std::uint16_t type) {
  gr_host_event ev{};
  ev.hdr = {type, GR_EVENT_VERSION, sizeof(gr_host_event), 5};
  set_task(ev, 7, 40, "sh");
  ev.verdict = GR_VERDICT_BLOCKED;
  ev.backend = GR_BACKEND_LSM;
  return ev;
}

TEST(EventsHost, DecodesEveryHostKind) {
  for (std::uint16_t type : {GR_EV_CAPABILITY, GR_EV_RAW_SOCKET, GR_EV_MOUNT, GR_EV_RUNTIME_SOCKET,
                             GR_EV_BPF, GR_EV_HOST_WRITE, GR_EV_CGROUP_ESCAPE}) {
    auto decoded = decode(bytes(host_sample(type)));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(header(*decoded).type, type);
    EXPECT_EQ(workload_id(*decoded), GR_WORKLOAD_ID_BASE + 1);
    EXPECT_EQ(pid(*decoded), 40u);
  }
}

TEST(EventsHost, CapabilityAlertNamesTheCapability) {
  auto ev = host_sample(GR_EV_CAPABILITY);
  ev.capability = 13;
  auto j = to_json(Event{ev}, names(), WallClock(0));
  test::expect_fields(j, R"({"kind": "capability", "backend": "lsm", "workload": "agent-a",
                             "capability": "CAP_NET_RAW", "capability_number": 13})");
  EXPECT_FALSE(j.contains("dst"));
}

TEST(EventsHost, MountAlertCarriesOperationSourceTargetAndType) {
  auto ev = host_sample(GR_EV_MOUNT);
  ev.op = GR_MOUNT_OP_MOUNT;
  ev.verdict = GR_VERDICT_DETECTED;
  ev.backend = GR_BACKEND_TRACEPOINT;
  std::strcpy(ev.source, "none");
  std::strcpy(ev.path, "/mnt/x");
  std::strcpy(ev.fstype, "tmpfs");
  test::expect_fields(to_json(Event{ev}, names(), WallClock(0)), R"({
    "kind": "mount", "verdict": "detected", "backend": "tracepoint", "operation": "mount",
    "source": "none", "target": "/mnt/x", "fstype": "tmpfs"})");
}

TEST(EventsHost, HostWriteAlertNamesTheFileAndWhatItIs) {
  auto ev = host_sample(GR_EV_HOST_WRITE);
  ev.op = GR_WRITE_SYSCTL;
  ev.flags = 01 | 01000;  // O_WRONLY | O_TRUNC
  ev.ino = 4242;
  std::strcpy(ev.path, "/proc/sys/kernel/core_pattern");
  std::strcpy(ev.fstype, "proc");
  auto j = to_json(Event{ev}, names(), WallClock(0));
  test::expect_fields(j, R"({"kind": "host_write", "verdict": "blocked", "backend": "lsm",
    "path": "/proc/sys/kernel/core_pattern", "write_target": "sysctl", "fstype": "proc",
    "inode": 4242, "open_flags": 513})");
  ev.op = GR_WRITE_HOST_PATH;
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["write_target"], "host_path");
  ev.op = 99;
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["write_target"], "unknown");
}

TEST(EventsHost, CgroupEscapeAlertSaysHowAndWhere) {
  auto open = host_sample(GR_EV_CGROUP_ESCAPE);
  open.op = GR_ESCAPE_OPEN;
  open.flags = 01;
  open.peer_workload_id = GR_WORKLOAD_ID_BASE + 1;
  std::strcpy(open.path, "/sys/fs/cgroup/cgroup.procs");
  auto j = to_json(Event{open}, names(), WallClock(0));
  test::expect_fields(j, R"({"kind": "cgroup_escape", "escape": "open",
    "path": "/sys/fs/cgroup/cgroup.procs", "peer_workload": "agent-a", "open_flags": 1})");
  EXPECT_FALSE(j.contains("moved_pid"));

  auto move = host_sample(GR_EV_CGROUP_ESCAPE);
  move.op = GR_ESCAPE_MOVE;
  move.type = 77;
  move.backend = GR_BACKEND_TP_BTF;
  move.verdict = GR_VERDICT_DETECTED;
  std::strcpy(move.path, "/");
  j = to_json(Event{move}, names(), WallClock(0));
  test::expect_fields(j, R"({"escape": "move", "moved_pid": 77, "path": "/",
    "backend": "tp_btf", "verdict": "detected"})");
  EXPECT_FALSE(j.contains("peer_workload"));  // the root is no workload
  EXPECT_FALSE(j.contains("open_flags"));

  auto clone = host_sample(GR_EV_CGROUP_ESCAPE);
  clone.op = GR_ESCAPE_CLONE_INTO;
  clone.flags = 0x200000000ull;
  j = to_json(Event{clone}, names(), WallClock(0));
  EXPECT_EQ(j["escape"], "clone_into_cgroup");
  EXPECT_EQ(j["clone_flags"], 0x200000000ull);

  auto proc = host_sample(GR_EV_CGROUP_ESCAPE);
  proc.op = GR_ESCAPE_OTHER_PROCESS;
  proc.type = 1;
  proc.flags = 01;
  std::strcpy(proc.path, "/proc/1/oom_score_adj");
  test::expect_fields(to_json(Event{proc}, names(), WallClock(0)), R"({
    "escape": "other_process", "target_pid": 1, "path": "/proc/1/oom_score_adj",
    "open_flags": 1})");
}

TEST(EventsHost, RawSocketAndRuntimeSocketAndBpfFields) {
  auto raw = host_sample(GR_EV_RAW_SOCKET);
  raw.family = 17;  // AF_PACKET
  raw.type = 3;     // SOCK_RAW
  raw.protocol = 768;
  auto j = to_json(Event{raw}, names(), WallClock(0));
  EXPECT_EQ(j["socket_family"], "packet");
  EXPECT_EQ(j["socket_type"], "raw");
  EXPECT_EQ(j["socket_protocol"], 768);

  auto sock = host_sample(GR_EV_RUNTIME_SOCKET);
  std::strcpy(sock.path, "/run/docker.sock");
  sock.ino = 99;
  j = to_json(Event{sock}, names(), WallClock(0));
  EXPECT_EQ(j["path"], "/run/docker.sock");
  EXPECT_EQ(j["inode"], 99);

  auto bpf = host_sample(GR_EV_BPF);
  bpf.op = 0;  // BPF_MAP_CREATE
  j = to_json(Event{bpf}, names(), WallClock(0));
  EXPECT_EQ(j["kind"], "bpf");
  EXPECT_EQ(j["bpf_command"], 0);
}

TEST(EventsHost, AHostRecordOfTheWrongSizeIsRefused) {
  auto record = bytes(host_sample(GR_EV_MOUNT));
  auto ev = host_sample(GR_EV_MOUNT);
  ev.hdr.size = sizeof(gr_net_event);
  std::memcpy(record.data(), &ev, sizeof ev);
  auto decoded = decode(record);
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("mount record"), std::string::npos);
}

}  // namespace
}  // namespace guardrail::events
