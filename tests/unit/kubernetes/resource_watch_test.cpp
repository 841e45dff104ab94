// ResourceWatch and the API configs against a real HTTPS server: tests/tools/fake_kube_apiserver.py
// (its own CA, list/watch with resourceVersion, bookmarks, 410, dropped connections, tokens),
// started for each test as a child process and driven through its control port. Conditions are
// awaited by polling with a generous deadline; nothing asserts on durations.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "guardrail/kubernetes/api_client.hpp"
#include "testing/temp_dir.hpp"

extern char** environ;

namespace guardrail::kubernetes {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;

// Polls `condition` until it holds or the deadline passes.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds deadline = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

std::optional<std::string> in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Replaces the file the way kubelet does: a new file renamed over the old (a new inode).
void swap_file(const fs::path& path, const std::string& text) {
  const fs::path next = path.string() + ".next";
  write_file(next, text);
  fs::rename(next, path);
}

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

json pod(const std::string& ns, const std::string& name, const std::string& node,
         json labels = json::object()) {
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"labels", labels}}},
          {"spec", {{"nodeName", node}}},
          {"status", {{"phase", "Running"}, {"podIPs", {{{"ip", "10.244.0.7"}}}}}}};
}

// The fake API server, a child of this test, stopped (by its PID) when the test ends.
class FakeApiServer {
 public:
  // Empty when it could not run here (the reason is in skip_reason()).
  explicit FakeApiServer(const fs::path& dir, std::string listen = "127.0.0.1")
      : dir_(dir), listen_(std::move(listen)) {
    auto python = in_path("python3");
    if (!python) {
      skip_ = "python3 is not installed: the fake Kubernetes API server needs it";
      return;
    }
    if (!in_path("openssl")) {
      skip_ =
          "the openssl CLI is not installed: the fake API server makes its certificates with it";
      return;
    }
    const std::string script = GUARDRAIL_SOURCE_DIR "/tests/tools/fake_kube_apiserver.py";
    const std::string ready = (dir / "ready.json").string();
    const std::string certs = (dir / "pki").string();
    std::vector<std::string> args = {*python,   script,     "--dir",
                                     certs,     "--ready",  ready,
                                     "--token", "t1",       "--bookmark-interval",
                                     "0.3",     "--listen", listen_};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, python->c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      error_ = "posix_spawn python3 failed";
      return;
    }
    const bool up = eventually([&] {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      return fs::exists(ready);
    });
    if (pid_ < 0) {
      error_ = "the fake API server exited at start (see its stderr above)";
      return;
    }
    if (!up) {
      error_ = "the fake API server wrote no ready file";
      return;
    }
    const json info = json::parse(read_file(ready));
    https_port_ = info.at("https_port").get<int>();
    control_port_ = info.at("control_port").get<int>();
    ca_ = info.at("ca").get<std::string>();
    other_ca_ = info.at("other_ca").get<std::string>();
    client_cert_ = info.at("client_cert").get<std::string>();
    client_key_ = info.at("client_key").get<std::string>();
  }
  ~FakeApiServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  const std::string& skip_reason() const { return skip_; }
  const std::string& error() const { return error_; }
  std::string server() const {
    const std::string host = listen_.find(':') != std::string::npos ? "[" + listen_ + "]" : listen_;
    return "https://" + host + ":" + std::to_string(https_port_);
  }
  const std::string& ca() const { return ca_; }
  const std::string& other_ca() const { return other_ca_; }
  const std::string& client_cert() const { return client_cert_; }
  const std::string& client_key() const { return client_key_; }

  // One request to the control port (plain HTTP/1.0 on loopback); the answer's JSON.
  json control(const std::string& method, const std::string& path, const json& body = {}) {
    const std::string payload = body.is_null() ? "" : body.dump();
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(std::uint16_t(control_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) ::close(fd);
      ADD_FAILURE() << "cannot connect to the fake API server's control port";
      return {};
    }
    const std::string request =
        method + " " + path + " HTTP/1.0\r\nContent-Type: application/json\r\n" +
        "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += std::size_t(n);
    }
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, std::size_t(n));
    ::close(fd);
    const auto split = answer.find("\r\n\r\n");
    EXPECT_TRUE(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
        << "control " << path << ": " << answer;
    return split == std::string::npos ? json()
                                      : json::parse(answer.substr(split + 4), nullptr, false);
  }
  json post(const std::string& path, const json& body = json::object()) {
    return control("POST", path, body);
  }
  void upsert(const json& object) { post("/upsert", {{"object", object}}); }
  void remove(const std::string& kind, const std::string& ns, const std::string& name) {
    post("/delete", {{"kind", kind}, {"namespace", ns}, {"name", name}});
  }
  json counters() { return control("GET", "/counters"); }

 private:
  fs::path dir_;
  std::string listen_;
  pid_t pid_ = -1;
  std::string skip_, error_;
  int https_port_ = 0, control_port_ = 0;
  std::string ca_, other_ca_, client_cert_, client_key_;
};

class ResourceWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.emplace(dir_.path());
    if (!server_->skip_reason().empty()) GTEST_SKIP() << server_->skip_reason();
    ASSERT_TRUE(server_->error().empty()) << server_->error();
    token_file_ = dir_.path() / "token";
    write_file(token_file_, "t1\n");
  }

  ApiConfig config() const {
    ApiConfig c;
    c.server = server_->server();
    c.ca_file = server_->ca();
    c.token_file = token_file_.string();
    c.source = "test";
    return c;
  }

  static WatchSpec spec(const std::string& path) {
    WatchSpec s;
    s.path = path;
    s.backoff_min = 20ms;
    s.backoff_max = 200ms;
    s.timeout_seconds = 30;
    return s;
  }

  std::unique_ptr<ResourceWatch> start(ApiConfig c, WatchSpec s) {
    auto w = ResourceWatch::start(std::move(c), std::move(s), [this] { ++changes_; });
    EXPECT_TRUE(w) << w.error().message;
    return w ? std::move(*w) : nullptr;
  }

  // Started and past its first list, else null (with the reason as a test failure).
  std::unique_ptr<ResourceWatch> synced(ApiConfig c, WatchSpec s) {
    auto w = start(std::move(c), std::move(s));
    if (w && !eventually([&] { return w->status().synced; })) {
      ADD_FAILURE() << "the watch never listed: " << w->status().last_error;
      return nullptr;
    }
    return w;
  }

  static bool has(const ResourceWatch& w, const std::string& key) {
    return w.objects().contains(key);
  }

  guardrail::test::TempDir dir_{"guardrail-kubeapi"};
  std::optional<FakeApiServer> server_;
  fs::path token_file_;
  std::atomic<int> changes_{0};
};

TEST_F(ResourceWatchTest, ListsThenFollowsAddedModifiedDeleted) {
  server_->upsert(pod("shop", "a", "node-a"));
  server_->upsert(pod("shop", "b", "node-a"));
  auto w = start(config(), spec("/api/v1/namespaces/shop/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return w->status().synced && w->objects().size() == 2; }))
      << w->status().last_error;
  EXPECT_EQ(w->objects().at("shop/a")["kind"], "Pod");                 // filled in on list items
  EXPECT_TRUE(eventually([&] { return changes_ == 1; })) << changes_;  // the list

  server_->upsert(pod("shop", "c", "node-b"));
  ASSERT_TRUE(eventually([&] { return has(*w, "shop/c"); }));
  server_->upsert(pod("shop", "a", "node-a", {{"app", "web"}}));
  ASSERT_TRUE(eventually([&] {
    auto objects = w->objects();
    return objects.contains("shop/a") &&
           objects.at("shop/a")["metadata"]["labels"].value("app", "") == "web";
  }));
  server_->remove("Pod", "shop", "b");
  ASSERT_TRUE(eventually([&] { return !has(*w, "shop/b"); }));
  // A pod of another namespace is not in this namespaced watch.
  server_->upsert(pod("other", "x", "node-a"));
  server_->upsert(pod("shop", "d", "node-a"));
  ASSERT_TRUE(eventually([&] { return has(*w, "shop/d"); }));
  EXPECT_FALSE(has(*w, "other/x"));

  // The list, then one call per event: c added, a modified, b deleted, d added.
  EXPECT_TRUE(eventually([&] { return changes_ == 5; })) << changes_;
  const WatchStatus st = w->status();
  EXPECT_EQ(st.lists, 1u);
  EXPECT_EQ(st.watch_events, 4u);
  EXPECT_EQ(st.last_error, "");
  EXPECT_EQ(w->objects().size(), 3u);
  EXPECT_EQ(w->objects().at("shop/a")["metadata"]["resourceVersion"].get<std::string>().empty(),
            false);
}

TEST_F(ResourceWatchTest, PaginatesALargeList) {
  json objects = json::array();
  for (int i = 0; i < 1203; ++i) objects.push_back(pod("big", "p" + std::to_string(i), "node-a"));
  server_->post("/upsert", {{"objects", objects}});
  auto w = synced(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->objects().size(), 1203u);
  const json counters = server_->counters();
  EXPECT_EQ(counters["lists"]["pods"], 1);
  EXPECT_EQ(counters["list_pages"]["pods"], 3);  // 500 + 500 + 203
  EXPECT_EQ(w->status().lists, 1u);
}

TEST_F(ResourceWatchTest, FieldAndLabelSelectorsKeepOnlyTheSelectedPods) {
  server_->upsert(pod("ns", "here", "node-a", {{"app", "web"}}));
  server_->upsert(pod("ns", "there", "node-b", {{"app", "web"}}));
  server_->upsert(pod("ns", "db", "node-a", {{"app", "db"}}));
  WatchSpec s = spec("/api/v1/pods");
  s.field_selector = "spec.nodeName=node-a";
  s.label_selector = "app=web";
  auto w = synced(config(), s);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->objects().size(), 1u);
  EXPECT_TRUE(has(*w, "ns/here"));
  // Rescheduled onto this node: it arrives; relabelled out of the selector: it leaves.
  server_->upsert(pod("ns", "there", "node-a", {{"app", "web"}}));
  ASSERT_TRUE(eventually([&] { return has(*w, "ns/there"); }));
  server_->upsert(pod("ns", "here", "node-a", {{"app", "db"}}));
  ASSERT_TRUE(eventually([&] { return !has(*w, "ns/here"); }));
  // Moved to another node: it leaves too.
  server_->upsert(pod("ns", "there", "node-c", {{"app", "web"}}));
  ASSERT_TRUE(eventually([&] { return !has(*w, "ns/there"); }));
  EXPECT_TRUE(w->objects().empty());
}

TEST_F(ResourceWatchTest, BookmarksAdvanceTheResourceVersion) {
  server_->upsert(pod("ns", "a", "node-a"));
  auto w = synced(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  const std::string listed = w->status().resource_version;
  // Changes to another resource move the server's version on, not the pods.
  json service = {{"kind", "Service"},
                  {"metadata", {{"namespace", "ns"}, {"name", "s"}}},
                  {"spec", {{"clusterIP", "10.96.0.9"}}}};
  const std::string latest = server_->post("/upsert", {{"object", service}})["resourceVersion"];
  ASSERT_NE(listed, latest);
  ASSERT_TRUE(eventually([&] {
    const auto st = w->status();
    return st.bookmarks > 0 && st.resource_version == latest;
  })) << "resourceVersion "
      << w->status().resource_version << ", want " << latest;
  EXPECT_EQ(w->status().watch_events, 0u);
  EXPECT_EQ(changes_, 1);  // the list only: bookmarks change no object
  EXPECT_EQ(w->objects().size(), 1u);
}

// The history is compacted while the client cannot watch: its version is gone, it must list
// again (once), and the fresh list drops what was deleted in the gap.
class GoneTest : public ResourceWatchTest, public ::testing::WithParamInterface<bool> {};

TEST_P(GoneTest, RelistsOnceAndEndsWithTheServersObjects) {
  server_->upsert(pod("ns", "kept", "node-a"));
  server_->upsert(pod("ns", "deleted-in-gap", "node-a"));
  auto w = start(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return w->status().synced && w->objects().size() == 2; }));
  ASSERT_TRUE(eventually([&] { return server_->counters()["open_watches"] == 1; }));

  server_->post("/pause_watches", {{"paused", true}});
  EXPECT_EQ(server_->post("/drop_watches")["dropped"], 1);
  server_->remove("Pod", "ns", "deleted-in-gap");
  server_->upsert(pod("ns", "added-in-gap", "node-a"));
  server_->post("/compact", {{"http_410", GetParam()}});
  // While paused, the client's watches fail (503) and are retried from its old version.
  ASSERT_TRUE(eventually([&] { return w->status().last_error.find("503") != std::string::npos; }))
      << w->status().last_error;
  EXPECT_GE(w->status().reconnects, 1u);
  EXPECT_EQ(w->status().lists, 1u);
  server_->post("/pause_watches", {{"paused", false}});

  ASSERT_TRUE(eventually([&] {
    const auto objects = w->objects();
    return objects.size() == 2 && objects.contains("ns/kept") &&
           objects.contains("ns/added-in-gap");
  }));
  ASSERT_TRUE(eventually([&] { return server_->counters()["open_watches"] == 1; }));
  EXPECT_EQ(w->status().lists, 2u);
  EXPECT_EQ(server_->counters()["lists"]["pods"], 2);
  EXPECT_EQ(w->status().last_error, "");
  // And it watches on from the new list.
  server_->upsert(pod("ns", "after", "node-a"));
  ASSERT_TRUE(eventually([&] { return has(*w, "ns/after"); }));
  EXPECT_EQ(w->status().lists, 2u);
}

INSTANTIATE_TEST_SUITE_P(ErrorEventAndHttpStatus, GoneTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Http410" : "ErrorEvent"; });

TEST_F(ResourceWatchTest, DroppedConnectionResumesFromTheResourceVersion) {
  server_->upsert(pod("ns", "a", "node-a"));
  auto w = synced(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return server_->counters()["open_watches"] == 1; }));
  EXPECT_EQ(server_->post("/drop_watches")["dropped"], 1);
  // Made after the drop: the old connection never carries it; the next watch, from the last
  // version, replays it from the history.
  server_->upsert(pod("ns", "b", "node-a"));
  ASSERT_TRUE(eventually([&] { return has(*w, "ns/b"); }));
  const WatchStatus st = w->status();
  EXPECT_EQ(st.lists, 1u);
  EXPECT_GE(st.reconnects, 1u);
  EXPECT_EQ(server_->counters()["lists"]["pods"], 1);
  EXPECT_GE(server_->counters()["watches"]["pods"], 2);
}

TEST_F(ResourceWatchTest, RotatedTokenFileIsReadBeforeTheNextConnection) {
  auto w = synced(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return server_->counters()["open_watches"] == 1; }));
  // The server stops accepting the old token; kubelet swaps the file; the connection drops.
  server_->post("/tokens", {{"tokens", {"t2"}}});
  swap_file(token_file_, "t2\n");
  server_->post("/drop_watches");
  server_->upsert(pod("ns", "after-rotation", "node-a"));
  ASSERT_TRUE(eventually([&] { return has(*w, "ns/after-rotation"); })) << w->status().last_error;
  // The new token was read before reconnecting: the server never saw the old one again.
  EXPECT_EQ(server_->counters()["unauthorized"], 0);
  EXPECT_EQ(w->status().lists, 1u);
  EXPECT_EQ(w->status().last_error, "");
}

TEST_F(ResourceWatchTest, AWrongTokenReportsUnauthorizedUntilTheFileIsFixed) {
  write_file(token_file_, "wrong\n");
  auto w = start(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return w->status().last_error.find("401") != std::string::npos; }))
      << w->status().last_error;
  EXPECT_NE(w->status().last_error.find(token_file_.string()), std::string::npos)
      << w->status().last_error;
  EXPECT_FALSE(w->status().synced);
  swap_file(token_file_, "t1\n");
  ASSERT_TRUE(eventually([&] { return w->status().synced; })) << w->status().last_error;
  EXPECT_EQ(w->status().last_error, "");
}

TEST_F(ResourceWatchTest, A401ReadsTheTokenFileAgainEvenWhenItLooksUnchanged) {
  // Same inode, size and mtime: only the server's 401 can tell the client to read it again.
  write_file(token_file_, "tX\n");
  struct stat before {};
  ASSERT_EQ(::stat(token_file_.c_str(), &before), 0);
  auto w = start(config(), spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return w->status().last_error.find("401") != std::string::npos; }));
  {
    std::fstream f(token_file_, std::ios::in | std::ios::out | std::ios::binary);
    f << "t1\n";  // rewritten in place
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, token_file_.c_str(), times, 0), 0);
  struct stat after {};
  ASSERT_EQ(::stat(token_file_.c_str(), &after), 0);
  ASSERT_EQ(after.st_ino, before.st_ino);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  ASSERT_TRUE(eventually([&] { return w->status().synced; })) << w->status().last_error;
}

TEST_F(ResourceWatchTest, AServerSignedByAnotherCaIsRefused) {
  ApiConfig c = config();
  c.ca_file = server_->other_ca();
  auto w = start(c, spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  ASSERT_TRUE(eventually([&] { return !w->status().last_error.empty(); }));
  EXPECT_NE(w->status().last_error.find("certificate"), std::string::npos)
      << w->status().last_error;
  EXPECT_FALSE(w->status().synced);
  EXPECT_EQ(server_->counters()["list_pages"].value("pods", 0), 0);
}

TEST_F(ResourceWatchTest, KubeconfigWithCaFileAndTokenWorks) {
  const fs::path kube = dir_.path() / "kube";
  fs::create_directories(kube);
  fs::copy_file(server_->ca(), kube / "ca.crt");
  write_file(kube / "config",
             "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
             "contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n"
             "- name: test\n  context:\n    cluster: fake\n    user: agent\n"
             "clusters:\n- name: fake\n  cluster:\n    server: " +
                 server_->server() +
                 "\n    certificate-authority: ca.crt\n"
                 "users:\n- name: agent\n  user:\n    token: t1\n");
  auto c = kubeconfig_config((kube / "config").string());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, server_->server());
  EXPECT_EQ(c->ca_file, (kube / "ca.crt").string());  // relative to the kubeconfig
  EXPECT_EQ(c->token, "t1");
  server_->upsert(pod("ns", "a", "node-a"));
  auto w = synced(*c, spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  EXPECT_TRUE(has(*w, "ns/a"));
}

TEST_F(ResourceWatchTest, KubeconfigWithInlineCaAndClientCertificateWorks) {
  const fs::path path = dir_.path() / "kubeconfig";
  write_file(path,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
             "clusters:\n- name: k\n  cluster:\n    server: " +
                 server_->server() +
                 "\n    certificate-authority-data: " + base64(read_file(server_->ca())) +
                 "\nusers:\n- name: u\n  user:\n    client-certificate-data: " +
                 base64(read_file(server_->client_cert())) +
                 "\n    client-key-data: " + base64(read_file(server_->client_key())) + "\n");
  auto c = kubeconfig_config(path.string());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ca_pem, read_file(server_->ca()));
  EXPECT_EQ(c->client_cert_pem, read_file(server_->client_cert()));
  EXPECT_TRUE(c->token.empty() && c->token_file.empty());
  auto w = synced(*c, spec("/api/v1/services"));
  ASSERT_TRUE(w);
  EXPECT_EQ(server_->counters()["unauthorized"], 0);
}

TEST_F(ResourceWatchTest, InClusterServiceAccountDirWorks) {
  const fs::path account = dir_.path() / "serviceaccount";
  fs::create_directories(account);
  fs::copy_file(server_->ca(), account / "ca.crt");
  write_file(account / "token", "t1");
  const std::string port = server_->server().substr(server_->server().rfind(':') + 1);
  ::setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", port.c_str(), 1);
  auto c = in_cluster_config(account.string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, server_->server());
  EXPECT_EQ(c->token_file, (account / "token").string());
  server_->upsert(pod("kube-system", "dns", "node-a"));
  WatchSpec s = spec("/api/v1/namespaces/kube-system/pods");
  auto w = synced(*c, s);
  ASSERT_TRUE(w);
  EXPECT_TRUE(has(*w, "kube-system/dns"));
}

TEST_F(ResourceWatchTest, StopsPromptlyWhileConnectingToASilentPeer) {
  // A listening socket that never answers: the TLS handshake waits; the destructor must not.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ApiConfig c = config();
  c.server = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto w = start(c, spec("/api/v1/pods"));
  ASSERT_TRUE(w);
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(w->status().synced);
  w.reset();  // returns (a hang here fails the test by its timeout)
  ::close(fd);
}

TEST(ResourceWatchIpv6, WatchesAServerOnIpv6Loopback) {
  guardrail::test::TempDir dir("guardrail-kubeapi6");
  FakeApiServer server(dir.path(), "::1");
  if (!server.skip_reason().empty()) GTEST_SKIP() << server.skip_reason();
  if (!server.error().empty()) GTEST_SKIP() << "no IPv6 loopback here? " << server.error();
  write_file(dir.path() / "token", "t1");
  server.upsert(pod("ns", "v6", "node-a"));
  ApiConfig c;
  c.server = server.server();
  c.ca_file = server.ca();
  c.token_file = (dir.path() / "token").string();
  WatchSpec s;
  s.path = "/api/v1/pods";
  auto w = ResourceWatch::start(c, s, {});
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE(eventually([&] { return (*w)->status().synced; })) << (*w)->status().last_error;
  EXPECT_TRUE((*w)->objects().contains("ns/v6"));
}

// Config errors, without a server.
class ConfigTest : public ::testing::Test {
 protected:
  std::string error_of(const std::string& kubeconfig) {
    write_file(dir_.path() / "config", kubeconfig);
    auto c = kubeconfig_config((dir_.path() / "config").string());
    EXPECT_FALSE(c) << "accepted:\n" << kubeconfig;
    return c ? "" : c.error().message;
  }
  guardrail::test::TempDir dir_{"guardrail-kubeconfig"};
};

TEST_F(ConfigTest, KubeconfigErrorsNameWhatIsMissing) {
  EXPECT_NE(error_of("apiVersion: v1\nclusters: []\n").find("current-context"), std::string::npos);
  EXPECT_NE(error_of("current-context: x\ncontexts: []\n").find("no contexts entry named 'x'"),
            std::string::npos);
  const std::string context =
      "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n";
  EXPECT_NE(
      error_of(context + "users: [{name: u, user: {token: t}}]\n").find("clusters entry named 'k'"),
      std::string::npos);
  EXPECT_NE(error_of(context +
                     "clusters: [{name: k, cluster: {}}]\nusers: [{name: u, user: {token: t}}]\n")
                .find("has no 'server'"),
            std::string::npos);
  EXPECT_NE(error_of(context + "clusters: [{name: k, cluster: {server: 'http://1.2.3.4'}}]\n"
                               "users: [{name: u, user: {token: t}}]\n")
                .find("not https"),
            std::string::npos);
  EXPECT_NE(error_of(context +
                     "clusters: [{name: k, cluster: {server: 'https://1.2.3.4', "
                     "insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\n")
                .find("insecure-skip-tls-verify"),
            std::string::npos);
  const std::string cluster = "clusters: [{name: k, cluster: {server: 'https://1.2.3.4'}}]\n";
  EXPECT_NE(error_of(context + cluster + "users: [{name: u, user: {}}]\n").find("no token"),
            std::string::npos);
  EXPECT_NE(error_of(context + cluster + "users: [{name: u, user: {exec: {command: aws}}}]\n")
                .find("exec plugin"),
            std::string::npos);
  EXPECT_NE(error_of(context + cluster + "users: [{name: u, user: {tokenFile: missing}}]\n")
                .find((dir_.path() / "missing").string()),
            std::string::npos);
  EXPECT_NE(
      error_of(context + cluster + "users: [{name: u, user: {client-certificate-data: QUJD}}]\n")
          .find("without its key"),
      std::string::npos);
  EXPECT_NE(error_of(context + "clusters: [{name: k, cluster: {server: 'https://h', "
                               "certificate-authority-data: '!!'}}]\n"
                               "users: [{name: u, user: {token: t}}]\n")
                .find("not base64"),
            std::string::npos);
  EXPECT_NE(error_of("[1, 2").find("kubeconfig"), std::string::npos);
}

TEST_F(ConfigTest, KubeconfigTokenFileIsResolvedBesideIt) {
  write_file(dir_.path() / "tok", "secret\n");
  write_file(dir_.path() / "config",
             "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
             "clusters: [{name: k, cluster: {server: 'https://[::1]:6443/'}}]\n"
             "users: [{name: u, user: {tokenFile: tok}}]\n");
  auto c = kubeconfig_config((dir_.path() / "config").string());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->token_file, (dir_.path() / "tok").string());
  EXPECT_EQ(c->server, "https://[::1]:6443/");
  EXPECT_TRUE(c->ca_file.empty() && c->ca_pem.empty());  // system CAs
}

// kubeconfigs written as JSON (which is YAML; tests/integration/harness/kube_api.py does it).
TEST_F(ConfigTest, KubeconfigInJsonForm) {
  write_file(dir_.path() / "ca.pem", "pem");
  write_file(dir_.path() / "config", R"({"apiVersion": "v1", "current-context": "fake",
    "clusters": [{"name": "fake", "cluster": {"server": "https://127.0.0.1:1",
                  "certificate-authority": ")" +
                                         (dir_.path() / "ca.pem").string() + R"("}}],
    "users": [{"name": "fake", "user": {"token": "tok"}}],
    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]})");
  auto c = kubeconfig_config((dir_.path() / "config").string());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:1");
  EXPECT_EQ(c->ca_file, (dir_.path() / "ca.pem").string());
  EXPECT_EQ(c->token, "tok");
}

TEST_F(ConfigTest, InClusterNeedsTheEnvironmentTheTokenAndTheCa) {
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  auto no_env = in_cluster_config(dir_.path().string());
  ASSERT_FALSE(no_env);
  EXPECT_NE(no_env.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto no_token = in_cluster_config(dir_.path().string());
  ASSERT_FALSE(no_token);
  EXPECT_NE(no_token.error().message.find((dir_.path() / "token").string()), std::string::npos)
      << no_token.error().message;
  write_file(dir_.path() / "token", "t");
  auto no_ca = in_cluster_config(dir_.path().string());
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().message.find("ca.crt"), std::string::npos) << no_ca.error().message;
  write_file(dir_.path() / "ca.crt", "pem");
  auto c = in_cluster_config(dir_.path().string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://[fd00:10:96::1]:443");  // an IPv6 host in brackets
}

}  // namespace
}  // namespace guardrail::kubernetes
