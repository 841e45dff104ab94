// find_cgroup2_mount(): parse /proc/self/mounts for the cgroup v2 hierarchy.
#include "guardrail/util/cgroup2_mount.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace guardrail {
namespace {

// The kernel escapes space, tab, newline and backslash in mount paths as \ooo (octal).
std::string unescape_mount_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && is_oct(s[i + 1]) && is_oct(s[i + 2]) &&
        is_oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string parse_cgroup2_mount(std::string_view mount_table) {
  std::vector<std::string> mounts;
  size_t pos = 0;
  while (pos < mount_table.size()) {
    size_t end = mount_table.find('\n', pos);
    if (end == std::string_view::npos) end = mount_table.size();
    std::istringstream line{std::string(mount_table.substr(pos, end - pos))};
    pos = end + 1;
    std::string device, mount_point, type;
    if (line >> device >> mount_point >> type && type == "cgroup2")
      mounts.push_back(unescape_mount_path(mount_point));
  }
  for (std::string_view preferred : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    for (const auto& m : mounts)
      if (m == preferred) return m;
  return mounts.empty() ? std::string{} : mounts.front();
}

std::string find_cgroup2_mount(const std::string& mounts_file) {
  std::ifstream in(mounts_file);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_cgroup2_mount(text.str());
}

}  // namespace guardrail
