// What the kernel applies to a container's init: /proc/PID/status, and capability masks in words.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "guardrail/policy/model.hpp"
#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The whole of `text` as a number in `base`, or nothing.
template <typename T>
bool parse_number(std::string_view text, int base, T& out) {
  if (text.empty()) return false;
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size()) return false;
  out = value;
  return true;
}

}  // namespace

ProcStatus parse_proc_status(const std::string& status_text) {
  ProcStatus status;
  bool cap_eff = false, cap_bnd = false, seccomp = false, no_new_privs = false, uid = false;
  std::istringstream lines(status_text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key = std::string_view(line).substr(0, colon);
    const std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (key == "CapEff") {
      cap_eff = parse_number(value, 16, status.cap_eff);
    } else if (key == "CapBnd") {
      cap_bnd = parse_number(value, 16, status.cap_bnd);
    } else if (key == "Seccomp") {
      seccomp = parse_number(value, 10, status.seccomp);
    } else if (key == "NoNewPrivs") {
      int flag = 0;
      no_new_privs = parse_number(value, 10, flag) && (flag == 0 || flag == 1);
      status.no_new_privs = no_new_privs && flag == 1;
    } else if (key == "Uid") {
      // Real, effective, saved set, filesystem.
      std::istringstream fields{std::string(value)};
      std::string real, effective;
      long parsed = -1;
      uid = (fields >> real >> effective) &&
            parse_number(std::string_view(effective), 10, parsed) && parsed >= 0;
      if (uid) status.uid = parsed;
    }
  }
  // A garbled field keeps its default, which must not pass for a fact.
  if (!cap_eff) status.missing.push_back("CapEff");
  if (!cap_bnd) status.missing.push_back("CapBnd");
  if (!seccomp) status.missing.push_back("Seccomp");
  if (!no_new_privs) status.missing.push_back("NoNewPrivs");
  if (!uid) status.missing.push_back("Uid");
  return status;
}

Result<ProcStatus> read_proc_status(pid_t pid, const std::string& proc_root) {
  const std::string path = fmt::format("{}/{}/status", proc_root, pid);
  if (pid <= 0) return fail(fmt::format("no init process (State.Pid {}): is it running?", pid));
  std::ifstream in(path);
  if (!in) return fail_errno(fmt::format("cannot read {}", path), errno ? errno : ENOENT);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail_errno(fmt::format("cannot read {}", path), errno ? errno : EIO);
  ProcStatus status = parse_proc_status(text.str());
  if (!status.missing.empty())
    return fail(fmt::format("{} lacks {} (kernel without them, or not a status file)", path,
                            fmt::join(status.missing, ", ")));
  return status;
}

std::string capability_names(unsigned long long mask) {
  std::string out;
  for (int bit = 0; bit < 64; ++bit) {
    if (!(mask & (1ULL << bit))) continue;
    if (!out.empty()) out += ", ";
    out += policy::capability_name(bit);  // "CAP_<n>" past the names this build knows
  }
  return out;
}

}  // namespace guardrail::posture
