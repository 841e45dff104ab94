// IP prefixes: parsing "a.b.c.d/n", "x::y/n" or a bare address into the IPv4-mapped 16-byte
// form the BPF maps use, and formatting addresses back.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>
#include <string>

#include "guardrail/policy/model.hpp"

namespace guardrail::policy {
namespace {

// Clears every bit of `addr` past the first `bits`.
std::array<std::uint8_t, 16> masked(std::array<std::uint8_t, 16> addr, int bits) {
  for (int i = 0; i < 16; ++i) {
    const int keep = bits - i * 8;
    if (keep >= 8) continue;
    addr[i] &= keep <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - keep));
  }
  return addr;
}

}  // namespace

int Cidr::mapped_prefix_len() const { return family == AF_INET ? prefix_len + 96 : prefix_len; }

Result<Cidr> parse_cidr(const std::string& text) {
  const auto slash = text.find('/');
  const std::string addr_text = text.substr(0, slash);
  Cidr cidr;
  cidr.text = text;
  if (addr_text.find(':') != std::string::npos) {
    cidr.family = AF_INET6;
    if (inet_pton(AF_INET6, addr_text.c_str(), cidr.addr.data()) != 1)
      return fail("'" + text + "' is not an IPv4 or IPv6 address; write e.g. 198.18.0.0/15 or " +
                  "2001:db8::/32");
  } else {
    cidr.family = AF_INET;
    cidr.addr[10] = cidr.addr[11] = 0xff;
    if (inet_pton(AF_INET, addr_text.c_str(), cidr.addr.data() + 12) != 1)
      return fail("'" + text + "' is not an IPv4 or IPv6 address; write e.g. 198.18.0.0/15 or " +
                  "2001:db8::/32");
  }
  const int max_len = cidr.family == AF_INET ? 32 : 128;
  const std::string family_name = cidr.family == AF_INET ? "IPv4" : "IPv6";
  cidr.prefix_len = max_len;
  if (slash != std::string::npos) {
    const std::string len_text = text.substr(slash + 1);
    const bool digits_only =
        !len_text.empty() && len_text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only)
      return fail("'" + text + "' has no valid prefix length after '/'; write a number 0-" +
                  std::to_string(max_len) + " for " + family_name);
    int len = 0;
    const auto parsed = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (parsed.ec != std::errc() || len > max_len)
      return fail("'" + text + "': prefix length /" + len_text + " is out of range for " +
                  family_name + "; use 0-" + std::to_string(max_len));
    cidr.prefix_len = len;
  }
  const auto network = masked(cidr.addr, cidr.mapped_prefix_len());
  if (network != cidr.addr) {
    return fail("'" + text + "' has host bits set; use the network address " +
                format_address(network, cidr.family) + "/" + std::to_string(cidr.prefix_len) +
                " (or the bare address for a single host)");
  }
  return cidr;
}

std::string format_address(const std::array<std::uint8_t, 16>& addr, int family) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET)
    inet_ntop(AF_INET, addr.data() + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  return buf;
}

}  // namespace guardrail::policy
