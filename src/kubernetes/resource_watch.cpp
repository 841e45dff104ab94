// One resource kept in sync the way client-go's reflector does it: a paged list gives the objects
// and a resourceVersion; a watch from that version streams the changes (newline-delimited JSON
// events) and bookmarks that move the version on while nothing changes. When the server has
// compacted the history past our version (410 Gone, as an HTTP status or an ERROR event) only a
// fresh list can repair the picture; any other failure is retried from the version we have, with
// exponential backoff and jitter so that a fleet of agents does not reconnect in step.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <random>
#include <string_view>
#include <utility>

#include "guardrail/kubernetes/api_client.hpp"
#include "json_fields.hpp"
#include "transport.hpp"

namespace guardrail::kubernetes {
namespace {

using detail::member;
using detail::str;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPageSize = 500;
constexpr std::size_t kMaxEventLine = std::size_t{16} << 20;  // one event's JSON
constexpr std::size_t kMaxListPage = std::size_t{256} << 20;  // one page of a list
// A watch the server ended cleanly this soon, having sent nothing, counts as a failure: a server
// that ends every watch at once would otherwise be asked again in a tight loop.
constexpr auto kMinUsefulWatch = std::chrono::seconds(1);

// "namespace/name", or "name" for cluster-scoped objects (namespaces), as client-go keys them.
std::string key_of(const json& object) {
  const json& metadata = member(object, "metadata");
  const std::string ns = str(metadata, "namespace");
  const std::string name = str(metadata, "name");
  return ns.empty() ? name : ns + "/" + name;
}

// The message of a Kubernetes Status answer, else the start of the body as text.
std::string server_message(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (std::string message = str(doc, "message"); !message.empty()) return message;
  std::string text = body.substr(0, 200);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// JSON for a message, cut short (dump never throws here: invalid UTF-8 is replaced).
std::string text_of(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 200);
}

// Why a request failed, and whether it says something the loop acts on.
struct Failure {
  std::string reason;
  long status = 0;  // HTTP status (or an ERROR event's code), 0 below HTTP
};

}  // namespace

struct ResourceWatch::State {
  ApiConfig config;
  WatchSpec spec;
  std::function<void()> changed;

  std::atomic<bool> stopping{false};
  std::mutex wake_mutex;  // the backoff wait; stopping is set under it so no wake is missed
  std::condition_variable wake;
  std::unique_ptr<detail::Transport> transport;

  mutable std::mutex mutex;  // objects and status
  // Each object immutable once stored: a snapshot shares them, and an object that did not change
  // keeps its pointer, so a reader can tell it is the one it decoded before.
  ObjectSnapshot objects;
  WatchStatus status;

  // Only the watch's thread touches these.
  detail::TokenSource token;
  std::string logged_reason;  // the failure last logged, so a retry loop logs it once
  std::chrono::milliseconds backoff{0};
  std::mt19937 random{std::random_device{}()};

  State(ApiConfig c, WatchSpec s, std::function<void()> f)
      : config(std::move(c)), spec(std::move(s)), changed(std::move(f)), token(config) {}

  std::string what() const { return fmt::format("Kubernetes {} on {}", spec.path, config.server); }

  std::string selectors() const {
    std::string out;
    if (!spec.field_selector.empty())
      out += "&fieldSelector=" + detail::escape(spec.field_selector);
    if (!spec.label_selector.empty())
      out += "&labelSelector=" + detail::escape(spec.label_selector);
    return out;
  }

  void notify() {
    if (changed) changed();
  }

  void failed(const Failure& failure) {
    {
      std::lock_guard lock(mutex);
      status.last_error = failure.reason;
    }
    if (failure.reason != logged_reason) {
      spdlog::warn("{}: {}; retrying with backoff", what(), failure.reason);
      logged_reason = failure.reason;
    } else {
      spdlog::debug("{}: {} (again)", what(), failure.reason);
    }
    if (failure.status == 401) token.invalidate();  // the file may hold a newer token already
  }

  void healthy() {
    {
      std::lock_guard lock(mutex);
      status.last_error.clear();
    }
    if (!logged_reason.empty()) {
      spdlog::info("{}: connected again", what());
      logged_reason.clear();
    }
  }

  // Sleeps for the next backoff step (the step doubles up to backoff_max; the sleep is a random
  // point in its upper half) unless stopped first.
  void back_off() {
    backoff = backoff.count() == 0 ? spec.backoff_min : std::min(backoff * 2, spec.backoff_max);
    const auto high = std::max<long>(1, long(backoff.count()));
    std::uniform_int_distribution<long> pick(high / 2, high);
    const auto delay = std::max(spec.backoff_min, std::chrono::milliseconds(pick(random)));
    std::unique_lock lock(wake_mutex);
    wake.wait_for(lock, delay, [&] { return stopping.load(); });
  }

  std::expected<std::string, Failure> bearer() {
    auto t = token.current();
    if (!t) return std::unexpected(Failure{t.error().message, 0});
    return *t;
  }

  Failure http_failure(const detail::Outcome& out, std::string_view verb) {
    if (!out.error.empty()) return {fmt::format("{} failed: {}", verb, out.error), 0};
    std::string reason = fmt::format("{}: HTTP {}", verb, out.status);
    if (std::string message = server_message(out.body); !message.empty()) reason += ": " + message;
    if (out.status == 401)
      reason += config.token_file.empty()
                    ? " (the token or client certificate was refused)"
                    : fmt::format(" (the token from {} was refused)", config.token_file);
    if (out.status == 403) reason += " (RBAC: the account needs get/list/watch on this resource)";
    return {reason, out.status};
  }

  // A full list, page by page, replacing the objects. A list item has no kind or apiVersion
  // (the list carries them); they are filled in so that listed and watched objects look alike.
  std::expected<void, Failure> list() {
    ObjectSnapshot fresh;
    std::string version, next;
    do {
      auto t = bearer();
      if (!t) return std::unexpected(t.error());
      std::string target = fmt::format("{}?limit={}{}", spec.path, kPageSize, selectors());
      if (!next.empty()) target += "&continue=" + detail::escape(next);
      std::string body;
      bool too_large = false;
      const auto out = transport->get(
          target, *t, detail::Limits{std::chrono::seconds(120), std::chrono::seconds(30)}, {},
          [&](std::string_view data) {
            if (body.size() + data.size() > kMaxListPage) return !(too_large = true);
            body.append(data);
            return true;
          });
      if (out.stopped) return std::unexpected(Failure{"stopped", 0});
      if (too_large)
        return std::unexpected(
            Failure{fmt::format("list: a page is larger than {} MiB", kMaxListPage >> 20), 0});
      if (!out.error.empty() || out.status != 200)
        return std::unexpected(http_failure(out, "list"));
      json doc = json::parse(body, nullptr, false);
      if (!doc.is_object() || !member(doc, "items").is_array())
        return std::unexpected(Failure{"list: the answer is not a Kubernetes list", 0});
      std::string kind = str(doc, "kind");
      if (kind.ends_with("List")) kind.resize(kind.size() - 4);
      const std::string api_version = str(doc, "apiVersion");
      for (json& item : doc["items"]) {
        if (!item.is_object()) continue;
        if (!item.contains("kind") && !kind.empty()) item["kind"] = kind;
        if (!item.contains("apiVersion") && !api_version.empty()) item["apiVersion"] = api_version;
        std::string key = key_of(item);
        if (!key.empty())
          fresh.insert_or_assign(std::move(key), std::make_shared<const json>(std::move(item)));
      }
      const json& metadata = member(doc, "metadata");
      version = str(metadata, "resourceVersion");
      next = str(metadata, "continue");
    } while (!next.empty() && !stopping);
    if (stopping) return std::unexpected(Failure{"stopped", 0});
    const std::size_t count = fresh.size();
    {
      std::lock_guard lock(mutex);
      objects = std::move(fresh);
      status.resource_version = version;
      status.synced = true;
      ++status.lists;
      status.last_error.clear();
    }
    spdlog::debug("{}: listed {} objects at resourceVersion {}", what(), count, version);
    notify();
    return {};
  }

  enum class End { Stopped, Closed, Gone, Failed };
  struct WatchEnd {
    End end = End::Closed;
    Failure failure;
    bool delivered = false;  // an event or bookmark arrived
  };

  // Applies one watch event; returns an ERROR event's failure, if it was one.
  std::optional<Failure> apply(const json& event, WatchEnd& result) {
    const std::string type = str(event, "type");
    const json& object = member(event, "object");
    if (type == "ERROR") {
      const json& code = member(object, "code");
      const long status = code.is_number_integer() ? code.get<long>() : 0;
      return Failure{
          fmt::format("watch: ERROR event {}: {}", status,
                      str(object, "message").empty() ? text_of(object) : str(object, "message")),
          status};
    }
    const std::string version = str(member(object, "metadata"), "resourceVersion");
    result.delivered = true;
    bool change = false;
    {
      std::lock_guard lock(mutex);
      if (!version.empty()) status.resource_version = version;
      if (type == "BOOKMARK") {
        ++status.bookmarks;
        return std::nullopt;
      }
      const std::string key = key_of(object);
      if (key.empty() || (type != "ADDED" && type != "MODIFIED" && type != "DELETED"))
        return Failure{fmt::format("watch: unexpected event '{}'", text_of(event)), 0};
      ++status.watch_events;
      if (type == "DELETED") {
        change = objects.erase(key) > 0;
      } else {
        objects.insert_or_assign(key, std::make_shared<const json>(object));
        change = true;
      }
    }
    if (change) notify();
    return std::nullopt;
  }

  WatchEnd watch() {
    WatchEnd result;
    auto t = bearer();
    if (!t) return {End::Failed, t.error(), false};
    std::string version;
    {
      std::lock_guard lock(mutex);
      version = status.resource_version;
    }
    const std::string target =
        fmt::format("{}?watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}{}",
                    spec.path, detail::escape(version), spec.timeout_seconds, selectors());
    std::string pending;
    std::optional<Failure> stopped_by;
    const auto started = Clock::now();
    // The server ends the watch after timeoutSeconds; a minute more is our own limit, and a
    // minute without a byte (not even a bookmark or keepalive answer) means the peer is gone.
    const auto out = transport->get(
        target, *t,
        detail::Limits{std::chrono::seconds(spec.timeout_seconds + 60),
                       std::chrono::seconds(spec.timeout_seconds + 60)},
        [&] { healthy(); },
        [&](std::string_view data) {
          pending.append(data);
          std::size_t start = 0;
          for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos;
               start = nl + 1) {
            const std::string_view line(pending.data() + start, nl - start);
            if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
            const json event = json::parse(line, nullptr, false);
            if (event.is_discarded()) {
              stopped_by = Failure{"watch: an event is not JSON", 0};
              return false;
            }
            if ((stopped_by = apply(event, result))) return false;
          }
          pending.erase(0, start);
          if (pending.size() > kMaxEventLine) {
            stopped_by = Failure{
                fmt::format("watch: an event is larger than {} MiB", kMaxEventLine >> 20), 0};
            return false;
          }
          return true;
        });
    if (out.stopped) return {End::Stopped, {}, result.delivered};
    if (stopped_by) {
      result.failure = *stopped_by;
      result.end = stopped_by->status == 410 ? End::Gone : End::Failed;
      return result;
    }
    if (!out.error.empty() || out.status != 200) {
      result.failure = http_failure(out, "watch");
      result.end = out.status == 410 ? End::Gone : End::Failed;
      return result;
    }
    if (!result.delivered && Clock::now() - started < kMinUsefulWatch) {
      result.failure = {"watch: the server ended the watch at once, sending nothing", 0};
      result.end = End::Failed;
    }
    return result;
  }

  void run() {
    bool need_list = true;
    while (!stopping) {
      if (need_list) {
        auto listed = list();
        if (stopping) return;
        if (!listed) {
          failed(listed.error());
          back_off();
          continue;
        }
        healthy();
        backoff = {};
        need_list = false;
      }
      const auto started = Clock::now();
      const WatchEnd end = watch();
      if (end.delivered || Clock::now() - started > spec.backoff_max) backoff = {};
      switch (end.end) {
        case End::Stopped:
          return;
        case End::Closed:
          spdlog::debug("{}: the watch ended (timeoutSeconds); watching again", what());
          break;
        case End::Gone: {
          std::string version;
          {
            std::lock_guard lock(mutex);
            version = status.resource_version;
          }
          spdlog::info(
              "{}: resourceVersion {} is gone from the server's history (410): listing "
              "again",
              what(), version);
          need_list = true;
          break;
        }
        case End::Failed:
          failed(end.failure);
          back_off();
          if (stopping) return;
          {
            std::lock_guard lock(mutex);
            ++status.reconnects;
          }
          break;
      }
    }
  }
};

ResourceWatch::ResourceWatch(std::shared_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<ResourceWatch>> ResourceWatch::start(ApiConfig config, WatchSpec spec,
                                                            std::function<void()> changed) {
  if (spec.path.empty() || spec.path.front() != '/')
    return fail(fmt::format("Kubernetes watch: path '{}' must start with '/'", spec.path));
  if (spec.backoff_min.count() <= 0 || spec.backoff_max < spec.backoff_min)
    return fail(fmt::format("Kubernetes watch of {}: backoff {}..{} ms is not a range", spec.path,
                            spec.backoff_min.count(), spec.backoff_max.count()));
  if (spec.timeout_seconds <= 0)
    return fail(fmt::format("Kubernetes watch of {}: timeout_seconds must be positive", spec.path));
  auto state = std::make_shared<State>(std::move(config), std::move(spec), std::move(changed));
  auto transport = detail::Transport::make(state->config, state->stopping);
  if (!transport) return propagate(transport);
  state->transport = std::move(*transport);
  auto watch = std::make_unique<ResourceWatch>(state);
  watch->thread_ = std::thread([state] { state->run(); });
  return watch;
}

ResourceWatch::~ResourceWatch() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->wake_mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->transport) state_->transport->wake();
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, nlohmann::json> ResourceWatch::objects() const {
  std::map<std::string, nlohmann::json> out;
  for (const auto& [key, object] : snapshot()) out.emplace(key, *object);
  return out;
}

ObjectSnapshot ResourceWatch::snapshot() const {
  std::lock_guard lock(state_->mutex);
  return state_->objects;
}

WatchStatus ResourceWatch::status() const {
  std::lock_guard lock(state_->mutex);
  return state_->status;
}

}  // namespace guardrail::kubernetes
