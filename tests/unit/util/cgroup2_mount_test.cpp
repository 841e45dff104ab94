// parse_cgroup2_mount() on sample /proc/self/mounts tables.
#include "guardrail/util/cgroup2_mount.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace guardrail {
namespace {

TEST(Cgroup2Mount, UnifiedHost) {
  EXPECT_EQ(parse_cgroup2_mount("sysfs /sys sysfs rw 0 0\n"
                                "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"),
            "/sys/fs/cgroup");
}

TEST(Cgroup2Mount, HybridHost) {
  EXPECT_EQ(parse_cgroup2_mount("tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0\n"
                                "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
                                "cgroup /sys/fs/cgroup/systemd cgroup rw,name=systemd 0 0\n"
                                "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
                                "bpf /sys/fs/bpf bpf rw 0 0\n"),
            "/sys/fs/cgroup/unified");
}

TEST(Cgroup2Mount, V1OnlyHostHasNone) {
  EXPECT_EQ(parse_cgroup2_mount("tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
                                "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"),
            "");
  EXPECT_EQ(parse_cgroup2_mount(""), "");
}

TEST(Cgroup2Mount, TypeIsMatchedNotTheDeviceName) {
  // The device field is free text: a v1 mount may well be called "cgroup2".
  EXPECT_EQ(parse_cgroup2_mount("cgroup2 /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
                                "none /mnt/cg2 cgroup2 rw 0 0"),
            "/mnt/cg2");
}

TEST(Cgroup2Mount, StandardPathWinsOverAnEarlierOddOne) {
  EXPECT_EQ(parse_cgroup2_mount("none /run/other cgroup2 rw 0 0\n"
                                "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"),
            "/sys/fs/cgroup/unified");
  EXPECT_EQ(parse_cgroup2_mount("none /run/a cgroup2 rw 0 0\nnone /run/b cgroup2 rw 0 0\n"),
            "/run/a");
}

TEST(Cgroup2Mount, OctalEscapesAreDecoded) {
  EXPECT_EQ(parse_cgroup2_mount("none /mnt/my\\040cgroups cgroup2 rw 0 0\n"), "/mnt/my cgroups");
}

TEST(Cgroup2Mount, FindReadsTheFileAndToleratesAMissingOne) {
  EXPECT_EQ(find_cgroup2_mount("/nonexistent/mounts"), "");
  auto path = testing::TempDir() + "/probe_mounts_sample";
  std::ofstream(path) << "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
  EXPECT_EQ(find_cgroup2_mount(path), "/sys/fs/cgroup/unified");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace guardrail
