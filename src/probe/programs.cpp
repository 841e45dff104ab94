// Probe program features by asking the kernel: open the probe skeleton once per feature, load
// only that feature's programs, attach them where that can be done harmlessly, tear down.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "feature_probe.skel.h"
#include "guardrail/probe/probe.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::probe {
namespace {

struct SkeletonDeleter {
  void operator()(feature_probe* skel) const { feature_probe__destroy(skel); }
};
using Skeleton = std::unique_ptr<feature_probe, SkeletonDeleter>;

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// libbpf warns loudly on every refused load, and refusals are the expected answers here: keep
// its messages out of the output while probing, but remember them, because they name the
// program the kernel refused. Restores the previous print callback on destruction.
class LibbpfCapture {
 public:
  LibbpfCapture() : previous_(libbpf_set_print(&LibbpfCapture::capture)) { lines().clear(); }
  ~LibbpfCapture() { libbpf_set_print(previous_); }
  LibbpfCapture(const LibbpfCapture&) = delete;
  LibbpfCapture& operator=(const LibbpfCapture&) = delete;

  static std::vector<std::string>& lines() {
    static std::vector<std::string> captured;  // libbpf's callback carries no user pointer
    return captured;
  }

 private:
  static int capture(libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char buf[512];
    int n = std::vsnprintf(buf, sizeof buf, format, args);
    if (n > 0 && lines().size() < 256) lines().emplace_back(buf);
    return n;
  }
  libbpf_print_fn_t previous_;
};

// An empty child cgroup to attach cgroup programs to: attaching proves more than loading, and
// an empty cgroup has no processes, so nothing on the host is affected.
class ScratchCgroup {
 public:
  explicit ScratchCgroup(const std::string& cgroup2_mount) {
    if (cgroup2_mount.empty()) return;
    path_ = cgroup2_mount + "/guardrail-probe-" + std::to_string(::getpid());
    ::rmdir(path_.c_str());  // a leftover from a crashed probe with a recycled pid
    if (::mkdir(path_.c_str(), 0700) != 0) {
      error_ = "mkdir " + path_ + ": " + std::strerror(errno);
      path_.clear();
      return;
    }
    fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) error_ = "open " + path_ + ": " + std::strerror(errno);
  }
  ~ScratchCgroup() {
    fd_.reset();
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  ScratchCgroup(const ScratchCgroup&) = delete;
  ScratchCgroup& operator=(const ScratchCgroup&) = delete;

  int fd() const { return fd_.get(); }
  // Why there is no fd: "" when there is one.
  std::string why_not() const {
    if (fd_) return "";
    return error_.empty() ? "cgroup v2 not mounted" : error_;
  }

 private:
  std::string path_;
  std::string error_;
  UniqueFd fd_;
};

enum class Attach {
  kNone,    // load only (attaching would act on real events)
  kAuto,    // bpf_program__attach from the section name: lsm, tracepoint, tp_btf
  kCgroup,  // bpf_program__attach_cgroup to the scratch cgroup
};

enum class Hint { kNone, kLsm };

struct ProgramFeature {
  const char* name;
  std::vector<std::string_view> programs;  // function names in feature_probe.bpf.c
  Attach attach;
  Hint hint;
  bool uses_ringbuf = false;
  bool slow_detach = false;  // detaching blocks for a grace period: do it in the background
};

const std::vector<ProgramFeature>& program_features() {
  static const std::vector<ProgramFeature> features = {
      {"cgroup_skb", {"probe_cgroup_skb"}, Attach::kCgroup, Hint::kNone},
      {"cgroup_sock_addr",
       {"probe_connect4", "probe_connect6", "probe_sendmsg4", "probe_sendmsg6"},
       Attach::kCgroup,
       Hint::kNone},
      {"cgroup_connect_unix", {"probe_connect_unix"}, Attach::kCgroup, Hint::kNone},
      {"cgroup_sock_create", {"probe_sock_create"}, Attach::kCgroup, Hint::kNone},
      // One program per guard's preferred hook: a kernel could allow some hooks and not others.
      {"bpf_lsm",
       {"probe_lsm_socket_create", "probe_lsm_socket_connect", "probe_lsm_capable",
        "probe_lsm_sb_mount"},
       Attach::kAuto,
       Hint::kLsm},
      {"lsm_cgroup", {"probe_lsm_cgroup_socket_create"}, Attach::kCgroup, Hint::kLsm},
      // The raw syscall exit tracepoint (tp_btf/sys_exit): it needs no tracefs, and sees every ABI.
      {"tracepoint", {"probe_raw_syscall_tracepoint"}, Attach::kAuto, Hint::kNone, false, true},
      {"tp_btf", {"probe_tp_btf_cap_capable"}, Attach::kAuto, Hint::kNone},
      // Loaded, never attached: attached, it would be armed to kill.
      {"bpf_send_signal", {"probe_send_signal"}, Attach::kNone, Hint::kNone, true},
      // Coverage from birth under a parent shared with host services (bpf/birth_guard.bpf.c).
      {"cgroup_mkdir", {"probe_tp_btf_cgroup_mkdir"}, Attach::kAuto, Hint::kNone},
  };
  return features;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// Why the kernel may refuse LSM programs, to turn "Operation not permitted" into advice.
std::string lsm_hint(int err) {
  std::ifstream in("/sys/kernel/security/lsm");
  std::string active;
  if (in && std::getline(in, active)) {
    std::string padded = "," + active + ",";
    if (padded.find(",bpf,") == std::string::npos)
      return "bpf is not among the active LSMs (" + active + "); boot with lsm=" + active + ",bpf";
  }
  if (err == EPERM || err == -EPERM)
    return "this kernel refuses BPF trampolines; LSM programs unavailable";
  return "";
}

std::string hint_for(Hint hint, int err) {
  switch (hint) {
    case Hint::kLsm:
      return lsm_hint(err);
    case Hint::kNone:
      return "";
  }
  return "";
}

std::string with_hint(std::string reason, const std::string& hint) {
  return hint.empty() ? reason : reason + " (" + hint + ")";
}

// The section of the program libbpf reported as refused, from its captured messages
// ("prog 'NAME': BPF program load failed: ..."); "" if none was named.
std::string refused_section(const feature_probe& skel) {
  for (auto it = LibbpfCapture::lines().rbegin(); it != LibbpfCapture::lines().rend(); ++it) {
    auto start = it->find("prog '");
    if (start == std::string::npos || it->find("fail") == std::string::npos) continue;
    start += 6;
    auto end = it->find('\'', start);
    if (end == std::string::npos) continue;
    if (auto* prog =
            bpf_object__find_program_by_name(skel.obj, it->substr(start, end - start).c_str()))
      return bpf_program__section_name(prog);
  }
  return "";
}

Feature probe_one(const ProgramFeature& spec, const ScratchCgroup& cgroup) {
  Feature result{spec.name, false, ""};
  LibbpfCapture::lines().clear();
  Skeleton skel(feature_probe__open());
  if (!skel) {
    result.reason = "skeleton open failed: " + errno_text(errno);
    return result;
  }

  std::vector<bpf_program*> under_test;
  std::string sections;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    bool wanted = std::ranges::find(spec.programs, bpf_program__name(prog)) != spec.programs.end();
    bpf_program__set_autoload(prog, wanted);
    if (wanted) {
      under_test.push_back(prog);
      sections += (sections.empty() ? "" : ", ") + std::string(bpf_program__section_name(prog));
    }
  }
  // The ring buffer is created only for the feature whose program uses it: a map nobody
  // references would cost a map creation per feature for nothing.
  bpf_map__set_autocreate(skel->maps.probe_events, spec.uses_ringbuf);

  if (int err = feature_probe__load(skel.get()); err != 0) {
    std::string section = refused_section(*skel);
    result.reason = with_hint(
        (section.empty() ? sections : section) + ": program load refused: " + errno_text(err),
        hint_for(spec.hint, err));
    return result;
  }
  if (spec.attach == Attach::kNone) {
    result.available = true;
    result.reason = "loaded (" + sections + ")";
    return result;
  }
  if (spec.attach == Attach::kCgroup && cgroup.fd() < 0) {
    result.available = true;
    result.reason = "loaded (" + sections + "); not attach-tested: " + cgroup.why_not();
    return result;
  }

  std::vector<Link> links;  // held until every program is attached, then detached together
  for (bpf_program* p : under_test) {
    Link link(spec.attach == Attach::kCgroup ? bpf_program__attach_cgroup(p, cgroup.fd())
                                             : bpf_program__attach(p));
    if (!link) {
      int err = errno;
      result.reason = with_hint(std::string(bpf_program__section_name(p)) +
                                    ": loaded, but attach refused: " + errno_text(err),
                                hint_for(spec.hint, err));
      return result;
    }
    links.push_back(std::move(link));
  }
  result.available = true;
  result.reason = (spec.attach == Attach::kCgroup ? "loaded and attached to a scratch cgroup ("
                                                  : "loaded and attached (") +
                  sections + ")";
  if (spec.slow_detach) {
    // Detaching from a syscall tracepoint waits out an RCU grace period (~80 ms here), most of
    // the probe's time: let a background thread wait for it instead of the agent's startup.
    // The program is a no-op, so it staying attached a little longer changes nothing.
    std::thread([held_links = std::move(links), held_skel = std::move(skel)]() mutable {
      held_links.clear();
      held_skel.reset();
    }).detach();
  }
  return result;
}

Feature probe_ringbuf() {
  int ret = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  if (ret == 1) return {"ringbuf", true, "BPF_MAP_TYPE_RINGBUF map created"};
  if (ret == 0) return {"ringbuf", false, "kernel does not know BPF_MAP_TYPE_RINGBUF"};
  return {"ringbuf", false, "BPF_MAP_TYPE_RINGBUF probe failed: " + errno_text(ret)};
}

}  // namespace

std::vector<Feature> probe_program_features(const std::string& cgroup2_mount) {
  LibbpfCapture quiet;
  ScratchCgroup cgroup(cgroup2_mount);
  std::vector<Feature> features{probe_ringbuf()};
  for (const auto& spec : program_features()) features.push_back(probe_one(spec, cgroup));
  return features;
}

}  // namespace guardrail::probe
