#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "guardrail/policy/model.hpp"

namespace guardrail::policy {
namespace {

using Bytes = std::array<std::uint8_t, 16>;

// `text` parses to this family, prefix length, mapped prefix length and address.
void expect_cidr(const std::string& text, int family, int prefix_len, int mapped_prefix_len,
                 const Bytes& addr) {
  auto c = parse_cidr(text);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->family, family) << text;
  EXPECT_EQ(c->prefix_len, prefix_len) << text;
  EXPECT_EQ(c->mapped_prefix_len(), mapped_prefix_len) << text;
  EXPECT_EQ(c->addr, addr) << text;
}

TEST(PolicyCidr, ParsesIpv4PrefixIntoMappedForm) {
  expect_cidr("198.18.0.0/15", AF_INET, 15, 111,
              Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 0});
  auto c = parse_cidr("198.18.0.0/15");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->text, "198.18.0.0/15");
}

TEST(PolicyCidr, BareIpv4AddressIsAFullLengthPrefix) {
  expect_cidr("198.18.0.2", AF_INET, 32, 128,
              Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2});
}

TEST(PolicyCidr, ParsesIpv6PrefixAndBareAddress) {
  expect_cidr("2001:db8::/32", AF_INET6, 32, 32, Bytes{0x20, 0x01, 0x0d, 0xb8});
  expect_cidr("fd00::2", AF_INET6, 128, 128,
              Bytes{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
}

TEST(PolicyCidr, ZeroLengthPrefixes) {
  auto v4 = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_EQ(v4->mapped_prefix_len(), 96);
  auto v6 = parse_cidr("::/0");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->mapped_prefix_len(), 0);
}

TEST(PolicyCidr, HostBitsSetSuggestsTheNetwork) {
  auto c = parse_cidr("198.18.200.7/24");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "'198.18.200.7/24' has host bits set; use the network address 198.18.200.0/24 (or "
            "the bare address for a single host)");
  auto v6 = parse_cidr("2001:db8::1/64");
  ASSERT_FALSE(v6);
  EXPECT_NE(v6.error().message.find("use the network address 2001:db8::/64"), std::string::npos)
      << v6.error().message;
  // A prefix length that is not a multiple of 8.
  auto odd = parse_cidr("198.19.0.0/15");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("use the network address 198.18.0.0/15"), std::string::npos)
      << odd.error().message;
}

TEST(PolicyCidr, PrefixLengthOutOfRange) {
  auto v4 = parse_cidr("10.0.0.0/33");
  ASSERT_FALSE(v4);
  EXPECT_EQ(v4.error().message,
            "'10.0.0.0/33': prefix length /33 is out of range for IPv4; use 0-32");
  auto v6 = parse_cidr("fd00::/129");
  ASSERT_FALSE(v6);
  EXPECT_EQ(v6.error().message,
            "'fd00::/129': prefix length /129 is out of range for IPv6; use 0-128");
  auto huge = parse_cidr("10.0.0.0/99999999999");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("out of range"), std::string::npos);
}

TEST(PolicyCidr, PrefixLengthNotANumber) {
  for (const std::string text : {"10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/24/8"}) {
    auto c = parse_cidr(text);
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().message.find("no valid prefix length"), std::string::npos)
        << c.error().message;
  }
}

TEST(PolicyCidr, NotAnAddress) {
  for (const std::string text : {"", "foo", "300.1.1.1", "10.0.0", "fd00:::1", " 10.0.0.1"}) {
    auto c = parse_cidr(text);
    ASSERT_FALSE(c) << text;
    EXPECT_EQ(c.error().message, "'" + text +
                                     "' is not an IPv4 or IPv6 address; write e.g. 198.18.0.0/15 "
                                     "or 2001:db8::/32");
  }
}

TEST(PolicyCidr, FormatsAddresses) {
  EXPECT_EQ(format_address(Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 3}, AF_INET),
            "198.18.0.3");
  EXPECT_EQ(format_address(Bytes{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, AF_INET6),
            "fd00::1");
}

}  // namespace
}  // namespace guardrail::policy
