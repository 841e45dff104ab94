#include "guardrail/pipeline/process_info.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace guardrail::pipeline {
namespace {

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

}  // namespace

pid_t parse_ppid(const std::string& stat) {
  // "PID (COMM) STATE PPID ...": COMM may contain ") ", so parse after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  pid_t ppid = 0;
  rest >> state >> ppid;
  return rest ? ppid : 0;
}

ProcessInfo ProcessInfoCache::read(pid_t pid) const {
  const std::string dir = proc_root_ + "/" + std::to_string(pid);
  ProcessInfo info;
  info.exe = read_link(dir + "/exe");
  std::ifstream stat_file(dir + "/stat");
  std::string stat;
  std::getline(stat_file, stat);
  info.ppid = parse_ppid(stat);
  if (info.ppid > 0)
    info.parent_exe = read_link(proc_root_ + "/" + std::to_string(info.ppid) + "/exe");
  return info;
}

ProcessInfo ProcessInfoCache::lookup(pid_t pid, std::uint64_t now_ns) {
  if (pid <= 0) return {};
  if (auto it = entries_.find(pid); it != entries_.end() && now_ns - it->second.read_ns < ttl_ns_)
    return it->second.info;
  if (entries_.size() >= capacity_) entries_.clear();
  ProcessInfo info = read(pid);
  entries_[pid] = Entry{info, now_ns};
  return info;
}

}  // namespace guardrail::pipeline
