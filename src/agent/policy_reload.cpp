#include "policy_reload.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "guardrail/policy/list_file.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::agent {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

Result<PolicyText> read_policy_text(const std::string& path) {
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Close> file(std::fopen(path.c_str(), "rb"));
  if (!file) return fail(std::string("cannot read: ") + std::strerror(errno));
  PolicyText out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) out.text.append(buf, n);
  if (std::ferror(file.get())) return fail(std::string("cannot read: ") + std::strerror(EIO));
  out.sha256 = sha256_hex(out.text);
  return out;
}

PolicyFile read_policy_file(const std::string& path, bool force_audit) {
  PolicyFile out;
  auto text = read_policy_text(path);
  if (!text) {
    out.errors.push_back(path + ": " + text.error().message);
    return out;
  }
  out.sha256 = text->sha256;
  auto parsed = policy::parse_policy(text->text, path);
  if (!parsed) {
    for (const auto& d : parsed.error()) out.errors.push_back(d.format());
    return out;
  }
  // The list files (cidrFile, addressFile) are part of the policy: the hash covers them, in
  // order, so /readyz and the reload's "unchanged" check see a changed list. They are read again
  // here; one changed between the parse and this read changes the hash, so the next reload (the
  // watch sees the change) applies it.
  if (const auto lists = policy::list_files(*parsed); !lists.empty()) {
    std::string all = text->text;
    for (const std::string& list : lists) {
      auto content = read_policy_text(list);
      all += '\0' + list + '\0' + (content ? content->sha256 : "unreadable");
    }
    out.sha256 = sha256_hex(all);
  }
  if (force_audit) {
    parsed->mode = policy::Mode::Audit;
    for (auto& z : parsed->zones) z.mode = policy::Mode::Audit;
  }
  out.policy = std::move(*parsed);
  return out;
}

std::set<Guard> guards_needing_restart(const std::set<Guard>& requested,
                                       const std::set<Guard>& loaded,
                                       const std::vector<probe::GuardBackend>* host_backends) {
  std::set<Guard> out;
  if (!host_backends) return out;
  if (std::ranges::any_of(*host_backends,
                          [](const probe::GuardBackend& g) { return g.backend == Backend::Lsm; }))
    return out;
  for (Guard guard : requested) {
    if (guard == Guard::Network || guard == Guard::Bpf || loaded.contains(guard)) continue;
    const bool runnable = std::ranges::any_of(*host_backends, [&](const probe::GuardBackend& g) {
      return g.guard == guard && g.backend != Backend::Unavailable &&
             g.backend != Backend::NotEnforced;
    });
    if (runnable) out.insert(guard);
  }
  return out;
}

std::string guard_list(const std::set<Guard>& guards) {
  std::string out;
  for (Guard g : guards) out += (out.empty() ? "" : ", ") + std::string(guard_name(g));
  return out;
}

}  // namespace guardrail::agent
