// The tamper kind: the kernel's record (GR_EV_TAMPER) and the agent's repair alert.
#include "guardrail/events/tamper.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "guardrail/events/events.hpp"

namespace guardrail::events {
namespace {

gr_host_event tamper_sample(std::uint32_t cmd) {
  gr_host_event ev{};
  ev.hdr = {GR_EV_TAMPER, GR_EVENT_VERSION, sizeof(gr_host_event), 5};
  ev.workload_id = GR_WORKLOAD_ID_BASE + 1;
  ev.zone_id = 1;
  ev.pid = ev.tid = 40;
  std::strcpy(ev.comm, "bpftool");
  ev.verdict = GR_VERDICT_DETECTED;
  ev.backend = GR_BACKEND_TRACEPOINT;
  ev.op = cmd;
  return ev;
}

std::vector<std::byte> bytes(const gr_host_event& ev) {
  std::vector<std::byte> out(sizeof ev);
  std::memcpy(out.data(), &ev, sizeof ev);
  return out;
}

NameTable names() { return {"p", {{1, "agent-sandbox"}}, {{GR_WORKLOAD_ID_BASE + 1, "agent-a"}}}; }

TEST(EventsTamper, TheKindIsNamedTamperNextToUnixSockets) {
  EXPECT_EQ(GR_EV_TAMPER, 11);
  EXPECT_EQ(GR_EV_UNIX_SOCKET, 12);
  EXPECT_EQ(GR_EV_TYPE_MAX, 15);
  EXPECT_EQ(kind_name(GR_EV_TAMPER), "tamper");
  EXPECT_EQ(kind_name(GR_EV_UNIX_SOCKET), "unix_socket");
  EXPECT_EQ(kind_name(GR_EV_TYPE_MAX), "unknown");
}

TEST(EventsTamper, DecodesAsAHostRecord) {
  auto decoded = decode(bytes(tamper_sample(34)));
  ASSERT_TRUE(decoded) << decoded.error().message;
  ASSERT_TRUE(std::holds_alternative<gr_host_event>(*decoded));
  EXPECT_EQ(header(*decoded).type, GR_EV_TAMPER);
}

TEST(EventsTamper, NamesTheCommandsThatDetachOrFetch) {
  EXPECT_EQ(bpf_command_name(34), "link_detach");
  EXPECT_EQ(bpf_command_name(29), "link_update");
  EXPECT_EQ(bpf_command_name(9), "prog_detach");
  EXPECT_EQ(bpf_command_name(8), "prog_attach");
  EXPECT_EQ(bpf_command_name(30), "link_get_fd_by_id");
  EXPECT_EQ(bpf_command_name(13), "prog_get_fd_by_id");
  EXPECT_EQ(bpf_command_name(0), "0");
}

TEST(EventsTamper, AlertCarriesTheLinkAndProgramAndSaysEnforcementCanBeInterrupted) {
  auto ev = tamper_sample(34);
  ev.type = 17;      // link id
  ev.protocol = 42;  // program id
  auto j = to_json(Event{ev}, names(), WallClock(0));
  EXPECT_EQ(j["kind"], "tamper");
  EXPECT_EQ(j["verdict"], "detected");
  EXPECT_EQ(j["backend"], "tracepoint");
  EXPECT_EQ(j["workload"], "agent-a");
  EXPECT_EQ(j["bpf_command"], "link_detach");
  EXPECT_EQ(j["link_id"], 17);
  EXPECT_EQ(j["prog_id"], 42);
  EXPECT_EQ(j["detected_by"], "event");
  EXPECT_FALSE(j.contains("attach_type"));
  EXPECT_NE(j["guarantee"].get<std::string>().find("interrupt enforcement"), std::string::npos);

  auto detach = tamper_sample(9);
  detach.family = 10;  // BPF_CGROUP_INET4_CONNECT
  detach.protocol = 42;
  j = to_json(Event{detach}, names(), WallClock(0));
  EXPECT_EQ(j["bpf_command"], "prog_detach");
  EXPECT_EQ(j["attach_type"], 10);
}

TEST(EventsTamper, RepairAlertSaysWhatWasMissingAndTheWindow) {
  TamperRepair r;
  r.detected_by = TamperSource::Event;
  r.cgroup = "/sys/fs/cgroup/unified/a";
  r.workload = "agent-a";
  r.zone = "agent-sandbox";
  r.missing = {{"guard_connect4", 10, 42, true, ""}};
  r.interrupted_ns = 1'000'000'000;
  r.restored_ns = 1'012'345'678;
  auto j = tamper_repair_alert(r, "p", WallClock(0), "node1");
  EXPECT_EQ(j["kind"], "tamper");
  EXPECT_EQ(j["verdict"], "detected");
  EXPECT_EQ(j["backend"], "agent");
  EXPECT_EQ(j["detected_by"], "event");
  EXPECT_EQ(j["window"], "measured");
  EXPECT_DOUBLE_EQ(j["window_ms"].get<double>(), 12.346);
  EXPECT_EQ(j["restored"], true);
  EXPECT_EQ(j["missing"][0]["program"], "guard_connect4");
  EXPECT_EQ(j["missing"][0]["prog_id"], 42);
  EXPECT_EQ(j["interrupted_at"], "1970-01-01T00:00:01.000000000Z");
  EXPECT_EQ(j["restored_at"], "1970-01-01T00:00:01.012345678Z");
  EXPECT_NE(j["message"].get<std::string>().find("interrupted"), std::string::npos);
  EXPECT_NE(j["message"].get<std::string>().find("12.346 ms"), std::string::npos);
}

TEST(EventsTamper, APeriodicFindingGivesAnUpperBoundAndAFailureIsSaid) {
  TamperRepair r;
  r.detected_by = TamperSource::PeriodicCheck;
  r.cgroup = "/x";
  r.missing = {{"guard_egress", 15, 7, false, "re-attach guard_egress to /x: No such device"}};
  r.interrupted_ns = 0;
  r.restored_ns = 900'000'000;
  auto j = tamper_repair_alert(r, "p", WallClock(0), "n");
  EXPECT_EQ(j["detected_by"], "periodic_check");
  EXPECT_EQ(j["window"], "at_most");
  EXPECT_EQ(j["restored"], false);
  EXPECT_EQ(j["missing"][0]["error"], "re-attach guard_egress to /x: No such device");
  EXPECT_NE(j["message"].get<std::string>().find("FAILED"), std::string::npos);
  EXPECT_NE(j["message"].get<std::string>().find("at most 900.000 ms"), std::string::npos);
}

// Each field of `want` holds its value in `j`.
void expect_fields(const nlohmann::ordered_json& j, const nlohmann::ordered_json& want) {
  for (const auto& [field, value] : want.items()) {
    ASSERT_TRUE(j.contains(field)) << field;
    EXPECT_EQ(j.at(field), value) << field;
  }
}

// The agent's own process: a signal or ptrace record. An older agent's records (tamper 0) stay bpf.
TEST(EventsTamper, TheSubjectFieldKeepsTheStructSizeAndZeroIsBpf) {
  static_assert(sizeof(gr_host_event) == 328);
  EXPECT_EQ(GR_TAMPER_BPF, 0);
  EXPECT_EQ(tamper_name(GR_TAMPER_BPF), "bpf");
  EXPECT_EQ(tamper_name(GR_TAMPER_SIGNAL), "signal");
  EXPECT_EQ(tamper_name(GR_TAMPER_PTRACE), "ptrace");
  EXPECT_EQ(tamper_name(9), "unknown");
  auto j = to_json(Event{tamper_sample(34)}, names(), WallClock(0));
  EXPECT_EQ(j["tamper"], "bpf");
  EXPECT_EQ(j["bpf_command"], "link_detach");
  EXPECT_FALSE(j.contains("signal") || j.contains("target_pid"));
}

TEST(EventsTamper, ASignalToTheAgentNamesTheSignalAndTheTarget) {
  auto ev = tamper_sample(0);
  ev.tamper = GR_TAMPER_SIGNAL;
  ev.op = 15;
  ev.type = 4242;      // the agent's tgid
  ev.protocol = 4250;  // the thread named
  ev.backend = GR_BACKEND_LSM;
  ev.verdict = GR_VERDICT_BLOCKED;
  auto bytes_in = bytes(ev);
  auto decoded = decode(bytes_in);
  ASSERT_TRUE(decoded) << decoded.error().message;
  auto j = to_json(*decoded, names(), WallClock(0));
  expect_fields(j, {{"kind", "tamper"},
                    {"verdict", "blocked"},
                    {"backend", "lsm"},
                    {"tamper", "signal"},
                    {"signal", "SIGTERM"},
                    {"signal_number", 15},
                    {"target_pid", 4242},
                    {"target_tid", 4250},
                    {"detected_by", "event"}});
  EXPECT_FALSE(j.contains("guarantee"));  // refused: nothing to qualify
  EXPECT_FALSE(j.contains("bpf_command") || j.contains("link_id") || j.contains("prog_id"));

  ev.op = 9;
  ev.backend = GR_BACKEND_TP_BTF;
  ev.verdict = GR_VERDICT_DETECTED;
  j = to_json(Event{ev}, names(), WallClock(0));
  EXPECT_EQ(j["signal"], "SIGKILL");
  EXPECT_EQ(j["backend"], "tp_btf");
  EXPECT_NE(j["guarantee"].get<std::string>().find("BPF-LSM unavailable"), std::string::npos);
}

TEST(EventsTamper, SignalNames) {
  const std::pair<int, const char*> names[] = {{1, "SIGHUP"},   {2, "SIGINT"},   {9, "SIGKILL"},
                                               {15, "SIGTERM"}, {19, "SIGSTOP"}, {31, "SIGSYS"},
                                               {34, "SIG34"}};
  for (const auto& [number, name] : names) EXPECT_EQ(signal_name(number), name) << number;
}

TEST(EventsTamper, PtraceAccessSaysTheRouteAndTheMode) {
  auto ev = tamper_sample(0);
  ev.tamper = GR_TAMPER_PTRACE;
  ev.family = GR_PTRACE_MAY_ACCESS;
  ev.op = 0x02 | 0x10;  // PTRACE_MODE_ATTACH_REALCREDS: ptrace attach, process_vm_*
  ev.type = 4242;
  ev.protocol = 4242;
  ev.backend = GR_BACKEND_LSM;
  auto j = to_json(Event{ev}, names(), WallClock(0));
  EXPECT_EQ(j["tamper"], "ptrace");
  EXPECT_EQ(j["access"], "ptrace_may_access");
  EXPECT_EQ(j["ptrace_mode"], "attach_realcreds");
  EXPECT_FALSE(j.contains("ptrace_request"));
  EXPECT_EQ(j["target_pid"], 4242);
  ev.op = 0x01 | 0x08;  // PTRACE_MODE_READ_FSCREDS: /proc/<pid>/environ
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["ptrace_mode"], "read_fscreds");

  ev.family = GR_PTRACE_SYSCALL;
  ev.op = 0x4206;
  ev.backend = GR_BACKEND_TRACEPOINT;
  j = to_json(Event{ev}, names(), WallClock(0));
  EXPECT_EQ(j["access"], "ptrace");
  EXPECT_EQ(j["ptrace_request"], "seize");
  EXPECT_FALSE(j.contains("ptrace_mode"));
  EXPECT_TRUE(j.contains("guarantee"));
  ev.op = 16;
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["ptrace_request"], "attach");
  ev.family = GR_PTRACE_VM_WRITEV;
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["access"], "process_vm_writev");
  ev.family = GR_PTRACE_VM_READV;
  EXPECT_EQ(to_json(Event{ev}, names(), WallClock(0))["access"], "process_vm_readv");
}

TEST(EventsTamper, TheAgentsOwnAlertForAWorkloadsSignal) {
  SignalTamper t{.signal = 15,
                 .sender_pid = 5120,
                 .sender_tid = 5121,
                 .sender_uid = 0,
                 .comm = "sh",
                 .workload = "agent-a",
                 .zone = "agent-sandbox",
                 .cgroup_id = 77,
                 .verdict = GR_VERDICT_BLOCKED,
                 .agent_pid = 4242,
                 .judged_by = "kernel",
                 .time_ns = 2'000'000'000};
  auto j = signal_tamper_alert(t, "p", WallClock(0), "node1");
  expect_fields(j, {{"kind", "tamper"},
                    {"verdict", "blocked"},
                    {"backend", "agent"},
                    {"workload", "agent-a"},
                    {"pid", 5120},
                    {"tid", 5121},
                    {"comm", "sh"},
                    {"tamper", "signal"},
                    {"signal", "SIGTERM"},
                    {"signal_number", 15},
                    {"target_pid", 4242},
                    {"detected_by", "signal_inbox"},
                    {"judged_by", "kernel"},
                    {"node", "node1"},
                    {"time", "1970-01-01T00:00:02.000000000Z"}});
  EXPECT_NE(j["message"].get<std::string>().find("ignored"), std::string::npos);
  EXPECT_FALSE(j.contains("missing") || j.contains("cgroup"));
  t.verdict = GR_VERDICT_AUDITED;
  EXPECT_NE(
      signal_tamper_alert(t, "p", WallClock(0), "n")["message"].get<std::string>().find("obeyed"),
      std::string::npos);
  t.verdict = GR_VERDICT_KILLED;
  EXPECT_NE(
      signal_tamper_alert(t, "p", WallClock(0), "n")["message"].get<std::string>().find("killed"),
      std::string::npos);
}

}  // namespace
}  // namespace guardrail::events
