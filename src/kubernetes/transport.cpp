// HTTPS GETs to the API server with libcurl: TLS always verified (the cluster CA from a file or
// from memory), the bearer token or a client certificate, and a transfer that ends promptly on
// stop (curl_multi_wakeup, and the progress callback as a second guard) or when the peer goes
// silent (TCP keepalive, a low-speed limit).
#include "transport.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "guardrail/util/curl_global.hpp"

namespace guardrail::kubernetes::detail {
namespace {

constexpr std::size_t kMaxErrorBody = 4096;
constexpr long kConnectTimeoutMs = 10'000;
// Keepalive probes after 30 s of silence, every 10 s: a node that vanished is noticed in about a
// minute even while a watch is legitimately idle.
constexpr long kKeepIdle = 30;
constexpr long kKeepInterval = 10;

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// What one transfer collects: its status, the body of an error answer, the callbacks.
struct Exchange {
  CURL* handle = nullptr;
  const std::atomic<bool>* stop = nullptr;
  const std::function<void()>* on_status = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  long status = 0;
  bool ok_status = false;
  bool aborted = false;
  std::string error_body;
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const std::string_view line(data, size * n);
  // The blank line ends a header block (there may be several: a 100 Continue, a proxy's).
  if (line == "\r\n" || line == "\n") {
    curl_easy_getinfo(x->handle, CURLINFO_RESPONSE_CODE, &x->status);
    x->ok_status = x->status >= 200 && x->status <= 299;
    if (x->ok_status && x->on_status && *x->on_status) (*x->on_status)();
  }
  return size * n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const std::size_t bytes = size * n;
  if (!x->ok_status) {
    const std::size_t room = kMaxErrorBody - std::min(kMaxErrorBody, x->error_body.size());
    x->error_body.append(data, std::min(room, bytes));
    return bytes;
  }
  if (!(*x->on_data)(std::string_view(data, bytes))) {
    x->aborted = true;
    return CURL_WRITEFUNC_ERROR;
  }
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Exchange*>(user)->stop->load() ? 1 : 0;
}

}  // namespace

Result<std::string> TokenSource::current() {
  if (file_.empty()) return token_;
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0)
    return fail_errno(fmt::format("Kubernetes bearer token file {}", file_), errno);
  if (loaded_ && st.st_dev == dev_ && st.st_ino == ino_ && same_time(st.st_mtim, mtime_) &&
      st.st_size == size_)
    return token_;
  std::ifstream in(file_, std::ios::binary);
  if (!in)
    return fail_errno(fmt::format("Kubernetes bearer token file {}: cannot open", file_), errno);
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) return fail(fmt::format("Kubernetes bearer token file {} is empty", file_));
  token_ = std::move(token);
  loaded_ = true;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  return token_;
}

struct Transport::Multi {
  CURLM* handle = nullptr;
  ~Multi() {
    if (handle) curl_multi_cleanup(handle);
  }
};

Transport::Transport(ApiConfig config, const std::atomic<bool>& stop, std::unique_ptr<Multi> multi)
    : config_(std::move(config)), stop_(stop), multi_(std::move(multi)) {}

Transport::~Transport() = default;

Result<std::unique_ptr<Transport>> Transport::make(ApiConfig config,
                                                   const std::atomic<bool>& stop) {
  if (auto r = curl_global_ready(); !r) return fail("Kubernetes API client: " + r.error().message);
  if (!config.server.starts_with("https://"))
    return fail(fmt::format("Kubernetes API server '{}' ({}): expected an https:// URL",
                            config.server, config.source));
  while (config.server.ends_with('/')) config.server.pop_back();
  auto multi = std::make_unique<Multi>();
  multi->handle = curl_multi_init();
  if (!multi->handle) return fail("Kubernetes API client: curl_multi_init failed (out of memory?)");
  return std::unique_ptr<Transport>(new Transport(std::move(config), stop, std::move(multi)));
}

void Transport::wake() { curl_multi_wakeup(multi_->handle); }

Outcome Transport::get(const std::string& target, const std::string& token, Limits limits,
                       const std::function<void()>& on_status,
                       const std::function<bool(std::string_view)>& on_data) {
  Outcome out;
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) {
    out.error = "curl_easy_init failed (out of memory?)";
    return out;
  }
  CURL* h = easy.get();
  char errbuf[CURL_ERROR_SIZE] = {};
  Exchange x;
  x.handle = h;
  x.stop = &stop_;
  x.on_status = &on_status;
  x.on_data = &on_data;

  std::unique_ptr<curl_slist, ListDeleter> headers;
  auto add_header = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  add_header("Accept: application/json");
  if (!token.empty()) add_header("Authorization: Bearer " + token);

  const std::string url = config_.server + target;
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
  };
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "https");
  set(CURLOPT_USERAGENT, "guardrail/" GUARDRAIL_VERSION);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_ERRORBUFFER, errbuf);
  set(CURLOPT_HTTPHEADER, headers.get());
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  curl_blob ca{}, cert{}, key{};
  if (!config_.ca_file.empty()) {
    set(CURLOPT_CAINFO, config_.ca_file.c_str());
  } else if (!config_.ca_pem.empty()) {
    ca = {config_.ca_pem.data(), config_.ca_pem.size(), CURL_BLOB_NOCOPY};
    set(CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!config_.client_cert_file.empty()) set(CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  if (!config_.client_cert_pem.empty()) {
    cert = {config_.client_cert_pem.data(), config_.client_cert_pem.size(), CURL_BLOB_NOCOPY};
    set(CURLOPT_SSLCERT_BLOB, &cert);
    set(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!config_.client_key_file.empty()) set(CURLOPT_SSLKEY, config_.client_key_file.c_str());
  if (!config_.client_key_pem.empty()) {
    key = {config_.client_key_pem.data(), config_.client_key_pem.size(), CURL_BLOB_NOCOPY};
    set(CURLOPT_SSLKEY_BLOB, &key);
    set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  set(CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  set(CURLOPT_TIMEOUT, long(limits.total.count()));
  set(CURLOPT_LOW_SPEED_LIMIT, 1L);
  set(CURLOPT_LOW_SPEED_TIME, long(limits.idle.count()));
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_TCP_KEEPIDLE, kKeepIdle);
  set(CURLOPT_TCP_KEEPINTVL, kKeepInterval);
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&x));
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&x));
  set(CURLOPT_NOPROGRESS, 0L);
  set(CURLOPT_XFERINFOFUNCTION, &on_progress);
  set(CURLOPT_XFERINFODATA, static_cast<void*>(&x));
  if (rc != CURLE_OK) {
    out.error = fmt::format("configuring libcurl failed: {}", curl_easy_strerror(rc));
    return out;
  }

  CURLM* multi = multi_->handle;
  if (CURLMcode mc = curl_multi_add_handle(multi, h); mc != CURLM_OK) {
    out.error = fmt::format("curl_multi_add_handle: {}", curl_multi_strerror(mc));
    return out;
  }
  bool done = false;
  CURLcode result = CURLE_OK;
  while (!done && !stop_) {
    int running = 0;
    if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK) {
      out.error = fmt::format("curl_multi_perform: {}", curl_multi_strerror(mc));
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
        result = msg->data.result;
        done = true;
      }
    }
    // Returns on socket activity, after a second at most, or at once on curl_multi_wakeup.
    if (!done) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  curl_multi_remove_handle(multi, h);
  if (stop_) {
    out.stopped = true;
    return out;
  }
  if (x.status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.status);
  out.status = x.status;
  out.aborted = x.aborted;
  out.body = std::move(x.error_body);
  if (done && result != CURLE_OK && !x.aborted && out.error.empty()) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(result);
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno != 0 && detail.find(std::strerror(int(os_errno))) == std::string::npos)
      detail += fmt::format(" ({})", std::strerror(int(os_errno)));
    out.error = detail;
  }
  return out;
}

std::string escape(std::string_view in) {
  char* escaped = curl_easy_escape(nullptr, in.data(), int(in.size()));
  if (!escaped) return std::string();
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

}  // namespace guardrail::kubernetes::detail
