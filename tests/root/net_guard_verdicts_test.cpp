// BPF_PROG_TEST_RUN of the network guard's cgroup_skb programs: real programs in the real kernel,
// fed crafted packets, with the maps filled by hand. Needs root (CAP_BPF + CAP_NET_ADMIN).
//
// For a cgroup_skb test run the kernel gives the skb a socket charged to the calling task's
// cgroup, so the test names its own cgroup as the workload under test.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "guardrail/events/events.hpp"
#include "guardrail/loader/net_guard.hpp"
#include "guardrail/util/cgroup2_mount.hpp"

namespace guardrail {
namespace {

constexpr std::uint32_t kAgentZone = 1, kControlZone = 2, kDataZone = 3;
constexpr std::uint32_t kSelf = GR_WORKLOAD_ID_BASE, kAgentB = GR_WORKLOAD_ID_BASE + 1,
                        kOrchestrator = GR_WORKLOAD_ID_BASE + 2,
                        kVectorDb = GR_WORKLOAD_ID_BASE + 3;

std::array<std::uint8_t, 16> mapped(const char* ipv4) {
  std::array<std::uint8_t, 16> a{};
  a[10] = a[11] = 0xff;
  inet_pton(AF_INET, ipv4, &a[12]);
  return a;
}

std::array<std::uint8_t, 16> ipv6(const char* text) {
  std::array<std::uint8_t, 16> a{};
  inet_pton(AF_INET6, text, a.data());
  return a;
}

std::string own_cgroup_path() {
  std::ifstream in("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(in, line))
    if (line.starts_with("0::")) path = line.substr(3);
  return path;
}

std::uint64_t cgroup_id_of(const std::string& path) {
  struct stat st {};
  if (::stat((find_cgroup2_mount() + path).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

std::uint64_t own_cgroup_id() { return cgroup_id_of(own_cgroup_path()); }

// A device other than loopback: packets the test runs on it come from or go to another network
// namespace or host (on loopback the guard judges by the socket at the other end instead).
unsigned outside_ifindex() {
  unsigned found = 0;
  if (struct if_nameindex* all = if_nameindex()) {
    for (struct if_nameindex* i = all; i->if_index != 0 && !found; ++i)
      if (i->if_index != 1) found = i->if_index;
    if_freenameindex(all);
  }
  return found;
}

gr_portset ports(std::initializer_list<gr_port_range> ranges) {
  gr_portset set{};
  for (const auto& r : ranges) set.ranges[set.count++] = r;
  return set;
}

std::pair<gr_ip_key, gr_identity> identity(std::array<std::uint8_t, 16> addr, std::uint32_t wl,
                                           std::uint32_t zone, std::uint32_t flags = 0) {
  gr_ip_key key{128, {}};
  std::memcpy(key.addr, addr.data(), 16);
  return {key, gr_identity{wl, zone, flags, 0}};
}

// A frame as the test run wants it: Ethernet, then IPv4 or IPv6, then the first bytes of TCP/UDP.
std::vector<std::uint8_t> frame(const std::array<std::uint8_t, 16>& src,
                                const std::array<std::uint8_t, 16>& dst, std::uint8_t proto,
                                std::uint16_t sport, std::uint16_t dport, bool v6 = false,
                                std::uint16_t frag_offset = 0, std::uint8_t tcp_flags = 0x02) {
  std::vector<std::uint8_t> f(sizeof(ethhdr));
  auto* eth = reinterpret_cast<ethhdr*>(f.data());
  eth->h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
  std::uint8_t l4[20]{};
  std::uint16_t sp = htons(sport), dp = htons(dport);
  std::memcpy(l4, &sp, 2);
  std::memcpy(l4 + 2, &dp, 2);
  if (proto == IPPROTO_TCP) {
    l4[12] = 5 << 4;  // data offset: 20 bytes
    l4[13] = tcp_flags;
  }
  if (v6) {
    ipv6hdr ip{};
    ip.version = 6;
    ip.nexthdr = proto;
    ip.hop_limit = 64;
    ip.payload_len = htons(sizeof l4);
    std::memcpy(&ip.saddr, src.data(), 16);
    std::memcpy(&ip.daddr, dst.data(), 16);
    f.insert(f.end(), reinterpret_cast<std::uint8_t*>(&ip),
             reinterpret_cast<std::uint8_t*>(&ip) + sizeof ip);
  } else {
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.ttl = 64;
    ip.protocol = proto;
    ip.tot_len = htons(sizeof ip + sizeof l4);
    ip.frag_off = htons(frag_offset);
    std::memcpy(&ip.saddr, &src[12], 4);
    std::memcpy(&ip.daddr, &dst[12], 4);
    f.insert(f.end(), reinterpret_cast<std::uint8_t*>(&ip),
             reinterpret_cast<std::uint8_t*>(&ip) + sizeof ip);
  }
  f.insert(f.end(), l4, l4 + sizeof l4);
  return f;
}

// This process in a child of a cgroup made for the test ("<prefix><pid>/<name>"), and back home
// (both removed) when it goes out of scope.
class ChildCgroup {
 public:
  ChildCgroup(const std::string& prefix, const std::string& name)
      : home_(own_cgroup_path()),
        root_(find_cgroup2_mount()),
        parent_(prefix + std::to_string(::getpid())),
        child_(parent_ + "/" + name) {
    if (::mkdir((root_ + parent_).c_str(), 0755) != 0 ||
        ::mkdir((root_ + child_).c_str(), 0755) != 0) {
      problem_ = "mkdir under " + root_ + parent_ + ": " + strerror(errno);
      return;
    }
    move_to(child_);
    if (own_cgroup_path() != child_) problem_ = "could not move into " + child_;
  }
  ~ChildCgroup() {
    move_to(home_);
    ::rmdir((root_ + child_).c_str());
    ::rmdir((root_ + parent_).c_str());
  }
  ChildCgroup(const ChildCgroup&) = delete;
  ChildCgroup& operator=(const ChildCgroup&) = delete;

  bool entered() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  const std::string& parent() const { return parent_; }
  const std::string& child() const { return child_; }

 private:
  void move_to(const std::string& cgroup) const {
    std::ofstream(root_ + cgroup + "/cgroup.procs") << ::getpid() << std::flush;
  }
  std::string home_, root_, parent_, child_, problem_;
};

class NetGuardVerdicts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to load BPF programs (run as root)";
    self_cgroup_ = own_cgroup_id();
    ASSERT_NE(self_cgroup_, 0u) << "cannot find this process's cgroup v2 id";
    outside_ifindex_ = outside_ifindex();
    if (outside_ifindex_ == 0) GTEST_SKIP() << "SKIPPED: needs a network device besides loopback";
    auto maps = PolicyMaps::create({});
    ASSERT_TRUE(maps) << maps.error().message;
    maps_ = std::move(*maps);
    auto guard = NetGuard::load(*maps_);
    ASSERT_TRUE(guard) << guard.error().message;
    guard_ = std::move(*guard);
    rb_.reset(ring_buffer__new(maps_->events_fd(), &NetGuardVerdicts::on_event, this, nullptr));
    ASSERT_TRUE(rb_);
    apply(0);
  }

  // The scene: this process is agent A; B is another agent; an orchestrator and a vector DB.
  // Agent B runs on this host (its hooks would judge what it sends); the vector DB elsewhere.
  // The orchestrator may open TCP to agents on any port and send them UDP on 5353; agents may
  // reach it on 8080 (any protocol) and ping it. Agents may reach 198.18.200.0/24 on TCP 443,
  // and with `world_https` the whole world on TCP 443: the common rule "agents may call APIs".
  void apply(std::uint32_t self_flags, bool orchestrator_reachable = true,
             bool world_https = false) {
    constexpr std::uint32_t kHere = GR_WL_ON_THIS_HOST;
    policy::CompiledPolicy p;
    p.cgroups = {{self_cgroup_, gr_workload{kSelf, kAgentZone, self_flags, 0}}};
    p.identities = {identity(mapped("198.18.0.3"), kSelf, kAgentZone, self_flags | kHere),
                    identity(mapped("198.18.0.4"), kAgentB, kAgentZone, kHere),
                    identity(mapped("198.18.0.2"), kOrchestrator, kControlZone, kHere),
                    identity(mapped("198.18.0.5"), kVectorDb, kDataZone),
                    identity(ipv6("fd00::2"), kOrchestrator, kControlZone, kHere),
                    identity(ipv6("fd00::4"), kAgentB, kAgentZone, kHere)};
    p.flows = {{{kOrchestrator, kAgentZone},
                ports({{0, 65535, GR_PROTO_TCP, {}}, {5353, 5353, GR_PROTO_UDP, {}}})}};
    if (orchestrator_reachable)
      p.flows.push_back({{kAgentZone, kOrchestrator},
                         ports({{8080, 8080, GR_PROTO_ANY, {}}, {0, 65535, GR_PROTO_ICMP, {}}})});
    gr_zone_ip_key allow{32 + 96 + 24, kAgentZone, {}};
    auto net = mapped("198.18.200.0");
    std::memcpy(allow.addr, net.data(), 16);
    p.egress = {{allow, ports({{443, 443, GR_PROTO_TCP, {}}})}};
    if (world_https) {
      gr_zone_ip_key world{32 + 96, kAgentZone, {}};
      auto any = mapped("0.0.0.0");
      std::memcpy(world.addr, any.data(), 16);
      p.egress.push_back({world, ports({{443, 443, GR_PROTO_TCP, {}}})});
    }
    auto applied = maps_->apply(p, 0, GR_WORKLOAD_ID_BASE + 100);
    ASSERT_TRUE(applied) << applied.error().message;
  }

  // Runs on a device from outside unless `on_loopback`.
  int run(NetGuard::Program program, const std::vector<std::uint8_t>& packet,
          bool on_loopback = false) {
    __sk_buff ctx{};
    ctx.ifindex = on_loopback ? 1 : outside_ifindex_;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
                .data_size_in = static_cast<__u32>(packet.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof ctx, .repeat = 1);
    int err = bpf_prog_test_run_opts(guard_->program_fd(program), &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN failed: " << strerror(errno);
    return static_cast<int>(opts.retval);
  }

  // The one event the runs queued since the last drain (a failure if there were more or none).
  gr_net_event only_event() {
    auto evs = drain();
    EXPECT_EQ(evs.size(), 1u) << "events queued";
    return evs.empty() ? gr_net_event{} : evs.front();
  }

  std::vector<gr_net_event> drain() {
    events_.clear();
    ring_buffer__consume(rb_.get());
    return events_;
  }

  static int on_event(void* ctx, void* data, size_t size) {
    auto decoded = events::decode(std::span(static_cast<const std::byte*>(data), size));
    EXPECT_TRUE(decoded) << decoded.error().message;
    if (decoded) static_cast<NetGuardVerdicts*>(ctx)->events_.push_back(std::get<0>(*decoded));
    return 0;
  }

  struct FreeRb {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
  };
  std::uint64_t self_cgroup_ = 0;
  unsigned outside_ifindex_ = 0;
  std::unique_ptr<PolicyMaps> maps_;
  std::unique_ptr<NetGuard> guard_;
  std::unique_ptr<ring_buffer, FreeRb> rb_;
  std::vector<gr_net_event> events_;
};

using P = NetGuard::Program;
constexpr int kPass = 1, kDrop = 0;

TEST_F(NetGuardVerdicts, EgressToTheOrchestratorOnItsPortPassesSilently) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 6, 40000, 8080)),
            kPass);
  EXPECT_TRUE(drain().empty());
}

// UDP: the orchestrator may open TCP flows to agents on any port, so a TCP packet from the agent
// to the orchestrator could be a reply to one and passes cgroup_skb (connect4 still refuses the
// agent opening it). Nothing makes a UDP packet to 9090 a reply.
TEST_F(NetGuardVerdicts, EgressToTheOrchestratorOnAnotherPortIsDropped) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 9090)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].hdr.type, GR_EV_NET_EGRESS);
  EXPECT_EQ(evs[0].verdict, GR_VERDICT_BLOCKED);
  EXPECT_EQ(evs[0].backend, GR_BACKEND_CGROUP_SKB);
  EXPECT_EQ(evs[0].workload_id, kSelf);
  EXPECT_EQ(evs[0].peer_workload_id, kOrchestrator);
  EXPECT_EQ(evs[0].peer_zone_id, kControlZone);
  EXPECT_EQ(evs[0].dport, 9090);
  EXPECT_EQ(evs[0].protocol, GR_PROTO_UDP);
}

TEST_F(NetGuardVerdicts, EgressToAnotherAgentIsDroppedAndReported) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 17, 40000, 53)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].peer_workload_id, kAgentB);
  EXPECT_EQ(evs[0].direction, GR_DIR_EGRESS);
  EXPECT_EQ(evs[0].rule, GR_RULE_DEFAULT_DENY);
}

TEST_F(NetGuardVerdicts, EgressAllowlistHonoursCidrAndPort) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.200.5"), 6, 40000, 443)),
            kPass);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.200.5"), 6, 40000, 80)),
            kDrop);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.201.5"), 6, 40000, 443)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].peer_zone_id, GR_IDENTITY_WORLD);
}

TEST_F(NetGuardVerdicts, IngressConnectionsTheOrchestratorMayOpenPass) {
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.2"), mapped("198.18.0.3"), 6, 40000, 22)),
            kPass);
  EXPECT_TRUE(drain().empty());
}

TEST_F(NetGuardVerdicts, IngressFromAnotherAgentIsAnEastWestBypass) {
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.4"), mapped("198.18.0.3"), 17, 5000, 7000)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].hdr.type, GR_EV_EAST_WEST_BYPASS);
  EXPECT_EQ(evs[0].direction, GR_DIR_INGRESS);
  EXPECT_EQ(evs[0].workload_id, kSelf);
  EXPECT_EQ(evs[0].peer_workload_id, kAgentB);
  EXPECT_EQ(evs[0].pid, 0u);
}

TEST_F(NetGuardVerdicts, IngressFromTheDataPlaneIsDroppedAsPlainIngress) {
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.5"), mapped("198.18.0.3"), 6, 5432, 40000)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].hdr.type, GR_EV_NET_INGRESS);
  EXPECT_EQ(evs[0].peer_zone_id, kDataZone);
}

TEST_F(NetGuardVerdicts, AuditModeLetsItPassAndReportsAudited) {
  apply(GR_WL_AUDIT);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 6, 40000, 80)), kPass);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].verdict, GR_VERDICT_AUDITED);
}

// Audit mode reports the attempt (the SYN), not every packet of the connection it allows.
TEST_F(NetGuardVerdicts, AuditModeReportsAConnectionOnceNotEachPacket) {
  apply(GR_WL_AUDIT);
  constexpr std::uint8_t kAck = 0x10, kPshAck = 0x18;
  EXPECT_EQ(run(P::Egress,
                frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 6, 40000, 80, false, 0, kAck)),
            kPass);
  EXPECT_EQ(run(P::Ingress,
                frame(mapped("198.18.0.4"), mapped("198.18.0.3"), 6, 80, 40000, false, 0, kPshAck)),
            kPass);
  EXPECT_TRUE(drain().empty());
}

TEST_F(NetGuardVerdicts, EnforceModeDropsEveryPacketOfAForbiddenConnection) {
  constexpr std::uint8_t kAck = 0x10;
  EXPECT_EQ(run(P::Egress,
                frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 6, 40000, 80, false, 0, kAck)),
            kDrop);
  EXPECT_EQ(drain().size(), 1u);
}

TEST_F(NetGuardVerdicts, Ipv6FollowsTheSameRules) {
  EXPECT_EQ(run(P::Egress, frame(ipv6("fd00::3"), ipv6("fd00::2"), 6, 40000, 8080, true)), kPass);
  EXPECT_EQ(run(P::Egress, frame(ipv6("fd00::3"), ipv6("fd00::4"), 6, 40000, 8080, true)), kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].family, AF_INET6);
  EXPECT_EQ(evs[0].peer_workload_id, kAgentB);
}

// On loopback the peer is the socket at the other end; nobody listens on port 9 here.
TEST_F(NetGuardVerdicts, LoopbackToNoSocketPasses) {
  EXPECT_EQ(run(P::Egress, frame(mapped("127.0.0.1"), mapped("127.0.0.1"), 6, 40000, 9), true),
            kPass);
  EXPECT_EQ(run(P::Ingress, frame(mapped("127.0.0.1"), mapped("127.0.0.1"), 6, 40000, 9), true),
            kPass);
  EXPECT_TRUE(drain().empty());
}

TEST_F(NetGuardVerdicts, LaterFragmentsPassBecauseTheirFirstFragmentIsJudged) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 17, 0, 0, false, 185)),
            kPass);
  EXPECT_TRUE(drain().empty());
}

// A new policy replaces the old one whole, however often it changes (the two map sets alternate).
TEST_F(NetGuardVerdicts, ApplyingAPolicyReplacesThePreviousOneWhole) {
  const auto to_orchestrator = frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 8080);
  apply(0, false);
  EXPECT_EQ(run(P::Egress, to_orchestrator), kDrop);
  apply(0, true);
  EXPECT_EQ(run(P::Egress, to_orchestrator), kPass);
  apply(0, false);
  EXPECT_EQ(run(P::Egress, to_orchestrator), kDrop);
  EXPECT_EQ(drain().size(), 2u);
}

// A quarantined workload (failed a required posture check) keeps loopback and nothing else.
TEST_F(NetGuardVerdicts, AQuarantinedWorkloadLosesEveryFlowButLoopback) {
  apply(GR_WL_QUARANTINE);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 6, 40000, 8080)),
            kDrop);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.2"), mapped("198.18.0.3"), 6, 8080, 40000)),
            kDrop);
  EXPECT_EQ(run(P::Egress, frame(mapped("127.0.0.1"), mapped("127.0.0.1"), 6, 40000, 9), true),
            kPass);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].rule, GR_RULE_QUARANTINE);
  EXPECT_EQ(evs[1].rule, GR_RULE_QUARANTINE);
}

TEST_F(NetGuardVerdicts, AllowedTrafficNeverQueuesAnEvent) {
  for (int i = 0; i < 1000; i++)
    run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 6, 40000, 8080));
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(maps_->stat(GR_STAT_EVENTS_SUBMITTED), 0u);
}

// ---- replies by state, allowlists for the world only (each an attack seen before) ----------

constexpr std::uint8_t kAck = 0x10, kSynAck = 0x12;

// "Agents may call APIs" (0.0.0.0/0 TCP 443) never lets an agent reach another agent on 443.
TEST_F(NetGuardVerdicts, AWorldAllowlistNeverReachesAWorkload) {
  apply(0, true, true);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 6, 40000, 443)),
            kDrop);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 6, 40000, 443)),
            kDrop);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.77.1"), 6, 40000, 443)),
            kPass);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].peer_workload_id, kAgentB);
  EXPECT_EQ(evs[1].peer_workload_id, kOrchestrator);
}

// Agent B binds source port 443 and sends agent A a SYN to 443 (its own hooks bypassed): port
// numbers make nothing a reply, and B's hooks would have refused it: an east-west bypass.
TEST_F(NetGuardVerdicts, ASynFromAnAllowlistedPortIsNoReply) {
  apply(0, true, true);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.4"), mapped("198.18.0.3"), 6, 443, 443)), kDrop);
  const gr_net_event ev = only_event();
  EXPECT_EQ(ev.hdr.type, GR_EV_EAST_WEST_BYPASS);
  EXPECT_EQ(ev.rule, GR_RULE_DEFAULT_DENY);
}

// A segment that is no SYN, to a socket that never connected there: refused as not a reply.
TEST_F(NetGuardVerdicts, ATcpSegmentWithoutItsConnectionIsNotAReply) {
  apply(0, true, true);
  EXPECT_EQ(run(P::Ingress,
                frame(mapped("198.18.0.4"), mapped("198.18.0.3"), 6, 443, 40000, false, 0, kAck)),
            kDrop);
  EXPECT_EQ(run(P::Ingress,
                frame(mapped("198.18.200.5"), mapped("198.18.0.3"), 6, 443, 22, false, 0, kSynAck)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].rule, GR_RULE_NOT_A_REPLY);
  EXPECT_EQ(evs[0].hdr.type, GR_EV_EAST_WEST_BYPASS);  // B's hooks would have refused it too
  EXPECT_EQ(evs[1].rule, GR_RULE_NOT_A_REPLY);
  EXPECT_EQ(evs[1].hdr.type, GR_EV_NET_INGRESS);  // the world has no hooks here
  EXPECT_EQ(evs[1].peer_zone_id, GR_IDENTITY_WORLD);
}

// A host outside every zone, from the allowlisted port 443, opens nothing.
TEST_F(NetGuardVerdicts, TheWorldFromAnAllowlistedPortOpensNothing) {
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.200.5"), mapped("198.18.0.3"), 6, 443, 22)),
            kDrop);
  const gr_net_event ev = only_event();
  EXPECT_EQ(ev.hdr.type, GR_EV_NET_INGRESS);
  EXPECT_EQ(ev.rule, GR_RULE_DEFAULT_DENY);
}

// UDP: the answer needs the datagram it answers. An agent that binds 5353 (the orchestrator
// may send it there) cannot use that to send to any orchestrator port, until the orchestrator
// sent from that port; then it is a reply.
TEST_F(NetGuardVerdicts, AUdpAnswerNeedsTheExchangeItAnswers) {
  const auto to_orchestrator = frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 5353, 9999);
  EXPECT_EQ(run(P::Egress, to_orchestrator), kDrop);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.2"), mapped("198.18.0.3"), 17, 9999, 5353)),
            kPass);
  EXPECT_EQ(run(P::Egress, to_orchestrator), kPass);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 5353, 9998)),
            kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].dport, 9999);
  EXPECT_EQ(evs[1].dport, 9998);
}

// The agent asked the orchestrator on 8080: its answers come back to that port only.
TEST_F(NetGuardVerdicts, UdpRepliesReachOnlyThePortThatAsked) {
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 8080)),
            kPass);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.2"), mapped("198.18.0.3"), 17, 8080, 40000)),
            kPass);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.2"), mapped("198.18.0.3"), 17, 8080, 40001)),
            kDrop);
  const gr_net_event ev = only_event();
  EXPECT_EQ(ev.rule, GR_RULE_NOT_A_REPLY);
  // the orchestrator's own hooks (it runs here) would have refused that datagram too
  EXPECT_EQ(ev.hdr.type, GR_EV_EAST_WEST_BYPASS);
}

// An exchange answers the other side only: the side that began it needs its rule for every
// datagram, so a policy that stops allowing it stops it at once.
TEST_F(NetGuardVerdicts, AnExchangeNeverAllowsItsOwnOpenerAgain) {
  const auto ask = frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 8080);
  EXPECT_EQ(run(P::Egress, ask), kPass);
  apply(0, false);
  EXPECT_EQ(run(P::Egress, ask), kDrop);
  EXPECT_EQ(drain().size(), 1u);
}

std::vector<std::uint8_t> icmp_echo(const char* src, const char* dst, std::uint8_t type) {
  auto f = frame(mapped(src), mapped(dst), GR_PROTO_ICMP, 0, 0);
  f[sizeof(ethhdr) + sizeof(iphdr)] = type;  // the ports' place holds type and code
  f[sizeof(ethhdr) + sizeof(iphdr) + 1] = 0;
  return f;
}

TEST_F(NetGuardVerdicts, AnEchoReplyNeedsTheRequestItAnswers) {
  EXPECT_EQ(run(P::Ingress, icmp_echo("198.18.0.2", "198.18.0.3", 0)), kDrop);
  EXPECT_EQ(run(P::Egress, icmp_echo("198.18.0.3", "198.18.0.2", 8)), kPass);
  EXPECT_EQ(run(P::Ingress, icmp_echo("198.18.0.2", "198.18.0.3", 0)), kPass);
  EXPECT_EQ(run(P::Ingress, icmp_echo("198.18.0.5", "198.18.0.3", 0)), kDrop);
  auto evs = drain();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].rule, GR_RULE_NOT_A_REPLY);
  EXPECT_EQ(evs[0].protocol, GR_PROTO_ICMP);
  EXPECT_EQ(evs[1].peer_workload_id, kVectorDb);
}

// The receiver names a bypass only when the sender is a workload whose hooks run on this host.
TEST_F(NetGuardVerdicts, AWorkloadElsewhereIsNoBypass) {
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.5"), mapped("198.18.0.3"), 17, 5000, 7000)),
            kDrop);
  const gr_net_event ev = only_event();
  EXPECT_EQ(ev.hdr.type, GR_EV_NET_INGRESS);
  EXPECT_EQ(ev.peer_workload_id, kVectorDb);
}

// A placeholder (GR_WL_PLACEHOLDER) names the descendants of its cgroup that no entry names: this
// process's cgroup, below the placeholder's, is judged as the placeholder's workload.
TEST_F(NetGuardVerdicts, AnUnnamedChildOfAPlaceholderIsThePlaceholdersWorkload) {
  const ChildCgroup scene("/gr-root-test-", "unnamed");
  ASSERT_TRUE(scene.entered()) << scene.problem();
  const std::string &parent = scene.parent(), &child = scene.child();
  const auto level = std::count(parent.begin(), parent.end(), '/');
  policy::CompiledPolicy p;
  p.cgroups = {{cgroup_id_of(parent), gr_workload{kSelf, kAgentZone, GR_WL_PLACEHOLDER, 0}}};
  p.identities = {identity(mapped("198.18.0.2"), kOrchestrator, kControlZone, GR_WL_ON_THIS_HOST),
                  identity(mapped("198.18.0.4"), kAgentB, kAgentZone, GR_WL_ON_THIS_HOST)};
  p.flows = {{{kAgentZone, kOrchestrator}, ports({{8080, 8080, GR_PROTO_ANY, {}}})}};
  auto applied = maps_->apply(p, 1u << level, GR_WORKLOAD_ID_BASE + 100);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 8080)),
            kPass);
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 17, 40000, 53)),
            kDrop);
  const auto ev = only_event();
  EXPECT_EQ(ev.workload_id, kSelf);
  EXPECT_EQ(ev.zone_id, kAgentZone);
  EXPECT_EQ(ev.peer_workload_id, kAgentB);
}

// The placeholder's own cgroup is no workload: under the programs, a cgroup the maps do not name
// is refused what no rule names (fail closed), and its event names no workload.
TEST_F(NetGuardVerdicts, APlaceholdersOwnCgroupIsNoWorkload) {
  policy::CompiledPolicy p;
  p.cgroups = {{self_cgroup_, gr_workload{kSelf, kAgentZone, GR_WL_PLACEHOLDER, 0}}};
  p.identities = {identity(mapped("198.18.0.2"), kOrchestrator, kControlZone, GR_WL_ON_THIS_HOST)};
  p.flows = {{{kAgentZone, kOrchestrator}, ports({{8080, 8080, GR_PROTO_ANY, {}}})}};
  const std::string self = own_cgroup_path();
  auto applied =
      maps_->apply(p, 1u << std::count(self.begin(), self.end(), '/'), GR_WORKLOAD_ID_BASE + 100);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.2"), 17, 40000, 8080)),
            kDrop);
  const auto ev = only_event();
  EXPECT_EQ(ev.workload_id, 0u);
  EXPECT_EQ(ev.zone_id, 0u);
}

// A Service address (ClusterIP) is judged as its backends, on the port they listen on: an agent's
// datagram to the orchestrator's Service port 80 (target 8080) passes, one to a Service of agents
// is dropped and names the agent behind it; a Service port the map does not list is the world's.
TEST_F(NetGuardVerdicts, AServiceAddressIsJudgedAsItsBackendsOnTheirPort) {
  policy::CompiledPolicy p;
  p.cgroups = {{self_cgroup_, gr_workload{kSelf, kAgentZone, 0, 0}}};
  p.identities = {identity(mapped("198.18.0.2"), kOrchestrator, kControlZone, GR_WL_ON_THIS_HOST),
                  identity(mapped("198.18.0.4"), kAgentB, kAgentZone, GR_WL_ON_THIS_HOST)};
  p.flows = {{{kAgentZone, kOrchestrator}, ports({{8080, 8080, GR_PROTO_ANY, {}}})}};
  auto service = [](const char* ip, std::uint16_t port, std::uint32_t wl, std::uint32_t zone,
                    std::uint16_t target) {
    gr_service_key key{};
    auto a = mapped(ip);
    std::memcpy(key.addr, a.data(), 16);
    key.port = port;
    key.protocol = IPPROTO_UDP;
    return std::pair(key, gr_service{wl, zone, 0, target, 0});
  };
  p.services = {service("198.19.0.10", 80, kOrchestrator, kControlZone, 8080),
                service("198.19.0.11", 80, kAgentB, kAgentZone, 8080)};
  auto applied = maps_->apply(p, 0, GR_WORKLOAD_ID_BASE + 100);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.19.0.10"), 17, 40000, 80)),
            kPass);
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.19.0.11"), 17, 40000, 80)),
            kDrop);
  const auto ev = only_event();
  EXPECT_EQ(ev.peer_workload_id, kAgentB);
  EXPECT_EQ(ev.peer_zone_id, kAgentZone);
  // Port 81 of the orchestrator's Service is no Service port: the address is the world's.
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.19.0.10"), 17, 40000, 81)),
            kDrop);
  EXPECT_EQ(only_event().peer_zone_id, static_cast<std::uint32_t>(GR_IDENTITY_WORLD));
}

// An exempt cgroup (kube-system, the agent's own pod) is under no policy even where a
// placeholder above it would judge an unnamed child: its packets pass and nothing is reported.
TEST_F(NetGuardVerdicts, AnExemptCgroupBelowAPlaceholderIsTheHosts) {
  const ChildCgroup scene("/gr-root-exempt-", "system-pod");
  ASSERT_TRUE(scene.entered()) << scene.problem();
  const std::string &parent = scene.parent(), &child = scene.child();
  const auto level = std::count(parent.begin(), parent.end(), '/');
  policy::CompiledPolicy p;
  p.cgroups = {{cgroup_id_of(parent), gr_workload{kSelf, kAgentZone, GR_WL_PLACEHOLDER, 0}},
               {cgroup_id_of(child), gr_workload{0, 0, GR_WL_EXEMPT, 0}}};
  p.identities = {identity(mapped("198.18.0.4"), kAgentB, kAgentZone, GR_WL_ON_THIS_HOST)};
  auto applied = maps_->apply(p, (1u << level) | (1u << (level + 1)), GR_WORKLOAD_ID_BASE + 100);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 17, 40000, 53)),
            kPass);
  EXPECT_EQ(run(P::Ingress, frame(mapped("198.18.0.4"), mapped("198.18.0.3"), 6, 40000, 22)),
            kPass);
  EXPECT_TRUE(drain().empty());
  // The same cgroup without its exemption is the placeholder's, and refused.
  p.cgroups.pop_back();
  applied = maps_->apply(p, 1u << level, GR_WORKLOAD_ID_BASE + 100);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(run(P::Egress, frame(mapped("198.18.0.3"), mapped("198.18.0.4"), 17, 40000, 53)),
            kDrop);
  EXPECT_EQ(only_event().workload_id, kSelf);
}

}  // namespace
}  // namespace guardrail
