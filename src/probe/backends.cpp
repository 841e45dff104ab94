// choose_backends(): the design's enforcement-backend table as a pure function of the features.
#include <algorithm>
#include <string>
#include <vector>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {
namespace {

constexpr const char* kPrevention = "prevention";
constexpr const char* kNone = "none";

class Available {
 public:
  explicit Available(const std::vector<Feature>& features) : features_(features) {}
  bool operator()(std::string_view name) const {
    return std::ranges::any_of(features_,
                               [&](const Feature& f) { return f.name == name && f.available; });
  }

 private:
  const std::vector<Feature>& features_;
};

// The preferred backend of every guard but network. lsm_cgroup is the same hooks attached per
// cgroup, so it counts only where plain BPF-LSM would too (both need trampolines).
GuardBackend lsm_backend(const std::string& guard, const Available& has) {
  if (has("bpf_lsm"))
    return {guard, "lsm", kPrevention,
            has("lsm_cgroup") ? "lsm_cgroup also works: the LSM programs can attach per cgroup "
                                "(backend lsm_cgroup)"
                              : ""};
  return {guard, "lsm_cgroup", kPrevention,
          "plain BPF-LSM refused; LSM programs attach per cgroup"};
}

GuardBackend unavailable(const std::string& guard, const std::string& why) {
  return {guard, "unavailable", kNone, why};
}

std::string kill_guarantee(const Available& has) {
  // Without bpf_send_signal the fallback can only report.
  return has("bpf_send_signal") ? "detection (+kill)" : "detection";
}

std::string kill_clause(const Available& has) {
  return has("bpf_send_signal") ? "the caller can be killed, but"
                                : "bpf_send_signal is refused too, so the caller cannot even be "
                                  "killed, and";
}

}  // namespace

std::vector<GuardBackend> choose_backends(const std::vector<Feature>& features) {
  Available has(features);
  bool lsm = has("bpf_lsm") || has("lsm_cgroup");
  std::vector<GuardBackend> guards;

  if (has("cgroup_skb") && has("cgroup_sock_addr"))
    guards.push_back({"network", "cgroup_sock_addr+cgroup_skb", kPrevention, ""});
  else
    guards.push_back(
        unavailable("network",
                    "Network guard unavailable: it needs both the cgroup_sock_addr and the "
                    "cgroup_skb feature (see their reasons)."));

  if (lsm)
    guards.push_back(lsm_backend("raw-sockets", has));
  else if (has("cgroup_sock_create"))
    guards.push_back({"raw-sockets", "cgroup_sock",
                      has("tracepoint")
                          ? "prevention (raw inet); " + kill_guarantee(has) + " (packet)"
                          : std::string("prevention (raw inet); none (packet)"),
                      "BPF-LSM unavailable: cgroup/sock_create denies raw inet and inet6 "
                      "sockets; the kernel does not run it for packet (AF_PACKET) sockets, which "
                      "are only observed at socket() entry (tracepoint/syscalls/sys_enter_socket)"
                      "; " +
                          kill_clause(has) + " the socket is still created."});
  else
    guards.push_back(unavailable("raw-sockets",
                                 "Raw-socket guard unavailable: it needs bpf_lsm or "
                                 "cgroup_sock_create (see their reasons)."));

  if (lsm)
    guards.push_back(lsm_backend("runtime-sockets", has));
  else if (has("cgroup_connect_unix"))
    guards.push_back({"runtime-sockets", "cgroup_connect_unix", "prevention (by path)",
                      "BPF-LSM unavailable: cgroup/connect_unix denies connect() by the socket "
                      "path given, so the path must match the policy's (a symlink or hard link "
                      "under another name is not recognised)."});
  else
    guards.push_back(unavailable("runtime-sockets",
                                 "Runtime-socket guard unavailable: it needs bpf_lsm or "
                                 "cgroup_connect_unix, kernel >= 6.7 (see their reasons)."));

  if (lsm)
    guards.push_back(lsm_backend("capabilities", has));
  else if (has("tp_btf"))
    guards.push_back({"capabilities", "tp_btf", kill_guarantee(has),
                      "BPF-LSM unavailable: capability checks are only observed "
                      "(tp_btf/cap_capable); " +
                          kill_clause(has) + " the check is not denied."});
  else
    guards.push_back(unavailable("capabilities",
                                 "Capability guard unavailable: it needs bpf_lsm or tp_btf "
                                 "(see their reasons)."));

  if (lsm)
    guards.push_back(lsm_backend("mounts", has));
  else if (has("tracepoint"))
    guards.push_back({"mounts", "tracepoint", kill_guarantee(has),
                      "BPF-LSM unavailable: mount syscalls are only observed "
                      "(tracepoint/syscalls/sys_enter_*); " +
                          kill_clause(has) + " the mount may still happen."});
  else
    guards.push_back(unavailable("mounts",
                                 "Mount guard unavailable: it needs bpf_lsm or tracepoint "
                                 "(see their reasons)."));

  if (lsm)
    guards.push_back(lsm_backend("bpf", has));
  else if (has("tracepoint"))
    guards.push_back({"bpf", "tracepoint", kill_guarantee(has),
                      "BPF-LSM unavailable: bpf() calls are only observed "
                      "(tracepoint/syscalls/sys_enter_bpf); " +
                          kill_clause(has) + " the call may still succeed."});
  else
    guards.push_back(unavailable("bpf",
                                 "bpf() guard unavailable: it needs bpf_lsm or tracepoint "
                                 "(see their reasons)."));
  return guards;
}

}  // namespace guardrail::probe
