// Internal to src/policy: what the steps of the policy parser share. The Parser walks the YAML
// document top down (parse.cpp: document, metadata, spec; parse_zone.cpp: zones, selectors,
// egress; parse_guards.cpp: host guards; parse_workload.cpp: workloads and flows), reading
// fields with the readers in parse_fields.cpp and checking values with parse_values.cpp. Every
// problem becomes a positioned Diagnostic; parsing goes on to find the others.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "guardrail/util/result.hpp"
#include "yaml_tree.hpp"

namespace guardrail::policy::detail {

// ---- text for diagnostics (parse_suggest.cpp) --------------------------------------------------

// How a node reads in a message: "a list", "a map", "'text'" or "nothing".
std::string describe_node(const yaml::Node& node);

// "a, b, c".
template <typename Range>
std::string join(const Range& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate `word` is most likely a misspelling of, or "" when none is close.
template <typename Range>
std::string closest(std::string_view word, const Range& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance && d < std::string_view(candidate).size()) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

// "; did you mean 'x'?" for a likely misspelling `best`, "" for none.
inline std::string did_you_mean(const std::string& best) {
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

// "; did you mean 'x'?" when one candidate is a likely misspelling of `word`, else "".
template <typename Range>
std::string suggestion(std::string_view word, const Range& candidates) {
  return did_you_mean(closest(word, candidates));
}

std::string upper(std::string_view s);

// "CAP_NET_RAW" for "CAP_NET_RAWW" or "net_raww": the capability (or "ALL") `word` most likely
// misspells, or "".
std::string closest_capability(const std::string& word);

// ---- values, checked apart from YAML (parse_values.cpp) ----------------------------------------

// Zone and workload names: DNS labels, [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool valid_name(const std::string& name);
// Why each cannot be used, or nullopt when it is fine.
std::optional<std::string> socket_path_problem(const std::string& path);
// Why a hostWrites path is not usable (not absolute, '..', NUL), or nullopt.
std::optional<std::string> host_path_problem(const std::string& path);
// An entry of runtimeSockets.allow: a canonical absolute path, or '@name' (abstract socket).
std::optional<std::string> allowed_unix_address_problem(const std::string& address);
std::optional<std::string> glob_problem(const std::string& glob);
std::optional<std::string> container_name_problem(const std::string& glob);
std::optional<std::string> image_problem(const std::string& glob);
// Kubernetes names: a namespace (a DNS label, listed exactly), a label key (a qualified name,
// [PREFIX/]NAME), a label value, and a workload's pod glob ("namespace/name", either a glob).
std::optional<std::string> namespace_problem(const std::string& name);
std::optional<std::string> label_key_problem(const std::string& key);
std::optional<std::string> label_value_problem(const std::string& value);
std::optional<std::string> pod_glob_problem(const std::string& glob);
// One item of a ports list: 443 or "8000-8100".
Result<PortRange> parse_port_item(const std::string& text);

// ---- the parser ------------------------------------------------------------------------------

// A map entry: where its key is (empty values are reported there: an empty value has no text of
// its own) and its value.
struct Field {
  yaml::Mark key_mark;
  yaml::Node value;
  yaml::Mark mark() const { return value.IsNull() ? key_mark : value.Mark(); }
};

using Fields = std::map<std::string, Field>;

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  ParseResult parse(const std::string& text);

 private:
  struct Defined {
    yaml::Mark mark;  // of the name
  };
  using Names = std::map<std::string, Defined>;

  Position position(const yaml::Mark& mark) const {
    return {file_, mark.line < 0 ? 1 : mark.line + 1, mark.column < 0 ? 1 : mark.column + 1};
  }
  void error(const yaml::Mark& mark, std::string message) {
    diagnostics_.push_back({position(mark), std::move(message)});
  }
  ParseResult failed();

  // Field readers (parse_fields.cpp): each reports what is wrong and returns nullopt or false.
  Fields fields(const yaml::Node& map, std::string_view where,
                std::initializer_list<std::string_view> allowed);
  // A list item that must be a map of `allowed` fields ("each zone must be a map with name,
  // ..."): its fields, or nullopt (reported) when it is not a map.
  std::optional<Fields> item_fields(const yaml::Node& node, std::string_view what,
                                    std::initializer_list<std::string_view> allowed);
  const Field* require(const Fields& fs, const yaml::Node& map, const std::string& name,
                       std::string_view where, std::string_view hint);
  std::optional<std::string> string(const Field& f, std::string_view name, std::string_view where);
  // A string field that `problem` finds nothing wrong with, into `out`; false (reported) else.
  bool checked_string(const Field& f, std::string_view name, std::string_view where,
                      std::optional<std::string> (*problem)(const std::string&), std::string& out);
  bool expect_list(const Field& f, std::string_view name, std::string_view example);
  // True for a map; else reports `must_be` followed by how the node reads.
  bool expect_map(const yaml::Node& node, const yaml::Mark& mark, const std::string& must_be);
  // A list field (else reported, with `example`) whose every item `parse` reads (nullopt when
  // it reported a problem) into `out`. False when any failed.
  template <typename T, typename Parse>
  bool list_of(const Field& f, std::string_view name, std::string_view example, std::vector<T>& out,
               Parse parse) {
    if (!expect_list(f, name, example)) return false;
    bool ok = true;
    for (const yaml::Node& item : f.value) {
      if (auto v = parse(item))
        out.push_back(std::move(*v));
      else
        ok = false;
    }
    return ok;
  }
  // Calls `each` (returning false when it reported a problem) for every scalar of `list`, and
  // reports the other items as `must_be` followed by how they read. False when any failed.
  template <typename Each>
  bool each_scalar(const yaml::Node& list, std::string_view must_be, Each each) {
    bool ok = true;
    for (const yaml::Node& item : list) {
      if (item.IsScalar()) {
        ok = each(item) && ok;
        continue;
      }
      error(item.Mark(), std::string(must_be) + describe_node(item));
      ok = false;
    }
    return ok;
  }
  // The field's string when it is one of `choices`, or nullopt (reported: "invalid KEY 'x'",
  // `in`, "; allowed: ..." and, with `suggest`, the likely misspelling).
  template <typename E>
  std::optional<E> one_of(const Field& f, std::string_view key, std::string_view where,
                          std::initializer_list<std::pair<std::string_view, E>> choices,
                          const std::string& in, bool suggest);
  std::optional<std::string> name(const Field& f, std::string_view what);
  std::optional<Mode> mode(const Field& f, std::string_view where);
  std::optional<Protocol> protocol(const Field& f, std::string_view where);
  // A matchExpressions operator: In, NotIn, Exists, DoesNotExist (Kubernetes' spelling).
  std::optional<LabelExpression::Op> label_operator(const Field& f);
  std::optional<std::vector<PortRange>> ports(const Field& f, Protocol protocol);
  bool protocol_and_ports(const Fields& fs, std::string_view where, Protocol& protocol,
                          std::vector<PortRange>& ports);
  std::optional<Action> action(const Field& f, std::string_view where);
  std::optional<UnixMode> unix_mode(const Field& f, std::string_view where);
  std::optional<std::string> glob(const yaml::Node& node, const yaml::Mark& mark);
  bool glob_list(const Field& f, std::string_view key, std::string_view what,
                 std::string_view example,
                 std::optional<std::string> (*problem)(const std::string&),
                 std::vector<std::string>& out);
  // Registers a zone or workload name; false (reported) when `names` has it already.
  bool define(Names& names, const std::string& name, const Field& f, std::string_view kind);
  static std::vector<std::string> names_of(const Names& names);

  // The document (parse.cpp).
  void parse_header(const Fields& fs, const yaml::Node& root);
  void parse_metadata(const Field& f, Policy& policy);
  void parse_spec(const Field& f, Policy& policy);
  void parse_zones(const Field& f, Policy& policy);
  void parse_default_zone(const Field& f, Policy& policy);
  void parse_quarantine_on(const Field& f, Policy& policy);

  // Zones (parse_zone.cpp).
  std::optional<Zone> parse_zone(const yaml::Node& node);
  bool parse_selector(const Field& f, Zone& zone);
  bool parse_selector_field(const std::string& key, const Field& field, Zone& zone);
  bool parse_labels(const Field& f, std::map<std::string, std::string>& out);
  bool parse_label(const yaml::Node& key, const yaml::Node& value,
                   std::map<std::string, yaml::Mark>& seen,
                   std::map<std::string, std::string>& out);
  bool parse_namespaces(const Field& f, std::vector<std::string>& out);
  bool parse_match_expressions(const Field& f, std::vector<LabelExpression>& out);
  std::optional<LabelExpression> parse_match_expression(const yaml::Node& node);
  bool parse_expression_values(const Fields& fs, const yaml::Node& node, LabelExpression& e);
  bool parse_egress(const Field& f, Zone& zone);
  std::optional<EgressRule> parse_egress_rule(const yaml::Node& node);

  // Host guards (parse_guards.cpp).
  bool parse_guards(const Field& f, HostGuards& guards);
  bool parse_action_guard(const Fields& fs, std::string_view key, Action& out);
  bool parse_capabilities(const Field& f, HostGuards& guards);
  bool parse_denied_capabilities(const Fields& fs, const Field& f, std::uint64_t& denied);
  bool parse_runtime_sockets(const Field& f, HostGuards& guards);
  bool parse_unix_allow(const Field& f, std::vector<std::string>& allow);
  bool parse_socket_paths(const Field& f, std::vector<std::string>& paths);
  bool parse_host_writes(const Field& f, HostGuards& guards);

  // Workloads and flows (parse_workload.cpp).
  std::optional<Workload> parse_workload(const yaml::Node& node);
  bool parse_workload_name(const Fields& fs, const yaml::Node& node, Workload& workload);
  bool parse_workload_zone(const Fields& fs, const yaml::Node& node, Workload& workload);
  bool parse_addresses(const Field& f, Workload& workload);
  bool parse_address_file(const Field& f, Workload& workload);
  bool parse_exclusive(const Field& f, Workload& workload);
  std::optional<Flow> parse_flow(const yaml::Node& node);
  std::optional<Peer> parse_peer(const Field& f, std::string_view side);

  std::string file_;
  std::vector<Diagnostic> diagnostics_;
  Names zones_;      // every zone name seen, valid or not
  Names workloads_;  // every workload name seen
  // Static addresses already claimed: (mapped prefix, address) -> workload and where.
  std::map<std::pair<int, std::array<std::uint8_t, 16>>, std::pair<std::string, yaml::Mark>>
      addresses_;
};

}  // namespace guardrail::policy::detail
