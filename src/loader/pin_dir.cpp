#include "guardrail/loader/pin_dir.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

namespace guardrail {
namespace fs = std::filesystem;
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC (linux/magic.h)
constexpr const char* kBpfFsMount = "/sys/fs/bpf";

bool on_bpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

// The nearest existing ancestor of `path` (itself when it exists).
std::string existing_ancestor(fs::path path) {
  std::error_code ec;
  while (!path.empty() && !fs::exists(path, ec)) path = path.parent_path();
  return path.empty() ? "/" : path.string();
}

// systemd mounts bpffs at /sys/fs/bpf; a bare host or a container may not have it yet.
Result<void> mount_bpffs_if_missing(const std::string& path) {
  if (on_bpffs(existing_ancestor(path))) return {};
  if (!path.starts_with(std::string(kBpfFsMount) + "/"))
    return fail("pin directory " + path +
                " is not on bpffs; give --pin-dir a directory under a bpffs mount (e.g. " +
                kDefaultPinDir + ")");
  if (on_bpffs(kBpfFsMount)) return {};
  if (::mount("bpf", kBpfFsMount, "bpf", 0, "mode=0700") != 0)
    return fail_errno(std::string("mount bpffs at ") + kBpfFsMount +
                          " (mount -t bpf bpf /sys/fs/bpf, or mount the host's into the container)",
                      errno);
  return {};
}

}  // namespace

Result<PinDir> PinDir::open(const std::string& path) {
  GR_TRY(mount_bpffs_if_missing(path));
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return fail("create pin directory " + path + ": " + ec.message());
  if (!on_bpffs(path))
    return fail("pin directory " + path + " is not on bpffs; mount it: mount -t bpf bpf " +
                kBpfFsMount);
  // Pinned objects open for whoever may open the directory: only root.
  if (::chmod(path.c_str(), 0700) != 0) return fail_errno("chmod 0700 " + path, errno);
  UniqueFd lock(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!lock) return fail_errno("open pin directory " + path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return std::unexpected(
          Error{"another guardrail agent holds " + path +
                    "; stop it first (one agent per pin directory, or give --pin-dir another)",
                std::make_error_code(std::errc::operation_would_block)});
    return fail_errno("lock pin directory " + path, errno);
  }
  return PinDir(path, std::move(lock));
}

bool PinDir::holds_pins(const std::string& path) {
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec))
    if (!entry.is_directory(ec)) return true;
  return false;
}

UniqueFd PinDir::get(const std::string& rel) const {
  const std::string at = path_ + "/" + rel;
  struct stat st {};
  if (::stat(at.c_str(), &st) != 0) return {};
  return UniqueFd(bpf_obj_get(at.c_str()));
}

Result<void> PinDir::pin(int fd, const std::string& rel) const {
  const fs::path at = fs::path(path_) / rel;
  std::error_code ec;
  fs::create_directories(at.parent_path(), ec);
  if (ec) return fail("create pin directory " + at.parent_path().string() + ": " + ec.message());
  // Replacing: pinned at a temporary name, then renamed over the old pin (bpffs renames), so
  // the path never stands empty: an agent that dies between the two steps leaves the old pin or
  // the new one, never none. The caller holds both objects, so the old one lives until it lets go.
  const fs::path staged = at.string() + ".new";
  ::unlink(staged.c_str());
  if (bpf_obj_pin(fd, staged.c_str()) == 0) {
    if (::rename(staged.c_str(), at.c_str()) == 0) return {};
    ::unlink(staged.c_str());
  }
  // A file system that cannot rename pins (none known): unpin, then pin.
  if (::unlink(at.c_str()) != 0 && errno != ENOENT)
    return fail_errno("unpin " + at.string(), errno);
  if (bpf_obj_pin(fd, at.c_str()) != 0) return fail_errno("pin " + at.string(), errno);
  return {};
}

void PinDir::unpin(const std::string& rel) const { ::unlink((fs::path(path_) / rel).c_str()); }

std::vector<std::string> PinDir::list(const std::string& rel) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(path_) / rel, ec))
    names.push_back(entry.path().filename().string());
  return names;
}

Result<std::size_t> PinDir::remove_all(bool wait_detached) {
  // The programs, by id: the kernel lets go of an unpinned link asynchronously (it frees the
  // link's id before it has detached the program: 0.7 s later on 6.12 under QEMU), and the
  // caller is promised that nothing enforces any more once this returns. A program's id goes
  // only once no link runs it.
  std::vector<std::uint32_t> programs;
  std::error_code ec;
  std::size_t pins = 0;
  for (const auto& entry : fs::recursive_directory_iterator(path_, ec)) {
    if (entry.is_directory(ec)) continue;
    ++pins;
    UniqueFd fd(bpf_obj_get(entry.path().c_str()));
    if (!fd) continue;
    bpf_link_info link{};
    __u32 link_len = sizeof link;
    bpf_prog_info prog{};
    __u32 prog_len = sizeof prog;
    if (bpf_link_get_info_by_fd(fd.get(), &link, &link_len) == 0)
      programs.push_back(link.prog_id);
    else if (bpf_prog_get_info_by_fd(fd.get(), &prog, &prog_len) == 0)
      programs.push_back(prog.id);
  }
  fs::remove_all(path_, ec);
  if (ec) return fail("remove pin directory " + path_ + ": " + ec.message());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::erase_if(programs, [](std::uint32_t id) {
      UniqueFd fd(bpf_prog_get_fd_by_id(id));
      return !fd && errno == ENOENT;
    });
    if (programs.empty() || !wait_detached) return pins;
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(std::to_string(programs.size()) + " programs pinned at " + path_ +
                  " are still loaded 10 s after their pins went: another process holds them "
                  "(an agent that still runs? bpftool?)");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace guardrail
