#include "guardrail/loader/policy_maps.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/sized_maps.hpp"
#include "guardrail/util/cgroup2_mount.hpp"
#include "guardrail/util/phase_timer.hpp"
#include "guardrail/util/unique_fd.hpp"
#include "policy_maps.skel.h"

namespace guardrail {
namespace {

constexpr int kFileIdKernfs = 0xfe;   // FILEID_KERNFS: a cgroup2 file handle is its kernfs id
constexpr int kEnotsupp = 524;        // the kernel's ENOTSUPP (no batch ops), absent from libc
constexpr std::size_t kChunk = 8192;  // entries per batch call

// Deletes `keys` in batches; a kernel without batch deletes, or a key gone meanwhile (ENOENT
// stops a batch), gets the rest one by one.
template <typename K>
Result<void> delete_in_batches(int fd, std::string_view name, const std::vector<K>& keys) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (std::size_t at = 0; at < keys.size(); at += kChunk) {
    const std::size_t end = std::min(keys.size(), at + kChunk);
    __u32 count = static_cast<__u32>(end - at);
    if (bpf_map_delete_batch(fd, keys.data() + at, &count, &opts) == 0) continue;
    for (std::size_t i = at + std::min<std::size_t>(count, end - at); i < keys.size(); ++i)
      if (bpf_map_delete_elem(fd, &keys[i]) && errno != ENOENT)
        return fail_errno("clear BPF map " + std::string(name), errno);
    return {};
  }
  return {};
}

// Writes `entries` (BPF_ANY) in batches: one syscall per 8192 entries instead of one per entry
// (HASH and LPM_TRIE take batch updates on 6.18; 100 K LPM entries fill in 110 ms instead of
// 200 ms there, more with the bpf() guard tracing every call). Chunks keep the key and value
// copies the call needs small: a million egress entries are 160 MB. A kernel without batch
// updates for the type gets one update each.
template <typename K, typename V>
Result<void> update_in_batches(int fd, std::string_view name,
                               const std::vector<std::pair<K, V>>& entries) {
  std::vector<K> keys;
  std::vector<V> values;
  keys.reserve(std::min(kChunk, entries.size()));
  values.reserve(keys.capacity());
  // BPF_ANY: the kernel's generic batch update refuses any other element flag (EINVAL); the
  // callers write maps emptied first, and the compiled entries have distinct keys.
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  for (std::size_t at = 0; at < entries.size(); at += kChunk) {
    const std::size_t end = std::min(entries.size(), at + kChunk);
    keys.clear();
    values.clear();
    for (std::size_t i = at; i < end; ++i) {
      keys.push_back(entries[i].first);
      values.push_back(entries[i].second);
    }
    __u32 count = static_cast<__u32>(keys.size());
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) == 0) continue;
    if (at > 0 || (errno != EINVAL && errno != kEnotsupp && errno != EOPNOTSUPP))
      return fail_errno("fill BPF map " + std::string(name) + " (" +
                            std::to_string(entries.size()) + " entries, " +
                            std::to_string(at + count) + " written; is the map too small?)",
                        errno);
    // No batch updates for this map type: one by one (BPF_ANY over any already written).
    for (const auto& [key, value] : entries)
      if (bpf_map_update_elem(fd, &key, &value, BPF_ANY))
        return fail_errno("fill BPF map " + std::string(name) + " (" +
                              std::to_string(entries.size()) + " entries; is the map too small?)",
                          errno);
    return {};
  }
  return {};
}

// Makes an inactive policy map hold exactly `entries`: every stale key goes, then every entry is
// written. The programs do not read this map until the set is flipped, so order does not matter.
template <typename K, typename V>
Result<void> fill_map_fd(int fd, std::string_view name,
                         const std::vector<std::pair<K, V>>& entries) {
  std::vector<K> stale;
  K key{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    stale.push_back(next);
    key = next;
  }
  GR_TRY(delete_in_batches(fd, name, stale));
  return update_in_batches(fd, name, entries);
}

template <typename K, typename V>
Result<void> fill_map(bpf_map* map, const std::vector<std::pair<K, V>>& entries) {
  return fill_map_fd(bpf_map__fd(map), bpf_map__name(map), entries);
}

// An ARRAY map has every index: zero them all, then write the entries.
template <typename V>
Result<void> fill_array(bpf_map* map, const std::vector<std::pair<std::uint32_t, V>>& entries) {
  const int fd = bpf_map__fd(map);
  const V empty{};
  for (std::uint32_t i = 0; i < bpf_map__max_entries(map); ++i)
    if (bpf_map_update_elem(fd, &i, &empty, BPF_ANY))
      return fail_errno(std::string("clear BPF map ") + bpf_map__name(map), errno);
  for (const auto& [index, value] : entries)
    if (bpf_map_update_elem(fd, &index, &value, BPF_ANY))
      return fail_errno(std::string("update BPF map ") + bpf_map__name(map) + " at index " +
                            std::to_string(index),
                        errno);
  return {};
}

// This process as map agent_state holds it: tgid and start time in clock ticks (proc(5)
// /proc/self/stat field 22, after the command name, which may hold spaces and parentheses).
Result<gr_agent_state> own_agent_state() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  const long tick = ::sysconf(_SC_CLK_TCK);
  if (close == std::string::npos || tick <= 0)
    return fail("read this process's start time from /proc/self/stat");
  std::istringstream fields(stat.substr(close + 2));  // field 3 (state) onwards
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  gr_agent_state state{};
  if (!(fields >> state.start_ticks))
    return fail("read this process's start time from /proc/self/stat (field 22)");
  state.tgid = static_cast<std::uint32_t>(::getpid());
  state.ns_per_tick = 1'000'000'000ull / static_cast<std::uint64_t>(tick);
  return state;
}

}  // namespace

// A sized map's outer map and the inner maps it holds now, by slot: the skeleton's own sets
// until the first swap replaces them, or a previous agent's, read from the outer map at adoption.
struct SizedSet {
  const SizedMap* spec = nullptr;
  bpf_map* outer = nullptr;
  bpf_map* like = nullptr;  // the skeleton's set 0: type, key, value, flags and BTF of every set
  std::array<UniqueFd, 2> inner;
};

struct PolicyMaps::Impl {
  BpfSkeleton<policy_maps> skel;
  const PinDir* pins = nullptr;
  Adoption adoption;
  std::array<SizedSet, std::size(kSizedMaps)> sized;
};

namespace {

// The inner map an outer ARRAY_OF_MAPS holds at `slot`: from user space a lookup there yields the
// inner map's id.
Result<UniqueFd> inner_map(int outer_fd, std::uint32_t slot, std::string_view name) {
  std::uint32_t id = 0;
  if (bpf_map_lookup_elem(outer_fd, &slot, &id))
    return fail_errno("read set " + std::to_string(slot) + " of map " + std::string(name), errno);
  UniqueFd fd(bpf_map_get_fd_by_id(id));
  if (!fd)
    return fail_errno("open set " + std::to_string(slot) + " of map " + std::string(name) +
                          " (map id " + std::to_string(id) + ")",
                      errno);
  return fd;
}

Result<void> find_sized_sets(PolicyMaps::Impl& impl) {
  for (std::size_t i = 0; i < std::size(kSizedMaps); ++i) {
    SizedSet& s = impl.sized[i];
    s.spec = &kSizedMaps[i];
    const std::string name(s.spec->name);
    s.outer = bpf_object__find_map_by_name(impl.skel->obj, name.c_str());
    s.like = bpf_object__find_map_by_name(impl.skel->obj, (name + "_0").c_str());
    if (!s.outer || !s.like) return fail("the maps object has no map " + name + " or its sets");
    for (std::uint32_t slot = 0; slot < 2; ++slot) {
      auto fd = inner_map(bpf_map__fd(s.outer), slot, name);
      if (!fd) return propagate(fd);
      s.inner[slot] = std::move(*fd);
    }
  }
  return {};
}

// A new, empty set of a sized map with room for `max_entries`, like the compiled-in ones (same
// name, type, key, value, flags and BTF types).
Result<UniqueFd> fresh_set(const SizedSet& s, const bpf_object* obj, std::uint32_t slot,
                           std::uint32_t max_entries) {
  bpf_map* like = s.like;
  const int btf = bpf_object__btf_fd(obj);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(like));
  if (btf >= 0) {
    opts.btf_fd = static_cast<__u32>(btf);
    opts.btf_key_type_id = bpf_map__btf_key_type_id(like);
    opts.btf_value_type_id = bpf_map__btf_value_type_id(like);
  }
  const std::string name = std::string(s.spec->name) + "_" + std::to_string(slot);
  UniqueFd fd(bpf_map_create(bpf_map__type(like), name.c_str(), bpf_map__key_size(like),
                             bpf_map__value_size(like), max_entries, &opts));
  if (!fd)
    return fail_errno("create map " + name + " for " + std::to_string(max_entries) + " entries",
                      errno);
  return fd;
}

// Puts `fd` into the outer map at `slot` and pins it at the set's pin path (renamed over the old
// pin), so a restarted agent adopts what the programs read.
Result<void> install_set(PolicyMaps::Impl& impl, SizedSet& s, std::uint32_t slot, UniqueFd fd) {
  const int value = fd.get();
  if (bpf_map_update_elem(bpf_map__fd(s.outer), &slot, &value, BPF_ANY))
    return fail_errno(
        "put the new set " + std::to_string(slot) + " into map " + std::string(s.spec->name),
        errno);
  if (impl.pins)
    GR_TRY(
        impl.pins->pin(fd.get(), map_pin(bpf_object__name(impl.skel->obj),
                                         std::string(s.spec->name) + "_" + std::to_string(slot))));
  s.inner[slot] = std::move(fd);
  return {};
}

std::uint32_t max_entries_of(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof info;
  return bpf_map_get_info_by_fd(fd, &info, &len) == 0 ? info.max_entries : 0;
}

// Makes the inactive set of a sized map hold `entries`. A policy that fits the compiled-in size,
// where the inactive set has that size, is written in place as before (stale keys deleted): no
// new map, so no outer-map update, which costs an RCU grace period each (the kernel waits for
// running programs after every map-in-map update from user space). Any other size gets a fresh
// map, filled while empty, then put into the outer map.
template <typename K, typename V>
Result<void> replace_set(PolicyMaps::Impl& impl, SizedSet& s, std::uint32_t slot,
                         const std::vector<std::pair<K, V>>& entries) {
  const std::uint32_t size = sized_entries(*s.spec, entries.size());
  if (size == s.spec->compiled && max_entries_of(s.inner[slot].get()) == size)
    return fill_map_fd(s.inner[slot].get(), s.spec->name, entries);
  auto fd = fresh_set(s, impl.skel->obj, slot, size);
  if (!fd) return propagate(fd);
  GR_TRY(update_in_batches(fd->get(), s.spec->name, entries));
  return install_set(impl, s, slot, std::move(*fd));
}

// Waits until every program that may have read the old policy state has returned: the network
// programs run under rcu_read_lock, and MEMBARRIER_CMD_GLOBAL waits for an RCU grace period
// (synchronize_rcu). False when the kernel cannot (nohz_full CPUs).
bool wait_for_readers() { return ::syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0; }

}  // namespace

PolicyMaps::PolicyMaps(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PolicyMaps::~PolicyMaps() = default;

Result<std::unique_ptr<PolicyMaps>> PolicyMaps::create(const PolicyMapsOptions& options) {
  if (options.ringbuf_bytes < 4096 || (options.ringbuf_bytes & (options.ringbuf_bytes - 1)))
    return fail("ring buffer size " + std::to_string(options.ringbuf_bytes) +
                " is not a power of two of at least 4096 bytes");
  auto skel = BpfSkeleton<policy_maps>::open("policy_maps");
  if (!skel) return propagate(skel);
  if (int err = bpf_map__set_max_entries((*skel)->maps.events, options.ringbuf_bytes))
    return fail_errno("size the events ring buffer", err);
  Adoption adoption;
  std::vector<std::string> to_pin;
  if (options.pins) {
    auto reused = reuse_pinned_maps((*skel)->obj, *options.pins, adoption);
    if (!reused) return propagate(reused);
    to_pin = std::move(*reused);
  }
  GR_TRY(skel->load());
  if (options.pins) GR_TRY(pin_maps((*skel)->obj, to_pin, *options.pins));
  auto impl = std::make_unique<Impl>(std::move(*skel));
  impl->pins = options.pins;
  impl->adoption = std::move(adoption);
  GR_TRY(find_sized_sets(*impl));
  return std::make_unique<PolicyMaps>(std::move(impl));
}

const PinDir* PolicyMaps::pins() const { return impl_->pins; }
const Adoption& PolicyMaps::adoption() const { return impl_->adoption; }

std::uint64_t PolicyMaps::lost_since_last_seen() const {
  const std::uint64_t lost = stat(GR_STAT_EVENTS_LOST), seen = stat(GR_STAT_LOST_SEEN);
  return lost > seen ? lost - seen : 0;
}

void PolicyMaps::mark_lost_seen() const {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return;
  std::vector<std::uint64_t> values(ncpus, 0);
  values[0] = stat(GR_STAT_EVENTS_LOST);
  std::uint32_t key = GR_STAT_LOST_SEEN;
  bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.stats), &key, values.data(), BPF_ANY);
}

Result<void> PolicyMaps::share_with(bpf_object* obj) const {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata, .bss: each object's own
    bpf_map* ours = bpf_object__find_map_by_name(impl_->skel->obj, bpf_map__name(map));
    if (!ours) continue;  // a map of that object alone (e.g. the audited sockets)
    int fd = bpf_map__fd(ours);
    const std::string_view name = bpf_map__name(map);
    for (const SizedSet& s : impl_->sized)  // a sized set: the one the outer map holds now
      if (name.size() == s.spec->name.size() + 2 && name.starts_with(s.spec->name) &&
          sized_from_policy(name))
        fd = s.inner[name.back() - '0'].get();
    if (int err = bpf_map__reuse_fd(map, fd))
      return fail_errno(
          std::string("share map ") + bpf_map__name(map) + " with " + bpf_object__name(obj), err);
  }
  return {};
}

namespace {

// The runtime sockets as map entries: by path (cgroup/connect_unix compares the path a client
// passes) and by inode (the LSM backend compares the socket a client reaches, however named).
struct RuntimeSocketEntries {
  std::vector<std::pair<gr_unix_path_key, std::uint32_t>> paths;
  std::vector<std::pair<gr_inode_key, std::uint32_t>> inodes;
};

RuntimeSocketEntries runtime_socket_entries(const std::vector<std::string>& paths) {
  RuntimeSocketEntries out;
  std::set<std::pair<std::uint64_t, std::uint32_t>> seen;
  for (std::uint32_t i = 0; i < paths.size(); ++i) {
    gr_unix_path_key key{};
    std::strncpy(key.path, paths[i].c_str(), sizeof key.path - 1);
    out.paths.emplace_back(key, i);
    struct stat st {};
    if (::stat(paths[i].c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;  // not here
    // The kernel's dev_t encoding (MKDEV): major << 20 | minor.
    const std::uint32_t dev = (major(st.st_dev) << 20) | minor(st.st_dev);
    if (!seen.emplace(st.st_ino, dev).second) continue;  // /var/run alias of a /run path
    out.inodes.emplace_back(gr_inode_key{st.st_ino, dev, 0}, i);
  }
  return out;
}

// The allowlist zones' unix addresses: by address as allowed (cgroup/connect_unix compares the
// address the client passes; '@name' for abstract sockets) and, for path sockets that exist
// now, by inode (the LSM backend). A socket made at an allowed path after this has no inode
// entry until follow_sockets() resolves it (the agent's socket watch, within milliseconds):
// until then the LSM backend refuses it.
struct UnixAllowEntries {
  std::vector<std::pair<gr_zone_unix_path_key, std::uint32_t>> paths;
  std::vector<std::pair<gr_zone_inode_key, std::uint32_t>> inodes;
};

UnixAllowEntries unix_allow_entries(
    const std::vector<std::pair<std::uint32_t, std::string>>& allow) {
  UnixAllowEntries out;
  for (std::uint32_t i = 0; i < allow.size(); ++i) {
    const auto& [zone_id, address] = allow[i];
    gr_zone_unix_path_key key{};
    key.zone_id = zone_id;
    // '@name' is kept as written: the programs spell an abstract name the same way.
    std::memcpy(key.path, address.data(), std::min(address.size(), sizeof key.path));
    out.paths.emplace_back(key, i);
    if (address.starts_with('@')) continue;
    struct stat st {};
    if (::stat(address.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    const std::uint32_t dev = (major(st.st_dev) << 20) | minor(st.st_dev);
    out.inodes.emplace_back(gr_zone_inode_key{st.st_ino, dev, zone_id}, i);
  }
  return out;
}

// The host-write zones' listed paths by inode, for those that exist now (a symlink counts as
// what it names). A path made after this has no entry until the next apply (policy load or
// re-scan).
std::vector<std::pair<gr_zone_inode_key, std::uint32_t>> host_write_entries(
    const std::vector<std::pair<std::uint32_t, std::string>>& paths) {
  std::vector<std::pair<gr_zone_inode_key, std::uint32_t>> out;
  for (std::uint32_t i = 0; i < paths.size(); ++i) {
    struct stat st {};
    if (::stat(paths[i].second.c_str(), &st) != 0) continue;
    const std::uint32_t dev = (major(st.st_dev) << 20) | minor(st.st_dev);
    out.emplace_back(gr_zone_inode_key{st.st_ino, dev, paths[i].first}, i);
  }
  return out;
}

// Where the children born under the birth parents will sit (bit n: level n): the level each
// BIRTH_PARENT entry announces (GR_BIRTH_LEVEL), so that the programs look there.
std::uint32_t born_levels(const policy::CompiledPolicy& compiled) {
  std::uint32_t levels = 0;
  for (const auto& [id, w] : compiled.cgroups)
    if ((w.flags & GR_WL_BIRTH_PARENT) && GR_BIRTH_LEVEL(w.reserved) <= GR_MAX_CGROUP_DEPTH)
      levels |= 1u << GR_BIRTH_LEVEL(w.reserved);
  return levels;
}

// Whether the cgroup with this id still exists (cgroup2 file handles carry the kernfs id). True
// when it cannot be told (no cgroup2 mount, no CAP_DAC_READ_SEARCH): an entry is kept, never
// dropped, on doubt.
bool cgroup_exists(std::uint64_t id) {
  static const std::string mount = find_cgroup2_mount();
  if (mount.empty()) return true;
  UniqueFd dir(::open(mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return true;
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof id]{};
  auto* handle = reinterpret_cast<file_handle*>(buf);
  handle->handle_bytes = sizeof id;
  handle->handle_type = kFileIdKernfs;
  std::memcpy(handle->f_handle, &id, sizeof id);
  UniqueFd fd(::open_by_handle_at(dir.get(), handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return fd || (errno != ESTALE && errno != ENOENT);
}

// After the inactive workloads map was filled: the cgroups the kernel bound at their mkdir
// (GR_WL_BORN, in the active set) that the compiled policy does not name yet go into it too,
// from their parent's new entry, while they exist; else a container made between the scan and
// the swap would be its parent's (the host's) until the next scan. One the policy names is
// replaced by that binding; one whose cgroup is gone, or whose parent is no birth parent any
// more, is dropped. The inactive set's parent entries are written before this reads the active
// set, so a mkdir racing with it is bound in one of the two ways (bpf/birth_guard.bpf.c writes
// the active set first). Returns how many were carried.
Result<std::size_t> carry_born(int active_fd, int inactive_fd,
                               const std::vector<std::pair<std::uint64_t, gr_workload>>& compiled) {
  std::map<std::uint32_t, std::uint64_t> old_parent;  // the active parents' workload id -> cgroup
  std::vector<std::pair<std::uint64_t, gr_workload>> born;
  std::uint64_t key = 0, next = 0;
  for (const void* prev = nullptr; bpf_map_get_next_key(active_fd, prev, &next) == 0; prev = &key) {
    key = next;
    gr_workload w{};
    if (bpf_map_lookup_elem(active_fd, &key, &w) != 0) continue;
    if (w.flags & GR_WL_BIRTH_PARENT) old_parent[w.workload_id] = key;
    if (w.flags & GR_WL_BORN) born.emplace_back(key, w);
  }
  std::map<std::uint64_t, gr_workload> new_parent;
  std::set<std::uint64_t> named;
  for (const auto& [id, w] : compiled) {
    named.insert(id);
    if (w.flags & GR_WL_BIRTH_PARENT) new_parent[id] = w;
  }
  std::size_t carried = 0;
  for (const auto& [id, w] : born) {
    if (named.contains(id)) continue;  // identified: its own binding
    const auto was = old_parent.find(w.workload_id);
    const auto parent = was == old_parent.end() ? new_parent.end() : new_parent.find(was->second);
    if (parent == new_parent.end() || !cgroup_exists(id)) continue;
    const gr_workload& p = parent->second;
    const gr_workload entry{p.workload_id, p.zone_id, GR_BIRTH_FLAGS(p.reserved) | GR_WL_BORN, 0};
    if (bpf_map_update_elem(inactive_fd, &id, &entry, BPF_NOEXIST) == 0) {
      ++carried;
    } else if (errno != EEXIST) {  // EEXIST: the kernel bound it there itself
      return fail_errno("carry the cgroup " + std::to_string(id) +
                            " bound at its mkdir into the new policy's workloads map (is the map "
                            "too small?)",
                        errno);
    }
  }
  return carried;
}

}  // namespace

Result<void> PolicyMaps::apply(const policy::CompiledPolicy& policy, std::uint32_t cgroup_levels,
                               std::uint32_t next_workload_id) {
  PhaseTimer phases;
  auto& maps = impl_->skel->maps;
  const int state_fd = bpf_map__fd(maps.policy_state);
  const std::uint32_t zero = 0;
  gr_policy_state state{};
  if (bpf_map_lookup_elem(state_fd, &zero, &state))
    return fail_errno("read the policy state map", errno);

  // Fill the set the programs are not reading, then flip: the new policy applies whole.
  const bool one = (state.active_set ^ 1) == 1;
  const auto sockets = runtime_socket_entries(policy.runtime_socket_paths);
  GR_TRY(fill_map(one ? maps.workloads_1 : maps.workloads_0, policy.cgroups));
  auto carried = carry_born(bpf_map__fd(one ? maps.workloads_0 : maps.workloads_1),
                            bpf_map__fd(one ? maps.workloads_1 : maps.workloads_0), policy.cgroups);
  if (!carried) return propagate(carried);
  if (*carried)
    spdlog::debug("{} container cgroups bound at their mkdir, not identified yet, carried over",
                  *carried);
  // The sized maps: a fresh set each, as large as this policy needs (sized_maps.hpp), filled
  // while empty (no stale keys to delete) and put into the outer map's inactive slot.
  const std::uint32_t slot = one ? 1 : 0;
  auto& sized = impl_->sized;
  phases.mark("workloads");
  GR_TRY(replace_set(*impl_, sized[0], slot, policy.identities));
  phases.mark("identities");
  GR_TRY(replace_set(*impl_, sized[1], slot, policy.flows));
  phases.mark("flows");
  GR_TRY(replace_set(*impl_, sized[2], slot, policy.egress));
  phases.mark("egress_allow");
  GR_TRY(replace_set(*impl_, sized[3], slot, policy.services));
  phases.mark("services");
  GR_TRY(fill_array(one ? maps.host_policy_1 : maps.host_policy_0, policy.host_policies));
  GR_TRY(fill_map(one ? maps.runtime_socket_paths_1 : maps.runtime_socket_paths_0, sockets.paths));
  GR_TRY(
      fill_map(one ? maps.runtime_socket_inodes_1 : maps.runtime_socket_inodes_0, sockets.inodes));
  const auto allow = unix_allow_entries(policy.unix_allow);
  GR_TRY(fill_map(one ? maps.unix_allow_paths_1 : maps.unix_allow_paths_0, allow.paths));
  GR_TRY(fill_map(one ? maps.unix_allow_inodes_1 : maps.unix_allow_inodes_0, allow.inodes));
  auto host_writes = host_write_entries(policy.host_write_paths);
  GR_TRY(fill_map(one ? maps.host_write_inodes_1 : maps.host_write_inodes_0, host_writes));

  state.active_set ^= 1;
  state.cgroup_levels = cgroup_levels | born_levels(policy);  // where born children will sit
  state.next_workload_id = next_workload_id;
  state.generation += 1;
  state.features = policy.services.empty() ? 0 : GR_POLICY_HAS_SERVICES;
  if (bpf_map_update_elem(state_fd, &zero, &state, BPF_ANY))
    return fail_errno("switch to the new policy (policy state map)", errno);
  phases.mark("host maps and flip");

  // The old sets are read by nobody once the programs that read the old state have returned:
  // each one larger than the compiled-in size is replaced by an empty one of that size, so a
  // policy of a million entries is held once, not twice (the next swap fills or replaces that
  // set anyway). Without that wait, a program between its state read and its outer-map lookup
  // would find the empty set, so on doubt they stay.
  GR_TRY(release_old_sets(slot ^ 1));
  phases.mark("release the old sets");
  spdlog::debug("policy maps applied: {}", phases.summary());
  return {};
}

Result<void> PolicyMaps::release_old_sets(std::uint32_t old_slot) {
  std::vector<SizedSet*> large;
  for (SizedSet& s : impl_->sized)
    if (max_entries_of(s.inner[old_slot].get()) > s.spec->compiled) large.push_back(&s);
  if (large.empty()) return {};
  if (!wait_for_readers()) {
    spdlog::debug(
        "cannot wait for an RCU grace period (membarrier); the old policy's sets stay "
        "until the next swap");
    return {};
  }
  for (SizedSet* s : large) {
    auto empty = fresh_set(*s, impl_->skel->obj, old_slot, s->spec->compiled);
    if (!empty) return propagate(empty);
    GR_TRY(install_set(*impl_, *s, old_slot, std::move(*empty)));
  }
  return {};
}

PolicyMaps::WorkloadIds PolicyMaps::workload_ids() const {
  auto& maps = impl_->skel->maps;
  WorkloadIds out;
  const std::uint32_t zero = 0;
  gr_policy_state state{};
  if (bpf_map_lookup_elem(bpf_map__fd(maps.policy_state), &zero, &state)) return out;
  out.next = state.next_workload_id;
  const int fd = bpf_map__fd(state.active_set ? maps.workloads_1 : maps.workloads_0);
  std::uint64_t key = 0, next = 0;
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    gr_workload w{};
    // A cgroup bound at its mkdir holds its birth parent's id, which is no id of its own.
    if (bpf_map_lookup_elem(fd, &key, &w) == 0 && !(w.flags & GR_WL_BORN))
      out.by_cgroup.emplace_back(key, w.workload_id);
  }
  return out;
}

namespace {

// Makes a map the programs read now hold exactly `entries` without a moment where one of them is
// missing: every entry is written first (BPF_ANY), then the keys not among them go. Returns what
// the map held before (key -> value).
template <typename K>
Result<std::vector<std::pair<K, std::uint32_t>>> sync_in_place(
    bpf_map* map, const std::vector<std::pair<K, std::uint32_t>>& entries) {
  const int fd = bpf_map__fd(map);
  std::vector<std::pair<K, std::uint32_t>> before;
  K key{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    std::uint32_t value = 0;
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) before.emplace_back(key, value);
  }
  const auto same_key = [](const K& a, const K& b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  for (const auto& [k, v] : entries) {
    const auto old =
        std::ranges::find_if(before, [&](const auto& e) { return same_key(e.first, k); });
    if (old != before.end() && old->second == v) continue;
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
      return fail_errno(std::string("update BPF map ") + bpf_map__name(map) +
                            " with a re-resolved socket inode (is the map too small?)",
                        errno);
  }
  for (const auto& [k, v] : before)
    if (std::ranges::none_of(entries, [&](const auto& e) { return same_key(e.first, k); }) &&
        bpf_map_delete_elem(fd, &k) && errno != ENOENT)
      return fail_errno(
          std::string("remove a stale socket inode from BPF map ") + bpf_map__name(map), errno);
  return before;
}

// The inode each index (a path of the policy) had before and has now: one change per index whose
// inode differs.
template <typename K>
void collect_changes(const std::vector<std::pair<K, std::uint32_t>>& before,
                     const std::vector<std::pair<K, std::uint32_t>>& now, std::size_t count,
                     const auto& describe, std::vector<PolicyMaps::SocketChange>& out) {
  const auto ino_at = [](const auto& entries, std::uint32_t index) -> std::uint64_t {
    for (const auto& [k, v] : entries)
      if (v == index) return k.ino;
    return 0;
  };
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t old_ino = ino_at(before, i), new_ino = ino_at(now, i);
    if (old_ino == new_ino) continue;
    PolicyMaps::SocketChange c = describe(i);
    c.old_ino = old_ino;
    c.new_ino = new_ino;
    out.push_back(std::move(c));
  }
}

}  // namespace

Result<std::vector<PolicyMaps::SocketChange>> PolicyMaps::follow_sockets(
    const policy::CompiledPolicy& policy) {
  auto& maps = impl_->skel->maps;
  const std::uint32_t zero = 0;
  gr_policy_state state{};
  if (bpf_map_lookup_elem(bpf_map__fd(maps.policy_state), &zero, &state))
    return fail_errno("read the policy state map", errno);
  const bool one = state.active_set == 1;
  std::vector<SocketChange> changes;

  const auto sockets = runtime_socket_entries(policy.runtime_socket_paths);
  auto before = sync_in_place(one ? maps.runtime_socket_inodes_1 : maps.runtime_socket_inodes_0,
                              sockets.inodes);
  if (!before) return propagate(before);
  collect_changes(
      *before, sockets.inodes, policy.runtime_socket_paths.size(),
      [&](std::uint32_t i) { return SocketChange{.path = policy.runtime_socket_paths[i]}; },
      changes);

  const auto allow = unix_allow_entries(policy.unix_allow);
  auto allowed_before =
      sync_in_place(one ? maps.unix_allow_inodes_1 : maps.unix_allow_inodes_0, allow.inodes);
  if (!allowed_before) return propagate(allowed_before);
  collect_changes(
      *allowed_before, allow.inodes, policy.unix_allow.size(),
      [&](std::uint32_t i) {
        return SocketChange{.allowed = true,
                            .zone_id = policy.unix_allow[i].first,
                            .path = policy.unix_allow[i].second};
      },
      changes);
  return changes;
}

Result<bool> PolicyMaps::follow_host_write_paths(const policy::CompiledPolicy& policy) {
  auto& maps = impl_->skel->maps;
  const std::uint32_t zero = 0;
  gr_policy_state state{};
  if (bpf_map_lookup_elem(bpf_map__fd(maps.policy_state), &zero, &state))
    return fail_errno("read the policy state map", errno);
  const auto now = host_write_entries(policy.host_write_paths);
  auto before = sync_in_place(
      state.active_set == 1 ? maps.host_write_inodes_1 : maps.host_write_inodes_0, now);
  if (!before) return propagate(before);
  // The map iterates in its own order: compare the entries as sets.
  using Entry = std::tuple<std::uint64_t, std::uint32_t, std::uint32_t, std::uint32_t>;
  const auto entries = [](const auto& pairs) {
    std::vector<Entry> out;
    for (const auto& [k, v] : pairs) out.emplace_back(k.ino, k.dev, k.zone_id, v);
    std::ranges::sort(out);
    return out;
  };
  return entries(*before) != entries(now);
}

Result<void> PolicyMaps::register_agent() const {
  auto state = own_agent_state();
  if (!state) return propagate(state);
  const std::uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.agent_state), &zero, &*state, BPF_ANY))
    return fail_errno("register the agent's pid with the programs (map agent_state)", errno);
  return {};
}

void PolicyMaps::clear_agent() const {
  const std::uint32_t zero = 0;
  gr_agent_state current{};
  const int fd = bpf_map__fd(impl_->skel->maps.agent_state);
  // Only our own entry: a newer agent on the same pins has overwritten it already.
  if (bpf_map_lookup_elem(fd, &zero, &current) == 0 &&
      current.tgid == static_cast<std::uint32_t>(::getpid())) {
    const gr_agent_state none{};
    bpf_map_update_elem(fd, &zero, &none, BPF_ANY);
  }
}

std::uint32_t PolicyMaps::agent_tgid() const {
  const std::uint32_t zero = 0;
  gr_agent_state current{};
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.agent_state), &zero, &current)) return 0;
  return current.tgid;
}

int PolicyMaps::events_fd() const { return bpf_map__fd(impl_->skel->maps.events); }

std::uint32_t PolicyMaps::ringbuf_bytes() const {
  return bpf_map__max_entries(impl_->skel->maps.events);
}

std::uint64_t PolicyMaps::stat(gr_stat which) const {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return 0;
  std::vector<std::uint64_t> values(ncpus);
  std::uint32_t key = which;
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.stats), &key, values.data())) return 0;
  std::uint64_t sum = 0;
  for (auto v : values) sum += v;
  return sum;
}

}  // namespace guardrail
