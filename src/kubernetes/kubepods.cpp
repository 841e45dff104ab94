// Reading a cgroup path as the kubelet lays out pods (see kubepods.hpp): the kubepods root
// (cgroupfs `kubepods`, systemd `kubepods.slice` or `<root>-kubepods.slice` below `<root>.slice`
// as kind's `cgroupRoot: /kubelet` makes it), the QoS level, the pod and the container.
#include "guardrail/kubernetes/kubepods.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace guardrail::kubernetes {
namespace {

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (!part.empty()) out.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) (out += '/') += parts[i];
  return out;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Container ids of containerd, CRI-O and Docker: 64 lowercase hex digits.
bool is_container_id(std::string_view s) {
  return s.size() == 64 && std::ranges::all_of(s, is_hex);
}

// "pod<uid>" with `separator` where the API server has '-' (systemd escapes it as '_', its
// hierarchy separator). UIDs are UUIDs, or a static pod's 32-digit config hash.
std::optional<std::string> pod_uid(std::string_view name, char separator) {
  if (!name.starts_with("pod") || name.size() == 3) return std::nullopt;
  std::string uid(name.substr(3));
  for (char& c : uid) {
    if (c == separator)
      c = '-';
    else if (!is_hex(c))
      return std::nullopt;
  }
  return uid;
}

// `name` without `prefix` and `suffix`, when it has both.
std::optional<std::string_view> between(std::string_view name, std::string_view prefix,
                                        std::string_view suffix) {
  if (name.size() < prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix))
    return std::nullopt;
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

struct Container {
  std::string runtime;
  std::string id;  // empty for CRI-O's conmon
};

// A container's cgroup below its pod: the runtime's prefix and the id, then `suffix` (".scope"
// with the systemd driver, nothing with cgroupfs, where containerd and Docker use the bare id).
std::optional<Container> container_of(std::string_view name, CgroupDriver driver) {
  const std::string_view suffix = driver == CgroupDriver::Systemd ? ".scope" : "";
  // CRI-O's conmon (the container's monitor) sits beside the container: the pod's, no container.
  if (auto id = between(name, "crio-conmon-", suffix); id && is_container_id(*id))
    return Container{"cri-o", ""};
  static constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
      {"cri-containerd-", "containerd"}, {"crio-", "cri-o"}, {"docker-", "docker"}};
  for (const auto& [prefix, runtime] : kPrefixes) {
    if (driver == CgroupDriver::Cgroupfs && prefix != "crio-") continue;
    if (auto id = between(name, prefix, suffix); id && is_container_id(*id))
      return Container{std::string(runtime), std::string(*id)};
  }
  if (driver == CgroupDriver::Cgroupfs && is_container_id(name))
    return Container{"", std::string(name)};
  return std::nullopt;
}

// The kubepods root among `parts`: its index, driver and (systemd) the unit name its children's
// names start with ("kubepods", "kubelet-kubepods").
struct Root {
  std::size_t index = 0;
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  std::string unit;
};

std::optional<Root> find_root(const std::vector<std::string_view>& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (part == "kubepods") return Root{i, CgroupDriver::Cgroupfs, ""};
    const auto unit = between(part, "", ".slice");
    if (!unit) continue;
    if (*unit == "kubepods") return Root{i, CgroupDriver::Systemd, "kubepods"};
    // --cgroup-root=/kubelet with systemd: kubelet.slice/kubelet-kubepods.slice. The slice's
    // name repeats its parent's (systemd's hierarchy in names), else it is not the kubelet's.
    if (const auto parent = between(*unit, "", "-kubepods");
        parent && !parent->empty() && i > 0 && parts[i - 1] == std::string(*parent) + ".slice")
      return Root{i, CgroupDriver::Systemd, std::string(*unit)};
  }
  return std::nullopt;
}

}  // namespace

std::optional<KubepodsCgroup> parse_kubepods_cgroup(std::string_view path) {
  const std::vector<std::string_view> parts = components(path);
  const auto root = find_root(parts);
  if (!root) return std::nullopt;
  const bool systemd = root->driver == CgroupDriver::Systemd;
  KubepodsCgroup out;
  out.driver = root->driver;
  out.prefix = join(parts, root->index);
  out.kubepods = join(parts, root->index + 1);
  std::size_t next = root->index + 1;
  if (next == parts.size()) return out;

  // The QoS level: burstable and besteffort have one, guaranteed pods sit in kubepods itself.
  std::string unit = root->unit;  // the systemd unit name the pod slice's name starts with
  for (const std::string qos : {"burstable", "besteffort"}) {
    if (parts[next] != (systemd ? root->unit + "-" + qos + ".slice" : qos)) continue;
    out.qos = qos;
    unit = root->unit + "-" + qos;
    if (++next == parts.size()) return out;
    break;
  }

  std::optional<std::string> uid;
  if (systemd) {
    if (const auto name = between(parts[next], unit + "-", ".slice")) uid = pod_uid(*name, '_');
  } else {
    uid = pod_uid(parts[next], '-');
  }
  if (!uid) return std::nullopt;  // a stray directory, not a pod
  if (out.qos.empty()) out.qos = "guaranteed";
  out.pod_uid = std::move(*uid);
  out.pod_cgroup = join(parts, ++next);
  if (next == parts.size()) return out;

  const auto container = container_of(parts[next], root->driver);
  if (!container) return std::nullopt;
  // Anything deeper is the container's own (its cgroup namespace's sub-cgroups): still its.
  out.runtime = container->runtime;
  out.container_id = container->id;
  return out;
}

}  // namespace guardrail::kubernetes
