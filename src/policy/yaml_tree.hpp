// Internal to src/policy: the YAML layer under the policy parser. libyaml's event parser (a
// streaming state machine, fuzzed upstream) builds a small read-only tree with the position of
// every node; the reader stops at the limits below, so every input ends, in time and memory
// linear in its size, either as a tree or as one positioned error. It replaced yaml-cpp 0.7,
// whose LoadAll never returns on some inputs (a lone ",") while its memory grows without bound.
// The node interface keeps the names of the yaml-cpp subset the parser used (IsMap, Mark, ...).
#pragma once

#include <cstddef>
#include <deque>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace guardrail::policy::detail::yaml {

// What a policy may need of YAML. A policy nests about 7 levels deep; past kMaxDepth the
// reader stops with an error that names the depth and where it was reached. Aliases share their
// anchor's node, but the parser walks every use: kMaxExpandedNodes bounds what it walks (a
// "billion laughs" document is refused instead of expanded).
inline constexpr int kMaxDepth = 32;
inline constexpr std::size_t kMaxExpandedNodes = 1'000'000;

// A position in the text, 0-based (the parser prints it 1-based); -1 when unknown.
struct Mark {
  int line = -1;
  int column = -1;
};

enum class NodeType { Null, Scalar, Sequence, Map };

struct NodeData;

// A handle to a node of a Document (which must outlive it). The default Node is a null node
// without a position.
class Node {
 public:
  using Entry = std::pair<Node, Node>;

  Node() = default;
  explicit Node(const NodeData* data) : data_(data) {}

  NodeType Type() const;
  bool IsNull() const { return Type() == NodeType::Null; }
  bool IsScalar() const { return Type() == NodeType::Scalar; }
  bool IsSequence() const { return Type() == NodeType::Sequence; }
  bool IsMap() const { return Type() == NodeType::Map; }
  yaml::Mark Mark() const;
  // The text of a scalar; empty for other nodes.
  const std::string& Scalar() const;
  // Items of a sequence, entries of a map (in file order, duplicate keys kept), else 0.
  std::size_t size() const;
  // A sequence's items (empty for other nodes): `for (const Node& item : list)`.
  const Node* begin() const;
  const Node* end() const;
  // A map's entries, key then value (empty for other nodes).
  std::span<const Entry> entries() const;

 private:
  const NodeData* data_ = nullptr;
};

struct NodeData {
  NodeType type = NodeType::Null;
  yaml::Mark mark;
  std::string scalar;
  std::vector<Node> items;
  std::vector<Node::Entry> entries;
  std::size_t weight = 1;  // nodes the parser walks through this one, aliases expanded
  bool complete = false;   // its end was read (an alias to an incomplete node is a cycle)
};

// The non-empty documents of one text; owns every node.
class Stream {
 public:
  std::vector<Node> documents;

  NodeData& add() { return nodes_.emplace_back(); }

 private:
  std::deque<NodeData> nodes_;  // stable addresses while nodes are added
};

// Where and why a text is not YAML the parser can use.
struct SyntaxError {
  Mark mark;
  std::string message;  // e.g. "invalid YAML: did not find expected ',' or ']' ..."
};

// Reads every document of `text` (documents that are only null, e.g. a stray "---", are
// dropped). Stops at the first syntax error or limit.
std::expected<Stream, SyntaxError> load_all(std::string_view text);

}  // namespace guardrail::policy::detail::yaml
