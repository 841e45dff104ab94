// The YAML layer (yaml_tree.hpp): libyaml's events to a tree of positioned nodes, within the
// depth and alias-expansion limits, so that every text ends as a tree or one positioned error.
#include <yaml.h>

#include <algorithm>
#include <array>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yaml_tree.hpp"

namespace guardrail::policy::detail::yaml {

NodeType Node::Type() const { return data_ ? data_->type : NodeType::Null; }

Mark Node::Mark() const { return data_ ? data_->mark : yaml::Mark{}; }

const std::string& Node::Scalar() const {
  static const std::string empty;
  return data_ && data_->type == NodeType::Scalar ? data_->scalar : empty;
}

std::size_t Node::size() const {
  if (!data_) return 0;
  return data_->type == NodeType::Map ? data_->entries.size() : data_->items.size();
}

const Node* Node::begin() const { return data_ ? data_->items.data() : nullptr; }
const Node* Node::end() const {
  return data_ ? data_->items.data() + data_->items.size() : nullptr;
}

std::span<const Node::Entry> Node::entries() const {
  if (!data_) return {};
  return data_->entries;
}

namespace {

// libyaml's parser and its current event, released however the reading ends.
class EventReader {
 public:
  explicit EventReader(std::string_view text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~EventReader() {
    release();
    yaml_parser_delete(&parser_);
  }
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // The next event, or nullptr on a syntax error (see error()).
  const yaml_event_t* next() {
    release();
    if (!yaml_parser_parse(&parser_, &event_)) return nullptr;
    held_ = true;
    return &event_;
  }
  const yaml_parser_t& parser() const { return parser_; }

 private:
  void release() {
    if (held_) yaml_event_delete(&event_);
    held_ = false;
  }
  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool held_ = false;
};

Mark mark_of(const yaml_mark_t& m) {
  return {static_cast<int>(std::min<std::size_t>(m.line, 1u << 30)),
          static_cast<int>(std::min<std::size_t>(m.column, 1u << 30))};
}

// Line and column of a byte offset (libyaml's reader errors give only the offset).
Mark mark_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const auto line = std::ranges::count(before, '\n');
  const std::size_t start = before.rfind('\n');
  const std::size_t column = start == std::string_view::npos ? offset : offset - start - 1;
  return {static_cast<int>(line), static_cast<int>(column)};
}

const std::string kFixSyntax =
    "; fix the syntax here (indent with spaces, check colons, quotes and brackets)";

std::string where(const yaml_mark_t& m) {
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

SyntaxError syntax_error(std::string_view text, const yaml_parser_t& p) {
  const std::string problem = p.problem ? p.problem : "unreadable YAML";
  switch (p.error) {
    case YAML_MEMORY_ERROR:
      return {Mark{0, 0}, "invalid YAML: out of memory while reading the policy"};
    case YAML_READER_ERROR:
      return {mark_at(text, p.problem_offset),
              "invalid YAML: " + problem + " (a policy file is UTF-8 text)" + kFixSyntax};
    default:
      break;
  }
  std::string message = "invalid YAML: " + problem;
  if (p.context)
    message += " (" + std::string(p.context) + " started at " + where(p.context_mark) + ")";
  return {mark_of(p.problem_mark), message + kFixSyntax};
}

// YAML's null: an empty plain scalar, ~ or null, unless a tag says otherwise.
bool is_null(const yaml_event_t& e) {
  const auto& s = e.data.scalar;
  if (s.style != YAML_PLAIN_SCALAR_STYLE) return false;
  if (s.tag && std::string_view(reinterpret_cast<const char*>(s.tag)) != YAML_NULL_TAG)
    return false;
  static constexpr std::array<std::string_view, 5> kNulls = {"", "~", "null", "Null", "NULL"};
  const std::string_view value(reinterpret_cast<const char*>(s.value), s.length);
  return std::ranges::find(kNulls, value) != kNulls.end();
}

std::string anchor_name(const yaml_char_t* anchor) {
  return anchor ? reinterpret_cast<const char*>(anchor) : "";
}

// Builds the tree from the events, one document at a time.
class Builder {
 public:
  explicit Builder(std::string_view text) : text_(text), reader_(text) {}

  std::expected<Stream, SyntaxError> run() {
    while (const yaml_event_t* e = reader_.next()) {
      if (e->type == YAML_STREAM_END_EVENT) return std::move(stream_);
      if (auto problem = on(*e)) return std::unexpected(std::move(*problem));
    }
    return std::unexpected(syntax_error(text_, reader_.parser()));
  }

 private:
  struct Open {
    NodeData* node;
    std::string anchor;
    Node key;  // a map's key waiting for its value
    bool has_key = false;
    std::size_t weight = 1;  // this node and its children so far, aliases expanded
  };

  std::optional<SyntaxError> on(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        anchors_.clear();
        return std::nullopt;
      case YAML_SCALAR_EVENT: {
        NodeData& n = start(e, is_null(e) ? NodeType::Null : NodeType::Scalar);
        if (n.type == NodeType::Scalar)
          n.scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        return finish(n, anchor_name(e.data.scalar.anchor), 1);
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (open_.size() >= static_cast<std::size_t>(kMaxDepth))
          return SyntaxError{mark_of(e.start_mark),
                             "the policy nests deeper than " + std::to_string(kMaxDepth) +
                                 " levels here (depth " + std::to_string(open_.size() + 1) +
                                 "); a policy needs about 7, flatten the lists and maps"};
        const bool map = e.type == YAML_MAPPING_START_EVENT;
        NodeData& n = start(e, map ? NodeType::Map : NodeType::Sequence);
        std::string anchor =
            anchor_name(map ? e.data.mapping_start.anchor : e.data.sequence_start.anchor);
        // Known from its start, so that an alias inside it is found to be a cycle.
        if (!anchor.empty()) anchors_[anchor] = &n;
        open_.push_back({&n, std::move(anchor)});
        return std::nullopt;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Open done = std::move(open_.back());
        open_.pop_back();
        done.node->weight = done.weight;
        return finish(*done.node, done.anchor, 1);
      }
      case YAML_ALIAS_EVENT: {
        const std::string name = anchor_name(e.data.alias.anchor);
        const auto it = anchors_.find(name);
        if (it == anchors_.end())
          return SyntaxError{mark_of(e.start_mark), "invalid YAML: alias '*" + name +
                                                        "' names no anchor before it; define '&" +
                                                        name + "' on a node above it"};
        if (!it->second->complete)
          return SyntaxError{mark_of(e.start_mark),
                             "alias '*" + name +
                                 "' is inside the node it names (a recursive document); a "
                                 "policy cannot be recursive"};
        return attach(Node(it->second), mark_of(e.start_mark), it->second->weight,
                      it->second->weight);
      }
      default:  // stream start, document end
        return std::nullopt;
    }
  }

  NodeData& start(const yaml_event_t& e, NodeType type) {
    NodeData& n = stream_.add();
    n.type = type;
    n.mark = mark_of(e.start_mark);
    return n;
  }

  // A node whose end was read: registers its anchor and adds it where it belongs. `fresh`
  // counts the node itself (its children were counted as they came).
  std::optional<SyntaxError> finish(NodeData& n, const std::string& anchor, std::size_t fresh) {
    n.complete = true;
    if (!anchor.empty()) anchors_[anchor] = &n;
    return attach(Node(&n), n.mark, n.weight, fresh);
  }

  // Adds a finished node (or an alias to one) to the open collection, or as a document. Its
  // `weight` (aliases expanded) goes to its parent's; `fresh` (the nodes walked for the first
  // time) to the total, which is bounded.
  std::optional<SyntaxError> attach(Node node, Mark mark, std::size_t weight, std::size_t fresh) {
    expanded_ += fresh;
    if (expanded_ > kMaxExpandedNodes)
      return SyntaxError{mark, "the policy expands to more than " +
                                   std::to_string(kMaxExpandedNodes) +
                                   " YAML nodes (aliases count once per use); write it without "
                                   "repeating large anchors"};
    if (open_.empty()) {
      if (!node.IsNull()) stream_.documents.push_back(node);
      return std::nullopt;
    }
    Open& top = open_.back();
    top.weight += weight;
    if (top.node->type == NodeType::Sequence) {
      top.node->items.push_back(node);
    } else if (!top.has_key) {
      top.key = node;
      top.has_key = true;
    } else {
      top.node->entries.emplace_back(top.key, node);
      top.has_key = false;
    }
    return std::nullopt;
  }

  std::string_view text_;
  EventReader reader_;
  Stream stream_;
  std::vector<Open> open_;
  std::map<std::string, const NodeData*> anchors_;
  std::size_t expanded_ = 0;
};

}  // namespace

std::expected<Stream, SyntaxError> load_all(std::string_view text) { return Builder(text).run(); }

}  // namespace guardrail::policy::detail::yaml
