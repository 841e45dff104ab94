#include "guardrail/sinks/webhook.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "guardrail/util/curl_global.hpp"

namespace guardrail {
namespace {

using nlohmann::ordered_json;

constexpr std::string_view kAlertsPath = "/api/v2/alerts";
constexpr auto kLogInterval = std::chrono::seconds(10);  // at most one failure line per interval
constexpr auto kMaxBackoff = std::chrono::milliseconds(std::chrono::minutes(5));
constexpr std::size_t kMaxResponseKept = 512;  // of an error response, for the log

// A label or annotation value: strings as they are, other JSON values as their JSON text, an
// absent or null field as "".
std::string text(const ordered_json& alert, const char* key) {
  auto it = alert.find(key);
  if (it == alert.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// The number of events an alert stands for: its "count", 1 when absent or not a positive integer.
std::uint64_t count_of(const ordered_json& alert) {
  auto it = alert.find("count");
  if (it == alert.end()) return 1;
  if (it->is_number_unsigned()) return std::max<std::uint64_t>(1, it->get<std::uint64_t>());
  if (it->is_number_integer() && it->get<std::int64_t>() >= 1) return it->get<std::int64_t>();
  return 1;
}

bool is_ingress(const ordered_json& alert) {
  const std::string direction = text(alert, "direction");
  if (!direction.empty()) return direction == "ingress";
  return text(alert, "kind") == "net_ingress";
}

// "tcp/198.18.0.4:8080" (egress: destination and port), "tcp/198.18.0.3" (ingress: the source),
// "tcp/[2001:db8::4]:443" (IPv6 with a port); the port is left out when absent or 0.
// Host guard kinds: what was asked for ("CAP_NET_RAW", "mount /mnt/x", "/run/docker.sock", ...).
std::string host_target_of(const ordered_json& alert, const std::string& kind) {
  if (kind == "capability") return text(alert, "capability");
  if (kind == "raw_socket") return text(alert, "socket_family") + "/" + text(alert, "socket_type");
  if (kind == "mount") {
    const std::string target = text(alert, "target");
    return text(alert, "operation") + (target.empty() ? "" : " " + target);
  }
  if (kind == "runtime_socket") return text(alert, "path");
  if (kind == "unix_socket") return text(alert, "path") + " of " + text(alert, "peer_workload");
  if (kind == "bpf") return "bpf command " + text(alert, "bpf_command");
  if (kind == "policy_rejected") return text(alert, "file");
  if (kind == "tamper" && alert.contains("signal"))  // to the agent's own process
    return text(alert, "signal") + " to agent pid " + text(alert, "target_pid");
  if (kind == "tamper" && alert.contains("access"))
    return text(alert, "access") + " on agent pid " + text(alert, "target_pid");
  if (kind == "tamper")  // the kernel's: what the workload did; the agent's: what it repaired
    return alert.contains("cgroup")
               ? "repaired " + text(alert, "cgroup")
               : text(alert, "bpf_command") + " link " + text(alert, "link_id") + " prog " +
                     text(alert, "prog_id");
  return "";
}

std::string target_of(const ordered_json& alert) {
  const std::string kind = text(alert, "kind");
  if (!kind.starts_with("net_") && kind != "east_west_bypass") return host_target_of(alert, kind);
  const bool ingress = is_ingress(alert);
  const std::string protocol = text(alert, "protocol");
  std::string addr = text(alert, ingress ? "src" : "dst");
  const std::string port = ingress ? "" : text(alert, "dport");
  if (!port.empty() && port != "0" && !addr.empty()) {
    if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
    addr += ":" + port;
  }
  if (protocol.empty()) return addr;
  if (addr.empty()) return protocol;
  return protocol + "/" + addr;
}

std::string severity_of(const ordered_json& alert) {
  const std::string verdict = text(alert, "verdict");
  // A tamper alert means enforcement was (or is about to be) switched off.
  const std::string kind = text(alert, "kind");
  if (kind == "east_west_bypass" || kind == "tamper" || verdict == "blocked" || verdict == "killed")
    return "critical";
  return "warning";
}

std::string summary_of(const ordered_json& alert, const std::string& target, std::uint64_t count) {
  const std::string zone = text(alert, "zone");
  const std::string workload = text(alert, "workload");
  std::string who = zone.empty() ? workload : workload.empty() ? zone : zone + ":" + workload;
  if (who.empty()) who = "unknown";
  const std::string kind = text(alert, "kind");
  const bool network = kind.starts_with("net_") || kind == "east_west_bypass";
  std::string out =
      network ? fmt::format("{}: {} {} {} {}", who, kind, is_ingress(alert) ? "from" : "to", target,
                            text(alert, "verdict"))
              : fmt::format("{}: {} {} {}", who, kind, target, text(alert, "verdict"));
  if (count > 1) out += fmt::format(" ({} times)", count);
  return out;
}

// A suppression summary: "agent-sandbox:W: 160 alerts suppressed (net_connect 160); 3 targets
// past the memory of targets (net_connect 3) in 30s".
std::string suppressed_summary_of(const ordered_json& alert) {
  auto list = [&](const char* field) {
    std::string out;
    std::uint64_t total = 0;
    if (auto it = alert.find(field); it != alert.end() && it->is_object())
      for (const auto& [kind, n] : it->items()) {
        const std::uint64_t v = n.is_number_unsigned() ? n.get<std::uint64_t>()
                                : n.is_number_integer() && n.get<std::int64_t>() > 0
                                    ? n.get<std::int64_t>()
                                    : 0;
        total += v;
        out += fmt::format("{}{} {}", out.empty() ? "" : ", ", kind, v);
      }
    return std::pair{total, out};
  };
  const std::string zone = text(alert, "zone");
  const std::string workload = text(alert, "workload");
  std::string out = fmt::format("{}:{}: ", zone, workload);
  auto [events, kinds] = list("suppressed");
  out += fmt::format("{} alert event(s) suppressed by the rate limit", events);
  if (!kinds.empty()) out += " (" + kinds + ")";
  auto [targets, overflow] = list("targets_overflow");
  if (targets > 0)
    out +=
        fmt::format("; {} new target(s) found the memory of targets full ({})", targets, overflow);
  return out;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

std::string url_fix_hint() { return "give one like http://127.0.0.1:9093"; }

// Checks the URL and computes where to POST: the URL's path without its trailing '/', plus
// "/api/v2/alerts" unless the path already ends with it.
Result<std::string> alerts_endpoint(const std::string& url) {
  std::string lower = url.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (!lower.starts_with("http://") && !lower.starts_with("https://"))
    return fail("webhook URL '" + url + "' must start with http:// or https:// (" + url_fix_hint() +
                ")");
  // The host, checked here too: curl reads "http:///x" as host "x".
  std::string_view authority(url);
  authority.remove_prefix(authority.find("://") + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  const std::string_view host_part = authority.starts_with('[')
                                         ? authority.substr(0, authority.find(']') + 1)
                                         : authority.substr(0, authority.find(':'));
  if (host_part.empty()) return fail("webhook URL '" + url + "' has no host: " + url_fix_hint());

  std::unique_ptr<CURLU, CurlUrlDeleter> parsed(curl_url());
  if (!parsed) return fail("webhook URL '" + url + "': out of memory parsing it");
  if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK)
    return fail("webhook URL '" + url + "' is invalid (" + curl_url_strerror(rc) +
                "): " + url_fix_hint());
  char* raw = nullptr;
  CURLUcode rc = curl_url_get(parsed.get(), CURLUPART_HOST, &raw, 0);
  CurlString host(raw);
  if (rc != CURLUE_OK || !host || *host == '\0')
    return fail("webhook URL '" + url + "' has no host: " + url_fix_hint());

  raw = nullptr;
  rc = curl_url_get(parsed.get(), CURLUPART_PATH, &raw, 0);
  CurlString path_part(raw);
  std::string path = rc == CURLUE_OK && path_part ? path_part.get() : "";
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.ends_with(kAlertsPath)) path += kAlertsPath;
  if (rc = curl_url_set(parsed.get(), CURLUPART_PATH, path.c_str(), 0); rc != CURLUE_OK)
    return fail("webhook URL '" + url + "': cannot set its path (" + curl_url_strerror(rc) + ")");
  raw = nullptr;
  rc = curl_url_get(parsed.get(), CURLUPART_URL, &raw, 0);
  CurlString full(raw);
  if (rc != CURLUE_OK || !full)
    return fail("webhook URL '" + url + "' is invalid (" + curl_url_strerror(rc) +
                "): " + url_fix_hint());
  return std::string(full.get());
}

std::size_t keep_response(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  const std::size_t bytes = size * n;
  if (out->size() < kMaxResponseKept)
    out->append(data, std::min(bytes, kMaxResponseKept - out->size()));
  return bytes;
}

}  // namespace

nlohmann::json alertmanager_payload(std::span<const nlohmann::ordered_json> alerts,
                                    const std::string& node, const std::string& generator_url) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& alert : alerts) {
    const std::uint64_t count = count_of(alert);
    const std::string target = target_of(alert);
    // Alertmanager treats an empty label as an absent one, so empty values are left out.
    nlohmann::json labels = nlohmann::json::object();
    auto label = [&](const char* name, std::string value) {
      if (!value.empty()) labels[name] = std::move(value);
    };
    const bool summary = text(alert, "kind") == "suppressed";
    label("alertname", summary ? "GuardrailAlertsSuppressed" : "GuardrailViolation");
    label("kind", text(alert, "kind"));
    label("verdict", text(alert, "verdict"));
    label("zone", text(alert, "zone"));
    label("workload", text(alert, "workload"));
    label("severity", severity_of(alert));
    label("node", node.empty() ? text(alert, "node") : node);
    label("target", target);

    nlohmann::json entry = {
        {"labels", std::move(labels)},
        {"annotations",
         {{"summary", summary ? suppressed_summary_of(alert) : summary_of(alert, target, count)},
          {"description", alert.dump(-1, ' ', false, ordered_json::error_handler_t::replace)},
          {"count", std::to_string(count)}}},
    };
    std::string starts = text(alert, "first_time");
    if (starts.empty()) starts = text(alert, "time");
    if (!starts.empty()) entry["startsAt"] = starts;
    if (!generator_url.empty()) entry["generatorURL"] = generator_url;
    out.push_back(std::move(entry));
  }
  return out;
}

struct WebhookSink::Impl {
  WebhookOptions options;
  Observer observer;
  std::string endpoint;
  std::unique_ptr<CURL, CurlDeleter> curl;
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  char error[CURL_ERROR_SIZE] = {};
  std::string response;  // the start of the last response body

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<ordered_json> queue;      // guarded by mutex
  std::atomic<bool> stopping = false;  // written under mutex, so waiters cannot miss it
  std::thread sender;

  // Sender thread only.
  bool gave_up = false;  // an attempt failed during shutdown: drop the rest unsent
  std::uint64_t dropped_at_shutdown = 0;
  std::optional<std::chrono::steady_clock::time_point> last_log;
  std::uint64_t suppressed = 0;

  Result<void> configure();
  void run();
  void deliver(std::vector<ordered_json>& batch);
  std::optional<std::string> post(const std::string& body);
  bool sleep_unless_stopping(std::chrono::milliseconds wait);
  std::chrono::milliseconds backoff_after(int attempt) const;
  void log_failure(const std::string& why, int attempt, int attempts, std::size_t dropping);
  void report(const std::vector<ordered_json>& batch, bool delivered);
};

Result<void> WebhookSink::Impl::configure() {
  curl.reset(curl_easy_init());
  if (!curl) return fail("webhook: curl_easy_init failed (out of memory?)");
  // "Expect:" drops the "100-continue" round trip curl makes before larger bodies.
  for (const char* header : {"Content-Type: application/json", "Expect:"}) {
    curl_slist* list = curl_slist_append(headers.get(), header);  // the head, or null
    if (!list) return fail("webhook: cannot build the request headers (out of memory?)");
    if (!headers) headers.reset(list);
  }

  CURL* h = curl.get();
  const long timeout_ms = long(options.timeout.count());
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
  };
  set(CURLOPT_URL, endpoint.c_str());
  set(CURLOPT_POST, 1L);
  set(CURLOPT_HTTPHEADER, headers.get());
  set(CURLOPT_USERAGENT, "guardrail/" GUARDRAIL_VERSION);
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_ERRORBUFFER, static_cast<char*>(error));
  set(CURLOPT_WRITEFUNCTION, &keep_response);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&response));
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  if (!options.ca_file.empty()) set(CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.insecure) {
    set(CURLOPT_SSL_VERIFYPEER, 0L);
    set(CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (rc != CURLE_OK)
    return fail("webhook " + endpoint + ": configuring libcurl failed: " + curl_easy_strerror(rc));
  return {};
}

void WebhookSink::Impl::run() {
  for (;;) {
    std::vector<ordered_json> batch;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping.load() || !queue.empty(); });
      if (queue.empty()) break;  // stopping, and everything is sent
      const std::size_t n = std::min(options.batch_max, queue.size());
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    deliver(batch);
  }
  if (dropped_at_shutdown > 0)
    spdlog::warn("webhook {}: dropped {} alerts at shutdown, the receiver failing", endpoint,
                 dropped_at_shutdown);
}

// Up to 1 + retries attempts with exponential backoff between them. Once shutdown starts, a batch
// gets at most one more attempt; after a failed one the remaining batches are dropped unsent, so
// a dead receiver holds shutdown up by at most about one timeout.
void WebhookSink::Impl::deliver(std::vector<ordered_json>& batch) {
  if (stopping && gave_up) {
    dropped_at_shutdown += batch.size();
    report(batch, false);
    return;
  }
  const std::string body = alertmanager_payload(batch, options.node, options.generator_url)
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const int attempts = options.retries + 1;
  for (int attempt = 1;; ++attempt) {
    const std::optional<std::string> failure = post(body);
    if (!failure) {
      report(batch, true);
      return;
    }
    const bool shutting_down = stopping;
    const bool last = attempt >= attempts || shutting_down;
    log_failure(*failure, attempt, attempts, last ? batch.size() : 0);
    if (last) {
      if (shutting_down) {
        gave_up = true;
        dropped_at_shutdown += batch.size();
      }
      report(batch, false);
      return;
    }
    // Interrupted by shutdown: the next attempt is this batch's one attempt during shutdown.
    sleep_unless_stopping(backoff_after(attempt));
  }
}

std::optional<std::string> WebhookSink::Impl::post(const std::string& body) {
  CURL* h = curl.get();
  error[0] = '\0';
  response.clear();
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) return error[0] ? std::string(error) : std::string(curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return std::nullopt;
  std::string why = fmt::format("HTTP {}", status);
  std::string detail = response;
  std::replace(detail.begin(), detail.end(), '\n', ' ');
  while (!detail.empty() && (detail.back() == ' ' || detail.back() == '\r')) detail.pop_back();
  if (!detail.empty()) why += ": " + detail;
  return why;
}

bool WebhookSink::Impl::sleep_unless_stopping(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex);
  return !wake.wait_for(lock, wait, [&] { return stopping.load(); });
}

std::chrono::milliseconds WebhookSink::Impl::backoff_after(int attempt) const {
  const int doublings = std::min(attempt - 1, 20);
  return std::min(options.backoff * (std::int64_t{1} << doublings),
                  std::max(options.backoff, kMaxBackoff));
}

void WebhookSink::Impl::log_failure(const std::string& why, int attempt, int attempts,
                                    std::size_t dropping) {
  const auto now = std::chrono::steady_clock::now();
  if (last_log && now - *last_log < kLogInterval) {
    ++suppressed;
    return;
  }
  last_log = now;
  std::string tail;
  if (dropping > 0) tail += fmt::format("; dropping {} alerts", dropping);
  if (suppressed > 0) tail += fmt::format(" ({} similar messages suppressed)", suppressed);
  suppressed = 0;
  spdlog::warn("webhook {}: {} (attempt {}/{}){}", endpoint, why, attempt, attempts, tail);
}

void WebhookSink::Impl::report(const std::vector<ordered_json>& batch, bool delivered) {
  if (!observer) return;
  WebhookOutcome outcome{.alerts = batch.size(), .events = 0, .delivered = delivered};
  for (const auto& alert : batch) outcome.events += count_of(alert);
  try {
    observer(outcome);
  } catch (const std::exception& e) {
    spdlog::error("webhook {}: the outcome observer threw: {}", endpoint, e.what());
  }
}

Result<std::unique_ptr<WebhookSink>> WebhookSink::start(WebhookOptions options, Observer observer) {
  if (options.timeout.count() <= 0)
    return fail("webhook timeout must be positive, got " + std::to_string(options.timeout.count()) +
                " ms");
  if (options.retries < 0)
    return fail("webhook retries must be 0 or more, got " + std::to_string(options.retries));
  if (options.backoff.count() < 0)
    return fail("webhook backoff must be 0 or more, got " +
                std::to_string(options.backoff.count()) + " ms");
  if (options.queue_capacity == 0) return fail("webhook queue capacity must be at least 1");
  if (options.batch_max == 0) return fail("webhook batch size must be at least 1");

  if (auto r = curl_global_ready(); !r) return fail("webhook: " + r.error().message);

  auto endpoint = alerts_endpoint(options.url);
  if (!endpoint) return propagate(endpoint);
  if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0)
    return fail_errno("webhook CA file " + options.ca_file, errno);

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->observer = std::move(observer);
  impl->endpoint = std::move(*endpoint);
  GR_TRY(impl->configure());
  Impl* p = impl.get();
  impl->sender = std::thread([p] { p->run(); });
  return std::make_unique<WebhookSink>(std::move(impl));
}

WebhookSink::WebhookSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookSink::~WebhookSink() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->sender.joinable()) impl_->sender.join();
}

bool WebhookSink::enqueue(nlohmann::ordered_json alert) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping || impl_->queue.size() >= impl_->options.queue_capacity) return false;
    impl_->queue.push_back(std::move(alert));
  }
  impl_->wake.notify_one();
  return true;
}

const std::string& WebhookSink::endpoint() const { return impl_->endpoint; }

}  // namespace guardrail
