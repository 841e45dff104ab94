// Where the API server is and how to authenticate to it: the in-cluster service account (what
// a DaemonSet pod gets), or the current context of a kubeconfig (runs outside the cluster, e.g.
// against a kind cluster from the host). TLS verification is never optional: a kubeconfig that
// asks to skip it is refused.
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "../policy/yaml_tree.hpp"
#include "guardrail/kubernetes/api_client.hpp"

namespace guardrail::kubernetes {
namespace {

namespace fs = std::filesystem;
namespace yaml = policy::detail::yaml;

constexpr std::size_t kMaxKubeconfig = std::size_t{4} << 20;

Result<std::string> read_text(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno(fmt::format("{}: cannot open {}", what, path.string()), errno);
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return fail_errno(fmt::format("{}: cannot read {}", what, path.string()), errno);
  return out.str();
}

Result<void> readable(const fs::path& path, std::string_view what) {
  if (::access(path.c_str(), R_OK) != 0)
    return fail_errno(fmt::format("{}: {} is not readable", what, path.string()), errno);
  return {};
}

// RFC 4648 base64 (kubeconfig's *-data fields); whitespace is skipped, anything else refused.
Result<std::string> base64_decode(std::string_view in, std::string_view what) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const auto v = kAlphabet.find(c);
    if (v == std::string_view::npos || padding)
      return fail(fmt::format("{}: not base64 (character '{}')", what, c));
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

yaml::Node get(const yaml::Node& map, std::string_view key) {
  for (const auto& [k, v] : map.entries())
    if (k.Scalar() == key) return v;
  return {};
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts): its inner map.
Result<yaml::Node> named(const yaml::Node& root, std::string_view list, std::string_view inner,
                         const std::string& name, std::string_view origin) {
  const yaml::Node entries = get(root, list);
  for (const yaml::Node& entry : entries) {
    if (get(entry, "name").Scalar() != name) continue;
    yaml::Node body = get(entry, inner);
    if (!body.IsMap())
      return fail(fmt::format("{}: {} entry '{}' has no '{}' map", origin, list, name, inner));
    return body;
  }
  return fail(
      fmt::format("{}: no {} entry named '{}' (named by the current context)", origin, list, name));
}

// A path of the kubeconfig, relative to the kubeconfig's own directory as kubectl reads it.
std::string resolve(const std::string& path, const fs::path& base) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (base / path).lexically_normal().string();
}

// A credential given inline as KEY-data (base64 PEM, into `pem`) or as the file KEY (into
// `file`, resolved beside the kubeconfig); the inline form wins, as in kubectl.
Result<void> pem_or_file(const yaml::Node& map, const std::string& key, const fs::path& base,
                         const std::string& what, std::string& pem, std::string& file) {
  if (auto data = get(map, key + "-data").Scalar(); !data.empty()) {
    auto decoded = base64_decode(data, what + "-data");
    if (!decoded) return propagate(decoded);
    pem = std::move(*decoded);
  } else if (auto path = get(map, key).Scalar(); !path.empty()) {
    file = resolve(path, base);
    GR_TRY(readable(file, what));
  }
  return {};
}

Result<void> cluster_part(const yaml::Node& cluster, const std::string& name, const fs::path& base,
                          std::string_view origin, ApiConfig& out) {
  out.server = get(cluster, "server").Scalar();
  if (out.server.empty())
    return fail(fmt::format("{}: cluster '{}' has no 'server'", origin, name));
  if (!out.server.starts_with("https://"))
    return fail(
        fmt::format("{}: cluster '{}' server '{}' is not https://: Guardrail talks to "
                    "the API server over TLS only",
                    origin, name, out.server));
  if (get(cluster, "insecure-skip-tls-verify").Scalar() == "true")
    return fail(
        fmt::format("{}: cluster '{}' sets insecure-skip-tls-verify; Guardrail always "
                    "verifies the API server: give certificate-authority(-data)",
                    origin, name));
  return pem_or_file(cluster, "certificate-authority", base,
                     fmt::format("{}: cluster '{}' certificate-authority", origin, name),
                     out.ca_pem, out.ca_file);
}

Result<void> user_part(const yaml::Node& user, const std::string& name, const fs::path& base,
                       std::string_view origin, ApiConfig& out) {
  const auto field = [&](std::string_view key) { return get(user, key).Scalar(); };
  const auto what = [&](std::string_view key) {
    return fmt::format("{}: user '{}' {}", origin, name, key);
  };
  out.token = field("token");
  if (auto file = field("tokenFile"); !file.empty()) {
    out.token_file = resolve(file, base);
    GR_TRY(readable(out.token_file, what("tokenFile")));
  }
  GR_TRY(pem_or_file(user, "client-certificate", base, what("client-certificate"),
                     out.client_cert_pem, out.client_cert_file));
  GR_TRY(pem_or_file(user, "client-key", base, what("client-key"), out.client_key_pem,
                     out.client_key_file));
  const bool has_cert = !out.client_cert_pem.empty() || !out.client_cert_file.empty();
  const bool has_key = !out.client_key_pem.empty() || !out.client_key_file.empty();
  if (has_cert != has_key)
    return fail(fmt::format("{}: user '{}' has a client {} without its {}", origin, name,
                            has_cert ? "certificate" : "key", has_cert ? "key" : "certificate"));
  if (out.token.empty() && out.token_file.empty() && !has_cert) {
    if (!get(user, "exec").IsNull() || !get(user, "auth-provider").IsNull())
      return fail(
          fmt::format("{}: user '{}' gets its credentials from an exec plugin or auth "
                      "provider, which Guardrail does not run: give it a token, "
                      "tokenFile or client certificate",
                      origin, name));
    return fail(
        fmt::format("{}: user '{}' has no token, tokenFile or client-certificate", origin, name));
  }
  return {};
}

}  // namespace

Result<ApiConfig> in_cluster_config(const std::string& account_dir) {
  constexpr std::string_view kWhat = "in-cluster Kubernetes config";
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return fail(fmt::format(
        "{}: {} is not set: not running in a pod? (outside the cluster, "
        "give a kubeconfig)",
        kWhat, !host || !*host ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT"));
  ApiConfig config;
  const std::string_view h(host);
  // An IPv6 service host (a single-stack IPv6 cluster) needs brackets in a URL.
  config.server = h.find(':') != std::string_view::npos && !h.starts_with('[')
                      ? fmt::format("https://[{}]:{}", h, port)
                      : fmt::format("https://{}:{}", h, port);
  const fs::path dir(account_dir);
  config.token_file = (dir / "token").string();
  config.ca_file = (dir / "ca.crt").string();
  GR_TRY(readable(config.token_file,
                  fmt::format("{}: the service account token (is automountServiceAccountToken "
                              "off?)",
                              kWhat)));
  GR_TRY(readable(config.ca_file, fmt::format("{}: the cluster CA", kWhat)));
  config.source = "in-cluster (" + account_dir + ")";
  return config;
}

Result<ApiConfig> kubeconfig_config(const std::string& path) {
  const std::string origin = "kubeconfig " + path;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(fmt::format("{}: cannot read it: {}", origin, ec.message()));
  if (size > kMaxKubeconfig)
    return fail(fmt::format("{}: {} bytes, larger than a kubeconfig can be", origin, size));
  auto text = read_text(path, origin);
  if (!text) return propagate(text);
  auto stream = yaml::load_all(*text);
  if (!stream)
    return fail(fmt::format("{}:{}:{}: {}", origin, stream.error().mark.line + 1,
                            stream.error().mark.column + 1, stream.error().message));
  if (stream->documents.empty() || !stream->documents.front().IsMap())
    return fail(origin + ": not a kubeconfig (expected a YAML map)");
  const yaml::Node& root = stream->documents.front();
  const std::string context_name = get(root, "current-context").Scalar();
  if (context_name.empty())
    return fail(origin + ": no current-context (set one with kubectl config use-context)");
  auto context = named(root, "contexts", "context", context_name, origin);
  if (!context) return propagate(context);
  const std::string cluster_name = get(*context, "cluster").Scalar();
  const std::string user_name = get(*context, "user").Scalar();
  if (cluster_name.empty())
    return fail(fmt::format("{}: context '{}' has no 'cluster'", origin, context_name));
  if (user_name.empty())
    return fail(fmt::format("{}: context '{}' has no 'user'", origin, context_name));
  auto cluster = named(root, "clusters", "cluster", cluster_name, origin);
  if (!cluster) return propagate(cluster);
  auto user = named(root, "users", "user", user_name, origin);
  if (!user) return propagate(user);

  const fs::path base = fs::absolute(path, ec).parent_path();
  ApiConfig config;
  GR_TRY(cluster_part(*cluster, cluster_name, base, origin, config));
  GR_TRY(user_part(*user, user_name, base, origin, config));
  config.source = fmt::format("{} (context {})", origin, context_name);
  return config;
}

}  // namespace guardrail::kubernetes
