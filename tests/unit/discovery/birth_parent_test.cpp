// Container parents shared with host services (the systemd driver's slices): bound as birth
// parents, never as placeholders; and the runtimes' scope names the kernel side matches too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "guardrail/discovery/discovery.hpp"

namespace guardrail::discovery {
namespace {
namespace fs = std::filesystem;

const std::string kId(64, 'a');
const std::string kHexId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(RuntimeScopeName, EachRuntimesScopeWithAFullId) {
  for (const char* prefix : {"docker-", "cri-containerd-", "crio-", "libpod-"}) {
    EXPECT_TRUE(runtime_scope_name(prefix + kHexId + ".scope")) << prefix;
    EXPECT_FALSE(runtime_scope_name(prefix + kHexId)) << prefix << ": no .scope";
    EXPECT_FALSE(runtime_scope_name(prefix + kHexId.substr(1) + ".scope")) << prefix << ": 63";
    EXPECT_FALSE(runtime_scope_name(prefix + kHexId + "0.scope")) << prefix << ": 65 digits";
    EXPECT_FALSE(runtime_scope_name(prefix + kHexId + ".slice")) << prefix;
  }
}

TEST(RuntimeScopeName, NotHostUnitsNorMonitorsNorUppercase) {
  EXPECT_FALSE(runtime_scope_name("foo.service"));
  EXPECT_FALSE(runtime_scope_name("foo.scope"));
  EXPECT_FALSE(runtime_scope_name("docker.service"));
  EXPECT_FALSE(runtime_scope_name("crio-conmon-" + kHexId + ".scope"));
  EXPECT_FALSE(runtime_scope_name("libpod-conmon-" + kHexId + ".scope"));
  std::string upper = kHexId;
  std::ranges::transform(upper, upper.begin(), ::toupper);
  EXPECT_FALSE(runtime_scope_name("docker-" + upper + ".scope"));
  std::string not_hex = kHexId;
  not_hex[10] = 'g';
  EXPECT_FALSE(runtime_scope_name("docker-" + not_hex + ".scope"));
  EXPECT_FALSE(runtime_scope_name("podman-" + kId + ".scope"));
  EXPECT_FALSE(runtime_scope_name(""));
}

TEST(BirthParentBinding, ExemptNamedLikeAPlaceholderAndRecognized) {
  const auto b = birth_parent_binding("/system.slice", 42, "sandbox");
  EXPECT_EQ(b.kind, policy::BindingKind::Exempt);
  EXPECT_EQ(b.zone, "sandbox");
  EXPECT_EQ(b.cgroup_id, 42u);
  EXPECT_TRUE(is_birth_parent(b));
  EXPECT_EQ(policy::anonymous_name(b), "sandbox:/system.slice/*");
  // A plain exempt binding (a kube-system pod) is none.
  policy::WorkloadBinding exempt{"", "", "/kubepods.slice/x", 7, {}};
  exempt.kind = policy::BindingKind::Exempt;
  EXPECT_FALSE(is_birth_parent(exempt));
  exempt.display_name = "kube-system/coredns";
  EXPECT_FALSE(is_birth_parent(exempt));
  auto placeholder = b;
  placeholder.kind = policy::BindingKind::Placeholder;
  EXPECT_FALSE(is_birth_parent(placeholder));
}

class SharedParents : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("gr-birth-" + std::to_string(::getpid()));
    fs::create_directories(root_ / "system.slice" / "foo.service");
    fs::create_directories(root_ / "gr.slice" / "gr-agents.slice");
  }
  void TearDown() override { fs::remove_all(root_); }

  policy::Policy policy(bool with_default = true) const {
    policy::Policy p;
    p.name = "t";
    p.zones.resize(1);
    p.zones[0].name = "sandbox";
    if (with_default) p.default_zone = "sandbox";
    return p;
  }
  const policy::WorkloadBinding* find(const Discovered& d, const std::string& path) const {
    const auto it = std::ranges::find(d.bindings, path, &policy::WorkloadBinding::cgroup_path);
    return it == d.bindings.end() ? nullptr : &*it;
  }
  fs::path root_;
};

TEST_F(SharedParents, TheSystemdDriversSliceIsABirthParentNeverAPlaceholder) {
  auto found = discover(policy(), root_.string(), false, nullptr,
                        {"/system.slice", "/gr.slice/gr-agents.slice"});
  ASSERT_TRUE(found) << found.error().message;
  for (const char* path : {"/system.slice", "/gr.slice/gr-agents.slice"}) {
    const auto* b = find(*found, path);
    ASSERT_NE(b, nullptr) << path;
    EXPECT_EQ(b->kind, policy::BindingKind::Exempt) << path;
    EXPECT_TRUE(is_birth_parent(*b)) << path;
    EXPECT_EQ(b->zone, "sandbox");
    // The cgroup programs go there, so a container born below is judged by them.
    EXPECT_TRUE(std::ranges::count(found->attach_points, root_.string() + path)) << path;
  }
  EXPECT_EQ(std::ranges::count(found->bindings, policy::BindingKind::Placeholder,
                               &policy::WorkloadBinding::kind),
            0);
  // The host service beside the containers is bound to nothing.
  EXPECT_EQ(find(*found, "/system.slice/foo.service"), nullptr);
}

TEST_F(SharedParents, ASliceIsNeverCreatedAndWithoutADefaultZoneNothingIsBound) {
  auto found = discover(policy(), root_.string(), false, nullptr, {"/missing.slice"});
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_FALSE(fs::exists(root_ / "missing.slice")) << "a slice is systemd's to make";
  EXPECT_EQ(find(*found, "/missing.slice"), nullptr);
  found = discover(policy(false), root_.string(), false, nullptr, {"/system.slice"});
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(find(*found, "/system.slice"), nullptr) << "no zone to be born into";
}

TEST_F(SharedParents, AGlobBelowASliceHoldsNoPlaceholder) {
  auto p = policy();
  p.zones[0].cgroup_globs = {"/system.slice/docker-*.scope"};
  EXPECT_TRUE(placeholders_for(p).empty());
  auto found = discover(p, root_.string(), false);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(find(*found, "/system.slice"), nullptr);
}

}  // namespace
}  // namespace guardrail::discovery
