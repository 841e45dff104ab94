#include "guardrail/docker/daemon_config.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail::docker {
namespace {
namespace fs = std::filesystem;

TEST(DockerDaemonConfig, CgroupParentFromTheCommandLineInEitherSpelling) {
  EXPECT_EQ(configured_cgroup_parent({"dockerd", "--cgroup-parent", "/x"}, "/nonexistent"), "/x");
  EXPECT_EQ(configured_cgroup_parent({"dockerd", "--cgroup-parent=/y", "-D"}, "/nonexistent"),
            "/y");
  EXPECT_EQ(configured_cgroup_parent({"dockerd", "-D"}, "/nonexistent"), "");
}

TEST(DockerDaemonConfig, CgroupParentFromTheDaemonJsonItReads) {
  const fs::path root = fs::temp_directory_path() / ("gr-daemon-" + std::to_string(::getpid()));
  fs::create_directories(root / "etc/docker");
  fs::create_directories(root / "cfg");
  std::ofstream(root / "etc/docker/daemon.json") << R"({"cgroup-parent": "/from-default"})";
  std::ofstream(root / "cfg/d.json") << R"({"cgroup-parent": "/from-flag", "debug": true})";
  EXPECT_EQ(configured_cgroup_parent({"dockerd"}, root.string()), "/from-default");
  EXPECT_EQ(configured_cgroup_parent({"dockerd", "--config-file", "/cfg/d.json"}, root.string()),
            "/from-flag");
  // The command line wins over the file, as in dockerd.
  EXPECT_EQ(configured_cgroup_parent({"dockerd", "--cgroup-parent", "/cli"}, root.string()),
            "/cli");
  std::ofstream(root / "etc/docker/daemon.json") << "not json";
  EXPECT_EQ(configured_cgroup_parent({"dockerd"}, root.string()), "");
  fs::remove_all(root);
}

TEST(DockerDaemonConfig, WhereContainersGo) {
  EXPECT_EQ(containers_parent("cgroupfs", "", "/"), "/docker");
  EXPECT_EQ(containers_parent("cgroupfs", "/gr-parent", "/"), "/gr-parent");
  EXPECT_EQ(containers_parent("cgroupfs", "/gr-parent/", "/"), "/gr-parent");
  EXPECT_EQ(containers_parent("cgroupfs", "relative", "/daemons/dockerd"),
            "/daemons/dockerd/relative");
  EXPECT_EQ(containers_parent("systemd", "", "/"), "/system.slice");
  EXPECT_EQ(containers_parent("systemd", "gr-agents.slice", "/"), "/gr.slice/gr-agents.slice");
  EXPECT_EQ(slice_path("-.slice"), "");
  EXPECT_EQ(slice_path("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
}

TEST(DockerDaemonConfig, HostServicesParentsAreNotContainersOnly) {
  EXPECT_TRUE(parent_holds_only_containers("/docker"));
  EXPECT_TRUE(parent_holds_only_containers("/gr.slice/gr-agents.slice"));
  EXPECT_FALSE(parent_holds_only_containers("/system.slice"));
  EXPECT_FALSE(parent_holds_only_containers("/user.slice"));
  EXPECT_FALSE(parent_holds_only_containers(""));
  EXPECT_FALSE(parent_holds_only_containers("/"));
}

TEST(DockerDaemonConfig, TheSocketOwnerIsTheListeningProcess) {
  const std::string path =
      (fs::temp_directory_path() / ("gr-peercred-" + std::to_string(::getpid()))).string();
  UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(server);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(server.get(), 4), 0);
  auto pid = socket_owner_pid(path);
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(*pid, ::getpid());
  const auto argv = process_argv(::getpid());
  ASSERT_FALSE(argv.empty());
  EXPECT_NE(argv[0].find("guardrail_docker_tests"), std::string::npos) << argv[0];
  ::unlink(path.c_str());
  auto gone = socket_owner_pid(path);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find(path), std::string::npos);
}

}  // namespace
}  // namespace guardrail::docker
