// Text for diagnostics: how a YAML node reads, and the "did you mean" of a likely misspelling.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

namespace guardrail::policy::detail {

// How a node reads in a message: "a list", "a map", "'text'" or "nothing".
std::string describe_node(const yaml::Node& node) {
  switch (node.Type()) {
    case yaml::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case yaml::NodeType::Sequence:
      return "a list";
    case yaml::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// "CAP_NET_RAW" for "CAP_NET_RAWW" or "net_raww": the capability (or "ALL") `word` most likely
// misspells, or "".
std::string closest_capability(const std::string& word) {
  std::string bare = upper(word);
  if (bare.starts_with("CAP_")) bare.erase(0, 4);
  std::vector<std::string> names = {"ALL"};
  for (int n = 0; n <= kLastCapability; ++n) names.push_back(capability_name(n).substr(4));
  const std::string best = closest(bare, names);
  if (best.empty() || best == "ALL") return best;
  return "CAP_" + best;
}

}  // namespace guardrail::policy::detail
