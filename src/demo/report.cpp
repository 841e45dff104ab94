// `guardrail demo`'s presentation: alerts as one-liners, /metrics scraped and summed.
#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "guardrail/demo/demo.hpp"
#include "guardrail/util/curl_global.hpp"

namespace guardrail::demo {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

long num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<long>() : 0;
}

// HH:MM:SS.mmm of an RFC 3339 time, or the whole string if it is not one.
std::string short_time(const std::string& t) {
  return t.size() >= 23 && t[10] == 'T' ? t.substr(11, 12) : t;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

std::optional<std::string> pretty_alert(std::string_view json_line) {
  auto j = nlohmann::json::parse(json_line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kind")) return std::nullopt;
  const std::string kind = str(j, "kind");
  std::string who = str(j, "workload");
  std::string target;
  if (kind.rfind("net_", 0) == 0 || kind == "east_west_bypass") {
    const std::string peer =
        str(j, "peer_workload").empty() ? str(j, "peer_zone") : str(j, "peer_workload");
    const std::string proto = str(j, "protocol");
    if (str(j, "direction") == "ingress") {
      // The workload is the receiver: show the flow as it went, sender first.
      target = fmt::format("{} {}:{} -> {} {}:{}/{}", peer, str(j, "src"), num(j, "sport"), who,
                           str(j, "dst"), num(j, "dport"), proto);
      who.clear();
    } else {
      target = fmt::format("{} {}:{}/{}", peer, str(j, "dst"), num(j, "dport"), proto);
    }
  } else if (kind == "raw_socket") {
    target = fmt::format("socket({}, {}, {})", str(j, "socket_family"), str(j, "socket_type"),
                         num(j, "socket_protocol"));
  } else if (kind == "capability") {
    target = str(j, "capability");
  } else if (kind == "mount") {
    target = str(j, "operation");
  } else if (kind == "runtime_socket") {
    target = str(j, "path");
  } else if (kind == "bpf") {
    target = fmt::format("bpf(cmd {})", num(j, "bpf_command"));
  }
  std::string line = fmt::format("{} {} {} ", short_time(str(j, "time")), kind, str(j, "verdict"));
  line += who.empty() ? target : fmt::format("{} -> {}", who, target);
  if (num(j, "pid") != 0) line += fmt::format(" (pid {} {})", num(j, "pid"), str(j, "comm"));
  if (num(j, "count") > 1) line += fmt::format(" x{}", num(j, "count"));
  return line;
}

std::map<ViolationKey, double> parse_violations(std::string_view metrics_text) {
  static const std::regex label_re(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  std::map<ViolationKey, double> out;
  std::istringstream in{std::string(metrics_text)};
  std::string line;
  const std::string name = "guardrail_violations_total";
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    std::string rest = line.substr(name.size());
    std::map<std::string, std::string> labels;
    if (!rest.empty() && rest[0] == '{') {
      const auto close = rest.rfind('}');
      if (close == std::string::npos) continue;
      const std::string body = rest.substr(1, close - 1);
      for (std::sregex_iterator it(body.begin(), body.end(), label_re), end; it != end; ++it)
        labels[(*it)[1]] = (*it)[2];
      rest = rest.substr(close + 1);
    } else if (!rest.empty() && rest[0] != ' ') {
      continue;  // another metric with this prefix
    }
    std::istringstream value_in(rest);
    double value = 0;
    if (!(value_in >> value)) continue;
    out[{labels["kind"], labels["verdict"], labels["zone"]}] += value;
  }
  return out;
}

Result<std::string> scrape_metrics(const std::string& address, long timeout_ms) {
  GR_TRY(curl_global_ready());
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return fail("curl_easy_init failed");
  const std::string url = "http://" + address + "/metrics";
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) return fail(fmt::format("GET {}: {}", url, curl_easy_strerror(rc)));
  long code = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return fail(fmt::format("GET {}: HTTP {}", url, code));
  return body;
}

}  // namespace guardrail::demo
