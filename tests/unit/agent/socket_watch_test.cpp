// The socket watch: where each path is watched (its directory through symlinks, the nearest
// existing ancestor of a missing one), and which changes wake it (a socket bound, renamed over
// the path or removed; a missing directory appearing), with real sockets in a temp dir.
#include "socket_watch.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "guardrail/util/unique_fd.hpp"
#include "testing/temp_dir.hpp"

namespace guardrail::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string real(const fs::path& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? buf : "";
}

// A listening unix socket bound at `path` (closing the fd leaves the socket file behind).
UniqueFd bind_socket(const fs::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), 1) != 0)
    ADD_FAILURE() << "bind " << path << ": " << std::strerror(errno);
  return fd;
}

// Waits up to 2 s for `on_change` to have run more than `seen` times; then takes the change.
class Watched {
 public:
  Watched() {
    auto w = SocketWatch::start([this] { calls_++; });
    if (!w) throw std::runtime_error(w.error().message);
    watch_ = std::move(*w);
  }
  SocketWatch& operator*() { return *watch_; }
  SocketWatch* operator->() { return watch_.get(); }
  // The thread saw a change (within 2 s), and take_changed() hands it over once.
  bool woke_and_changed() {
    for (int i = 0; i < 200 && calls_ <= seen_; ++i) std::this_thread::sleep_for(10ms);
    const bool woke = calls_ > seen_;
    seen_ = calls_;
    return woke && watch_->take_changed();
  }
  // Nothing to report, after a moment for the thread to have seen whatever came.
  bool quiet() {
    std::this_thread::sleep_for(100ms);
    seen_ = calls_;
    return !watch_->take_changed();
  }

 private:
  std::atomic<int> calls_{0};
  int seen_ = 0;
  std::unique_ptr<SocketWatch> watch_;
};

TEST(WatchPoints, AnExistingDirectoryAndTheSocketsName) {
  test::TempDir dir;
  const auto points = watch_points((dir.path() / "docker.sock").string());
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].dir, real(dir.path()));
  EXPECT_EQ(points[0].name, "docker.sock");
}

TEST(WatchPoints, AMissingDirectoryThroughItsNearestExistingAncestor) {
  test::TempDir dir;
  const auto points = watch_points((dir.path() / "containerd/sub/containerd.sock").string());
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].dir, real(dir.path()));
  EXPECT_EQ(points[0].name, "containerd");
}

TEST(WatchPoints, ASymlinkedDirectoryIsResolved) {
  test::TempDir dir;
  fs::create_directory(dir.path() / "run");
  fs::create_directory_symlink("run", dir.path() / "varrun");  // like /var/run -> /run
  const auto points = watch_points((dir.path() / "varrun/docker.sock").string());
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].dir, real(dir.path() / "run"));
  EXPECT_EQ(points[0].name, "docker.sock");
}

TEST(WatchPoints, ASymlinkAtThePathAlsoWatchesItsTarget) {
  test::TempDir dir;
  fs::create_directory(dir.path() / "real");
  auto fd = bind_socket(dir.path() / "real/allowed.sock");
  fs::create_symlink(dir.path() / "real/allowed.sock", dir.path() / "link.sock");
  const auto points = watch_points((dir.path() / "link.sock").string());
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].name, "link.sock");
  EXPECT_EQ(points[1].dir, real(dir.path() / "real"));
  EXPECT_EQ(points[1].name, "allowed.sock");
}

TEST(WatchPoints, ARelativePathHasNone) { EXPECT_TRUE(watch_points("run/docker.sock").empty()); }

TEST(SocketWatch, ASocketBoundAtThePathWakesIt) {
  test::TempDir dir;
  Watched w;
  EXPECT_TRUE(w->follow({(dir.path() / "a.sock").string()}).empty());
  EXPECT_EQ(w->watched_dirs(), 1u);
  EXPECT_TRUE(w.quiet());
  auto fd = bind_socket(dir.path() / "a.sock");
  EXPECT_TRUE(w.woke_and_changed());
  EXPECT_TRUE(w.quiet());  // handed over once
}

TEST(SocketWatch, OtherNamesInTheDirectoryDoNot) {
  test::TempDir dir;
  Watched w;
  w->follow({(dir.path() / "a.sock").string()});
  auto fd = bind_socket(dir.path() / "b.sock");
  std::ofstream(dir.path() / "a.sock.txt") << "x";
  EXPECT_TRUE(w.quiet());
}

TEST(SocketWatch, ASocketRenamedOverThePathAndItsRemovalWakeIt) {
  test::TempDir dir;
  auto old_fd = bind_socket(dir.path() / "a.sock");
  Watched w;
  w->follow({(dir.path() / "a.sock").string()});
  // Bound at a temporary name (not watched), then renamed over the path: a new inode there.
  auto new_fd = bind_socket(dir.path() / "a.sock.tmp");
  EXPECT_TRUE(w.quiet());
  fs::rename(dir.path() / "a.sock.tmp", dir.path() / "a.sock");
  EXPECT_TRUE(w.woke_and_changed());
  fs::remove(dir.path() / "a.sock");
  EXPECT_TRUE(w.woke_and_changed());
}

TEST(SocketWatch, TakeChangedSeesAChangeBeforeTheThreadDoes) {
  // take_changed() reads inotify itself: right after bind() returns it already reports it.
  test::TempDir dir;
  Watched w;
  w->follow({(dir.path() / "a.sock").string()});
  auto fd = bind_socket(dir.path() / "a.sock");
  EXPECT_TRUE(w->take_changed());
}

TEST(SocketWatch, AMissingDirectoryIsFollowedUntilItAppears) {
  test::TempDir dir;
  Watched w;
  w->follow({(dir.path() / "containerd/containerd.sock").string()});
  fs::create_directory(dir.path() / "containerd");
  EXPECT_TRUE(w.woke_and_changed());
  // Now the new directory itself is watched.
  auto fd = bind_socket(dir.path() / "containerd/containerd.sock");
  EXPECT_TRUE(w.woke_and_changed());
  // The directory removed and made again: followed again.
  fd.reset();
  fs::remove_all(dir.path() / "containerd");
  EXPECT_TRUE(w.woke_and_changed());
  fs::create_directory(dir.path() / "containerd");
  EXPECT_TRUE(w.woke_and_changed());
  auto again = bind_socket(dir.path() / "containerd/containerd.sock");
  EXPECT_TRUE(w.woke_and_changed());
}

TEST(SocketWatch, ADirectoryThatComesAndGoesWhileTheWatchReArmsIsNeverLost) {
  // The thread re-arms while the tree changes under it (containerd restarting: its socket and
  // directory removed and made again). A directory removed between finding it and watching it
  // must leave its parent watched, never nothing: churn, then check the path is followed still.
  test::TempDir dir;
  const auto sub = dir.path() / "containerd";
  Watched w;
  w->follow({(sub / "containerd.sock").string()});
  for (int i = 0; i < 300; ++i) {
    fs::create_directory(sub);
    bind_socket(sub / "containerd.sock").reset();
    fs::remove_all(sub);
  }
  std::this_thread::sleep_for(100ms);
  w->take_changed();  // what the churn itself changed is not the question
  fs::create_directory(sub);
  EXPECT_TRUE(w->take_changed()) << "the directory made again went unseen";
  auto fd = bind_socket(sub / "containerd.sock");
  EXPECT_TRUE(w->take_changed()) << "the socket bound in it went unseen";
}

TEST(SocketWatch, ThroughASymlinkedDirectory) {
  test::TempDir dir;
  fs::create_directory(dir.path() / "run");
  fs::create_directory_symlink("run", dir.path() / "varrun");
  Watched w;
  w->follow(
      {(dir.path() / "varrun/docker.sock").string(), (dir.path() / "run/docker.sock").string()});
  EXPECT_EQ(w->watched_dirs(), 1u);  // one directory, however many spellings
  auto fd = bind_socket(dir.path() / "run/docker.sock");
  EXPECT_TRUE(w.woke_and_changed());
}

TEST(SocketWatch, FollowReplacesThePaths) {
  test::TempDir dir;
  fs::create_directory(dir.path() / "one");
  fs::create_directory(dir.path() / "two");
  Watched w;
  w->follow({(dir.path() / "one/a.sock").string()});
  w->follow({(dir.path() / "two/a.sock").string()});
  EXPECT_EQ(w->watched_dirs(), 1u);
  auto fd = bind_socket(dir.path() / "one/a.sock");
  EXPECT_TRUE(w.quiet());
  auto fd2 = bind_socket(dir.path() / "two/a.sock");
  EXPECT_TRUE(w.woke_and_changed());
}

}  // namespace
}  // namespace guardrail::agent
