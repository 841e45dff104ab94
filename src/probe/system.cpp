// Probe features that are files and mounts: BTF, cgroup v2, bpffs.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

Feature probe_btf() {
  struct stat st {};
  if (::stat(kVmlinuxBtf, &st) != 0)
    return {"btf", false,
            std::string(kVmlinuxBtf) + " missing: " + std::strerror(errno) +
                " (kernel built without CONFIG_DEBUG_INFO_BTF; CO-RE programs cannot load)"};
  // Present is not enough: libbpf must parse it, or every CO-RE relocation and every
  // tp_btf/lsm attach target lookup fails later with a far less obvious message.
  // libbpf logs the load at debug level; probe output stays the probe's own.
  libbpf_print_fn_t previous = libbpf_set_print(nullptr);
  btf* vmlinux = btf__load_vmlinux_btf();
  int err = errno;
  libbpf_set_print(previous);
  if (!vmlinux)
    return {
        "btf", false,
        std::string(kVmlinuxBtf) + " present but libbpf cannot parse it: " + std::strerror(err)};
  auto types = btf__type_cnt(vmlinux);
  btf__free(vmlinux);
  return {"btf", true,
          std::string(kVmlinuxBtf) + " present and parsed (" + std::to_string(types) + " types)"};
}

Feature probe_cgroup2(const std::string& mount) {
  if (mount.empty())
    return {"cgroup2", false,
            "cgroup v2 not mounted (fix: mount -t cgroup2 none /sys/fs/cgroup/unified on a "
            "hybrid host, /sys/fs/cgroup otherwise)"};
  return {"cgroup2", true, "mounted at " + mount};
}

Feature probe_mount(const char* name, const char* path, long magic, const char* fix) {
  if (fs_mounted(path, magic)) return {name, true, std::string("mounted at ") + path};
  return {name, false, std::string("not mounted at ") + path + " (fix: " + fix + ")"};
}

}  // namespace

bool fs_mounted(const char* path, long magic) {
  struct statfs st {};
  return ::statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

std::vector<Feature> probe_system_features(const std::string& cgroup2_mount) {
  return {
      probe_btf(),
      probe_cgroup2(cgroup2_mount),
      // Pinned maps and links live here; without it the agent cannot survive a restart.
      probe_mount("bpffs", "/sys/fs/bpf", BPF_FS_MAGIC, "mount -t bpf bpf /sys/fs/bpf"),
      // No tracefs: every tracepoint program is a raw one (tp_btf), attached without its ids.
  };
}

}  // namespace guardrail::probe
