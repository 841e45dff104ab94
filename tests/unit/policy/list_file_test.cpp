// List files of prefixes (guardrail/policy/list_file.hpp): an egress rule's cidrFile and a
// workload's addressFile, read beside the policy file, with positioned errors and limits.
#include "guardrail/policy/list_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::policy {
namespace {

namespace fs = std::filesystem;

class ListFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("guardrail-lists-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  // A policy at dir_/policy.yaml whose zone's egress is `egress` (YAML flow items).
  ParseResult policy(const std::string& egress, const std::string& workloads = "") {
    const std::string text =
        "apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\nmetadata:\n  name: t\nspec:\n"
        "  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n"
        "      egress:\n" +
        egress + workloads;
    return load_policy_file(write("policy.yaml", text));
  }
  static std::string errors(const ParseResult& p) {
    std::string out;
    if (!p)
      for (const auto& d : p.error()) out += d.format() + "\n";
    return out;
  }
  fs::path dir_;
};

TEST_F(ListFiles, CidrFileIsReadBesideThePolicyWithCommentsAndBlankLines) {
  write("allow.txt",
        "# the allowlist\n198.18.1.0/24\n\n   198.18.2.7  # one host\n2001:db8::/32\r\n");
  const auto p = policy("        - {cidrFile: allow.txt, protocol: tcp, ports: [443]}\n");
  ASSERT_TRUE(p) << errors(p);
  const EgressRule& rule = p->zones[0].egress[0];
  EXPECT_EQ(rule.cidr_file, (dir_ / "allow.txt").string());
  ASSERT_EQ(rule.file_cidrs.size(), 3u);
  EXPECT_EQ(rule.file_cidrs[1].prefix_len, 32);
  EXPECT_EQ(list_files(*p), std::vector<std::string>{(dir_ / "allow.txt").string()});
  const auto compiled = compile(*p, {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ(compiled->egress.size(), 3u);
  for (const auto& [key, set] : compiled->egress) EXPECT_EQ(set.ranges[0].lo, 443);
}

TEST_F(ListFiles, AnAbsolutePathIsTakenAsIs) {
  const std::string path = write("abs.txt", "198.18.3.0/24\n");
  const auto p = policy("        - {cidrFile: \"" + path + "\"}\n");
  ASSERT_TRUE(p) << errors(p);
  EXPECT_EQ(p->zones[0].egress[0].file_cidrs.size(), 1u);
}

TEST_F(ListFiles, ABadLineIsAnErrorAtItsLineNamingTheFix) {
  write("bad.txt", "198.18.0.0/15\n\n# fine\n198.18.1.3/24\nnot-an-address\n");
  const auto p = policy("        - {cidrFile: bad.txt}\n");
  ASSERT_FALSE(p);
  const std::string e = errors(p);
  const std::string file = (dir_ / "bad.txt").string();
  EXPECT_NE(e.find(file + ":4: error: invalid prefix: '198.18.1.3/24' has host bits set; use "
                          "the network address 198.18.1.0/24"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(file + ":5: error: invalid prefix: 'not-an-address'"), std::string::npos) << e;
}

TEST_F(ListFiles, CidrAndCidrFileTogetherAreRefused) {
  write("a.txt", "198.18.1.0/24\n");
  const auto p = policy("        - {cidr: 198.18.2.0/24, cidrFile: a.txt}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find("gives cidr or cidrFile, not both"), std::string::npos) << errors(p);
}

TEST_F(ListFiles, AMissingOrEmptyFileIsRefused) {
  auto p = policy("        - {cidrFile: missing.txt}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find("missing.txt: error: cannot read: No such file"), std::string::npos)
      << errors(p);
  write("empty.txt", "# nothing yet\n\n");
  p = policy("        - {cidrFile: empty.txt}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find("lists no prefix"), std::string::npos) << errors(p);
}

TEST_F(ListFiles, TooManyLinesIsOneErrorNamingTheLimit) {
  std::string many(kMaxListFileLines + 1, '\n');  // blank lines count: the limit is on lines
  write("long.txt", many);
  const auto p = policy("        - {cidrFile: long.txt}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find(":2097153: error: more than 2097152 lines; split the list"),
            std::string::npos)
      << errors(p);
}

TEST_F(ListFiles, TooLargeAFileIsRefusedBeforeItIsReadWhole) {
  {
    std::ofstream out(dir_ / "big.txt");
    out.seekp(static_cast<std::streamoff>(kMaxListFileBytes) + 1);
    out << '\n';
  }
  const auto p = policy("        - {cidrFile: big.txt}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find("more than 67108864 bytes; split the list"), std::string::npos)
      << errors(p);
}

TEST_F(ListFiles, AddressFileAddsAWorkloadsStaticAddresses) {
  write("addrs.txt", "198.18.5.1\n198.18.5.2 # second\n");
  const auto p = policy("        - {cidr: 198.18.200.0/24}\n",
                        "  workloads:\n    - name: w\n      zone: agents\n"
                        "      cgroup: /g/a/w\n      addresses: [198.18.5.9]\n"
                        "      addressFile: addrs.txt\n");
  ASSERT_TRUE(p) << errors(p);
  EXPECT_EQ(p->workloads[0].addresses.size(), 3u);
  EXPECT_EQ(list_files(*p), std::vector<std::string>{(dir_ / "addrs.txt").string()});
}

TEST_F(ListFiles, AnAddressOfTheFileClaimedTwiceIsRefused) {
  write("addrs.txt", "198.18.5.1\n");
  const auto p = policy("        - {cidr: 198.18.200.0/24}\n",
                        "  workloads:\n    - name: w\n      zone: agents\n"
                        "      cgroup: /g/a/w\n      addresses: [198.18.5.1]\n"
                        "    - name: v\n      zone: agents\n      cgroup: /g/a/v\n"
                        "      addressFile: addrs.txt\n");
  ASSERT_FALSE(p);
  EXPECT_NE(errors(p).find("is already claimed by workload 'w'"), std::string::npos) << errors(p);
}

}  // namespace
}  // namespace guardrail::policy
