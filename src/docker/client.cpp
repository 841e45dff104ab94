// The Docker Engine API over its unix socket with libcurl: GET requests for the version, the
// running containers and their inspect documents, and the events stream followed on a thread
// (curl_multi, so that destruction wakes it at once through curl_multi_wakeup).
//
// Paths are unversioned ("/containers/json"): the engine answers them in its own API version.
#include "guardrail/docker/client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "guardrail/util/curl_global.hpp"

namespace guardrail::docker {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::size_t kMaxBody = std::size_t{64} << 20;      // of one answer
constexpr std::size_t kMaxEventLine = std::size_t{1} << 20;  // of one event's JSON line
constexpr std::size_t kMaxErrorKept = 512;                   // of an error answer, for messages
constexpr auto kFirstBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::milliseconds(30'000);
constexpr auto kEventsConnectTimeout = std::chrono::milliseconds(5'000);
// GET /events?filters={"type":["container"]}
constexpr const char* kEventsPath = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using Easy = std::unique_ptr<CURL, CurlDeleter>;

Result<void> curl_ready() {
  if (auto r = curl_global_ready(); !r) return fail("docker: " + r.error().message);
  return {};
}

std::string absent_message(const std::string& socket) {
  return fmt::format(
      "Docker socket {} does not exist: is dockerd running? (or pass --docker-socket)", socket);
}

// Checked before connecting: curl would only say "Couldn't connect to server".
Result<void> check_socket(const std::string& socket) {
  struct stat st {};
  if (::stat(socket.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return fail(absent_message(socket));
    return fail_errno("Docker socket " + socket + " cannot be checked", err);
  }
  if (!S_ISSOCK(st.st_mode))
    return fail(
        fmt::format("Docker socket {} is not a unix socket: give the path of dockerd's API socket "
                    "(--docker-socket)",
                    socket));
  return {};
}

// Why a transfer failed below HTTP: the socket refuses, is forbidden, or dockerd is slow.
std::string transfer_failure(const std::string& socket, const std::string& path, CURLcode rc,
                             long os_errno, const char* errbuf, std::chrono::milliseconds timeout) {
  if (rc == CURLE_COULDNT_CONNECT) {
    if (os_errno == ECONNREFUSED)
      return fmt::format(
          "Docker socket {} refuses connections (connection refused): dockerd is not "
          "running or not listening there (a stale socket file?)",
          socket);
    if (os_errno == EACCES || os_errno == EPERM)
      return fmt::format(
          "Docker socket {}: permission denied: run as root or as a member of the socket's "
          "group",
          socket);
    if (os_errno == ENOENT) return absent_message(socket);
  }
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return fmt::format("Docker GET {} on {}: dockerd did not answer within {} ms", path, socket,
                       timeout.count());
  std::string detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (os_errno != 0) detail += fmt::format(" ({})", std::strerror(int(os_errno)));
  return fmt::format("Docker GET {} on {}: {}", path, socket, detail);
}

// The engine's error message: {"message": "..."} or else the start of the body as text.
std::string engine_message(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_object()) {
    auto it = doc.find("message");
    if (it != doc.end() && it->is_string()) return it->get<std::string>();
  }
  std::string text = body.substr(0, kMaxErrorKept);
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string http_failure(const std::string& path, long status, const std::string& body) {
  std::string out = fmt::format("Docker GET {}: HTTP {}", path, status);
  const std::string message = engine_message(body);
  if (!message.empty()) out += ": " + message;
  return out;
}

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string escape(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<Easy> make_handle(const std::string& socket, const std::string& path, char* errbuf) {
  GR_TRY(curl_ready());
  Easy easy(curl_easy_init());
  if (!easy) return fail("docker: curl_easy_init failed (out of memory?)");
  const std::string url = "http://localhost" + path;
  CURL* h = easy.get();
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
  };
  set(CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http");
  set(CURLOPT_USERAGENT, "guardrail/" GUARDRAIL_VERSION);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_ERRORBUFFER, errbuf);
  if (rc != CURLE_OK)
    return fail(
        fmt::format("Docker GET {}: configuring libcurl failed: {}", path, curl_easy_strerror(rc)));
  return easy;
}

struct Answer {
  long status = 0;
  std::string body;
  bool too_large = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* answer = static_cast<Answer*>(user);
  const std::size_t bytes = size * n;
  if (answer->body.size() + bytes > kMaxBody) {
    answer->too_large = true;
    return 0;  // aborts the transfer
  }
  answer->body.append(data, bytes);
  return bytes;
}

// One GET: the status and body, or why no answer came.
Result<Answer> transfer(const std::string& socket, const std::string& path,
                        std::chrono::milliseconds timeout) {
  GR_TRY(check_socket(socket));
  char errbuf[CURL_ERROR_SIZE] = {};
  auto easy = make_handle(socket, path, errbuf);
  if (!easy) return propagate(easy);
  CURL* h = easy->get();
  Answer answer;
  const long timeout_ms = std::max(1L, long(timeout.count()));
  CURLcode rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
  if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(&answer));
  if (rc != CURLE_OK)
    return fail(
        fmt::format("Docker GET {}: configuring libcurl failed: {}", path, curl_easy_strerror(rc)));
  rc = curl_easy_perform(h);
  if (answer.too_large)
    return fail(fmt::format("Docker GET {} on {}: the answer is larger than {} MiB", path, socket,
                            kMaxBody >> 20));
  if (rc != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    return fail(transfer_failure(socket, path, rc, os_errno, errbuf, timeout));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

Result<json> json_answer(const std::string& path, const Answer& answer) {
  if (answer.status < 200 || answer.status > 299)
    return fail(http_failure(path, answer.status, answer.body));
  json doc = json::parse(answer.body, nullptr, false);
  if (doc.is_discarded())
    return fail(fmt::format("Docker GET {}: the answer is not JSON: '{}'", path,
                            answer.body.substr(0, 200)));
  return doc;
}

// The string at key, "" when j is no object, the key is absent or the value no string.
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A JSON object's members as strings (numbers and booleans as their JSON text). Lists and maps
// are left out: no label is one (Docker's are strings), and their text recurses as deep as they
// nest (a deeply nested one overflowed the stack; fuzz/corpus/docker).
std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null() || it->is_structured()) continue;
    out[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return out;
}

std::optional<Event> event_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const std::string type = str(j, "Type");
  if (!type.empty() && type != "container") return std::nullopt;
  Event event;
  event.action = str(j, "Action");
  if (event.action.empty()) event.action = str(j, "status");
  const json& actor = member(j, "Actor");
  event.id = str(actor, "ID");
  if (event.id.empty()) event.id = str(j, "id");
  event.attributes = string_map(member(actor, "Attributes"));
  if (event.action.empty() || event.id.empty()) return std::nullopt;
  return event;
}

}  // namespace

Container container_from_inspect(const json& inspect) {
  Container c;
  c.id = str(inspect, "Id");
  c.name = str(inspect, "Name");
  if (c.name.starts_with('/')) c.name.erase(0, 1);
  const json& config = member(inspect, "Config");
  c.image = str(config, "Image");
  c.labels = string_map(member(config, "Labels"));
  const json& networks = member(member(inspect, "NetworkSettings"), "Networks");
  if (networks.is_object()) {
    for (const auto& network : networks) {
      for (const char* key : {"IPAddress", "GlobalIPv6Address"}) {
        std::string address = str(network, key);
        if (!address.empty() &&
            std::find(c.addresses.begin(), c.addresses.end(), address) == c.addresses.end())
          c.addresses.push_back(std::move(address));
      }
    }
  }
  c.cgroup_parent = str(member(inspect, "HostConfig"), "CgroupParent");
  const json& state = member(inspect, "State");
  c.state = str(state, "Status");
  const json& pid = member(state, "Pid");
  if (pid.is_number_integer()) {
    const auto value = pid.get<std::int64_t>();
    c.pid = value > 0 && value <= INT32_MAX ? int(value) : 0;
  }
  return c;
}

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

Result<json> Client::get(const std::string& path) const {
  auto answer = transfer(socket_path_, path, timeout_);
  if (!answer) return propagate(answer);
  return json_answer(path, *answer);
}

Result<json> Client::version() const { return get("/version"); }

Result<json> Client::info() const { return get("/info"); }

Result<json> Client::inspect(const std::string& id) const {
  if (id.empty()) return fail("Docker inspect: empty container id");
  return get("/containers/" + escape(id) + "/json");
}

Result<std::vector<Container>> Client::containers() const {
  auto list = get("/containers/json");
  if (!list) return propagate(list);
  if (!list->is_array())
    return fail("Docker GET /containers/json: expected a JSON array, got " +
                std::string(list->type_name()));
  std::vector<Container> out;
  for (const auto& entry : *list) {
    const std::string id = str(entry, "Id");
    if (id.empty()) continue;
    const std::string path = "/containers/" + escape(id) + "/json";
    auto answer = transfer(socket_path_, path, timeout_);
    if (!answer) return propagate(answer);
    if (answer->status == 404) continue;  // removed since the list was made
    auto doc = json_answer(path, *answer);
    if (!doc) return propagate(doc);
    out.push_back(container_from_inspect(*doc));
  }
  return out;
}

// ---- EventStream --------------------------------------------------------------------------------

struct EventStream::Impl {
  std::string socket_path;
  OnEvent on_event;
  OnConnection on_connection;
  std::unique_ptr<CURLM, MultiDeleter> multi;

  std::mutex mutex;
  std::condition_variable wake;
  std::atomic<bool> stopping = false;  // written under mutex, so the backoff wait cannot miss it
  std::thread thread;

  // Stream thread only: the current connection.
  long status = 0;
  bool connected = false;  // this connection answered 200 and on_connection(true) ran
  std::string line;        // an incomplete event line
  std::string error_body;  // the start of a non-200 answer
  bool line_too_long = false;
  // Across connections: failures in a row are reported once per distinct reason.
  std::optional<std::string> last_failure;

  void run();
  std::string follow();
  void headers_done(CURL* h);
  void take(std::string_view data);
  void deliver(std::string_view text);
  void report(bool up, const std::string& why);
  void wait(std::chrono::milliseconds delay);

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user);
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);
};

std::size_t EventStream::Impl::on_header(char* data, std::size_t size, std::size_t n, void* user) {
  const std::size_t bytes = size * n;
  const std::string_view header(data, bytes);
  if (header == "\r\n" || header == "\n") {
    auto* self = static_cast<std::pair<Impl*, CURL*>*>(user);
    self->first->headers_done(self->second);
  }
  return bytes;
}

std::size_t EventStream::Impl::on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* self = static_cast<Impl*>(user);
  const std::size_t bytes = size * n;
  if (self->stopping) return 0;
  if (self->status != 200) {
    if (self->error_body.size() < kMaxErrorKept)
      self->error_body.append(data, std::min(bytes, kMaxErrorKept - self->error_body.size()));
    return bytes;
  }
  self->take(std::string_view(data, bytes));
  return self->line_too_long ? 0 : bytes;
}

void EventStream::Impl::headers_done(CURL* h) {
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || connected) return;  // 1xx interim answers come before the real one
  connected = true;
  last_failure.reset();
  report(true, "");
}

// Splits newline-delimited JSON across writes.
void EventStream::Impl::take(std::string_view data) {
  while (!data.empty()) {
    const auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      line.append(data);
      if (line.size() > kMaxEventLine) line_too_long = true;
      return;
    }
    if (line.empty()) {
      deliver(data.substr(0, nl));
    } else {
      line.append(data.substr(0, nl));
      deliver(line);
      line.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

void EventStream::Impl::deliver(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return;
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    spdlog::warn("docker events on {}: skipping a line that is not JSON: '{}'", socket_path,
                 text.substr(0, 200));
    return;
  }
  auto event = event_from_json(doc);
  if (!event || !on_event) return;
  try {
    on_event(*event);
  } catch (const std::exception& e) {
    spdlog::error("docker events on {}: the event callback threw: {}", socket_path, e.what());
  }
}

void EventStream::Impl::report(bool up, const std::string& why) {
  if (!on_connection) return;
  try {
    on_connection(up, why);
  } catch (const std::exception& e) {
    spdlog::error("docker events on {}: the connection callback threw: {}", socket_path, e.what());
  }
}

// One connection, until it ends or stopping: returns why it ended ("" when stopping).
std::string EventStream::Impl::follow() {
  status = 0;
  connected = false;
  line.clear();
  error_body.clear();
  line_too_long = false;
  if (auto ok = check_socket(socket_path); !ok) return ok.error().message;
  if (!multi) return "docker events: curl_multi_init failed (out of memory?)";
  char errbuf[CURL_ERROR_SIZE] = {};
  auto easy = make_handle(socket_path, kEventsPath, errbuf);
  if (!easy) return easy.error().message;
  CURL* h = easy->get();
  std::pair<Impl*, CURL*> header_user(this, h);
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
  };
  set(CURLOPT_CONNECTTIMEOUT_MS, long(kEventsConnectTimeout.count()));
  set(CURLOPT_HEADERFUNCTION, &Impl::on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&header_user));
  set(CURLOPT_WRITEFUNCTION, &Impl::on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(this));
  if (rc != CURLE_OK)
    return fmt::format("Docker GET /events: configuring libcurl failed: {}",
                       curl_easy_strerror(rc));
  if (CURLMcode mc = curl_multi_add_handle(multi.get(), h); mc != CURLM_OK)
    return fmt::format("Docker GET /events: curl_multi_add_handle failed: {}",
                       curl_multi_strerror(mc));

  std::optional<CURLcode> result;
  while (!stopping && !result) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi.get(), &running);
    if (mc != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      snprintf(errbuf, CURL_ERROR_SIZE, "curl_multi_perform: %s", curl_multi_strerror(mc));
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued))
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) result = msg->data.result;
    if (result || running == 0) break;
    // Returns on socket activity, after at most a second, or at once on curl_multi_wakeup.
    curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr);
  }
  long os_errno = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  curl_multi_remove_handle(multi.get(), h);
  if (stopping) return "";
  const CURLcode code = result.value_or(CURLE_OK);
  if (line_too_long)
    return fmt::format("docker events on {}: an event line is longer than {} KiB", socket_path,
                       kMaxEventLine >> 10);
  if (code != CURLE_OK && !connected)
    return transfer_failure(socket_path, "/events", code, os_errno, errbuf, kEventsConnectTimeout);
  if (code != CURLE_OK)
    return fmt::format("the events stream on {} broke: {}", socket_path,
                       errbuf[0] ? errbuf : curl_easy_strerror(code));
  if (status != 200) return http_failure("/events", status, error_body);
  return fmt::format("dockerd closed the events stream on {}", socket_path);
}

void EventStream::Impl::wait(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex);
  wake.wait_for(lock, delay, [&] { return stopping.load(); });
}

void EventStream::Impl::run() {
  auto backoff = kFirstBackoff;
  while (!stopping) {
    const std::string why = follow();
    if (stopping) break;
    if (connected) {
      backoff = kFirstBackoff;
      report(false, why);
      last_failure = why;
    } else if (last_failure != why) {
      report(false, why);
      last_failure = why;
    }
    wait(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

std::unique_ptr<EventStream> EventStream::start(std::string socket_path, OnEvent on_event,
                                                OnConnection on_connection) {
  auto impl = std::make_unique<Impl>();
  impl->socket_path = std::move(socket_path);
  impl->on_event = std::move(on_event);
  impl->on_connection = std::move(on_connection);
  if (curl_ready()) impl->multi.reset(curl_multi_init());
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->run(); });
  return std::make_unique<EventStream>(std::move(impl));
}

EventStream::EventStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventStream::~EventStream() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->multi) curl_multi_wakeup(impl_->multi.get());
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace guardrail::docker
