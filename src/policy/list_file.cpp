// List files of prefixes (guardrail/policy/list_file.hpp).
#include "guardrail/policy/list_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

namespace guardrail::policy {
namespace {

constexpr std::size_t kMaxErrorsPerFile = 20;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The whole file, or an error; stops reading once past the limit (a huge file is refused, not
// read whole).
bool read_bounded(const std::string& path, std::string& text, std::vector<Diagnostic>& errors) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    errors.push_back({Position{path, 0, 0}, std::string("cannot read: ") + std::strerror(errno)});
    return false;
  }
  std::error_code ec;
  if (const auto size = std::filesystem::file_size(path, ec); !ec && size <= kMaxListFileBytes)
    text.reserve(size);
  char buf[1 << 16];
  std::size_t n;
  while (text.size() <= kMaxListFileBytes && (n = std::fread(buf, 1, sizeof buf, file)) > 0)
    text.append(buf, n);
  const int err = std::ferror(file) ? (errno ? errno : EIO) : 0;
  std::fclose(file);
  if (err) {
    errors.push_back({Position{path, 0, 0}, std::string("cannot read: ") + std::strerror(err)});
    return false;
  }
  if (text.size() > kMaxListFileBytes) {
    errors.push_back({Position{path, 0, 0},
                      "more than " + std::to_string(kMaxListFileBytes) +
                          " bytes; split the list into several files (each rule takes one)"});
    return false;
  }
  return true;
}

}  // namespace

std::string list_file_path(const std::string& policy_file, const std::string& name) {
  const std::filesystem::path p(name);
  if (p.is_absolute()) return name;
  return (std::filesystem::path(policy_file).parent_path() / p).string();
}

bool read_cidr_list(const std::string& path, std::string_view what, std::vector<Cidr>& out,
                    std::vector<Diagnostic>& errors) {
  std::string text;
  if (!read_bounded(path, text, errors)) return false;
  std::size_t bad = 0, line_no = 0;
  std::string entry;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line(text.data() + at, end - at);
    at = end + 1;
    if (++line_no > kMaxListFileLines) {
      errors.push_back({Position{path, static_cast<int>(line_no), 0},
                        "more than " + std::to_string(kMaxListFileLines) +
                            " lines; split the list into several files (each rule takes one)"});
      return false;
    }
    if (const auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    line = trimmed(line);
    if (line.empty()) continue;
    entry.assign(line);
    auto cidr = parse_cidr(entry);
    if (cidr) {
      out.push_back(std::move(*cidr));
      continue;
    }
    if (++bad <= kMaxErrorsPerFile) {
      errors.push_back({Position{path, static_cast<int>(line_no), 0},
                        "invalid " + std::string(what) + ": " + cidr.error().message});
    }
  }
  if (bad > kMaxErrorsPerFile)
    errors.push_back({Position{path, 0, 0},
                      std::to_string(bad - kMaxErrorsPerFile) + " more invalid lines not shown"});
  return bad == 0;
}

std::vector<std::string> list_files(const Policy& policy) {
  std::vector<std::string> out;
  const auto add = [&](const std::string& path) {
    if (!path.empty() && std::ranges::find(out, path) == out.end()) out.push_back(path);
  };
  for (const Zone& z : policy.zones)
    for (const EgressRule& r : z.egress) add(r.cidr_file);
  for (const Workload& w : policy.workloads) add(w.address_file);
  return out;
}

}  // namespace guardrail::policy
