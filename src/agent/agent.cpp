#include "guardrail/agent/agent.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <iostream>
#include <mutex>
#include <set>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/watch.hpp"
#include "guardrail/events/events.hpp"
#include "guardrail/loader/event_consumer.hpp"
#include "guardrail/loader/host_guard.hpp"
#include "guardrail/loader/net_guard.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/pipeline/alert_pipeline.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "guardrail/posture/watch.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/sinks/json_lines.hpp"
#include "guardrail/sinks/webhook.hpp"
#include "guardrail/util/cgroup2_mount.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {
namespace {

// Stable ids for anonymous workloads, by cgroup id; never reused once a cgroup is gone.
class AnonymousIds {
 public:
  explicit AnonymousIds(std::uint32_t first) : next_(first) {}
  std::uint32_t id_of(std::uint64_t cgroup_id) {
    auto [it, fresh] = ids_.try_emplace(cgroup_id, next_);
    if (fresh) ++next_;
    return it->second;
  }
  void forget_all_but(const std::vector<policy::WorkloadBinding>& bound) {
    std::set<std::uint64_t> keep;
    for (const auto& b : bound) keep.insert(b.cgroup_id);
    std::erase_if(ids_, [&](const auto& e) { return !keep.contains(e.first); });
  }

 private:
  std::map<std::uint64_t, std::uint32_t> ids_;
  std::uint32_t next_;
};

// What the consumer thread needs to name ids. A new table is merged over the old one: ids are
// never reused, so the name of a workload that just went away still names its last events.
class Names {
 public:
  void set(events::NameTable table) {
    std::lock_guard lock(mutex_);
    if (table_.workloads.size() > 100000) table_.workloads.clear();  // bound the history
    for (auto& [id, name] : table.workloads) table_.workloads[id] = std::move(name);
    table_.zones = std::move(table.zones);
    table_.policy = std::move(table.policy);
  }
  template <typename F>
  auto with(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(table_);
  }

 private:
  mutable std::mutex mutex_;
  events::NameTable table_;
};

// SIGINT, SIGTERM and SIGHUP, turned into a readable fd. A handler rather than a blocked-signal
// wait: library threads (civetweb's, behind /metrics) reset their signal masks, so a
// process-directed signal may land on any thread.
class SignalInbox {
 public:
  struct Received {
    bool stop = false;    // SIGINT or SIGTERM
    bool reopen = false;  // SIGHUP
    bool rescan = false;  // poke(): something changed, scan now
    int stop_signal = 0;
  };

  // Wakes wait() from any thread, asking for a re-scan.
  static void poke() { on_signal(kRescanBit); }

  static Result<SignalInbox> install() {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) return fail_errno("create the signal eventfd", errno);
    g_fd = fd.get();
    struct sigaction sa {};
    sa.sa_handler = &SignalInbox::on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
      if (::sigaction(sig, &sa, nullptr) != 0) return fail_errno("install a signal handler", errno);
    return SignalInbox(std::move(fd));
  }

  // What arrived within timeout_ms (nothing when the time passed quietly).
  Received wait(int timeout_ms) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) > 0) {
      std::uint64_t value = 0;
      [[maybe_unused]] auto n = ::read(fd_.get(), &value, sizeof value);
    }
    const unsigned bits = g_pending.exchange(0);
    Received r;
    r.reopen = bits & (1u << SIGHUP);
    r.rescan = bits & (1u << kRescanBit);
    r.stop_signal = (bits & (1u << SIGINT)) ? SIGINT : (bits & (1u << SIGTERM)) ? SIGTERM : 0;
    r.stop = r.stop_signal != 0;
    return r;
  }

 private:
  explicit SignalInbox(UniqueFd fd) : fd_(std::move(fd)) {}
  static void on_signal(int sig) {  // async-signal-safe: a lock-free atomic and write(2)
    g_pending.fetch_or(1u << sig);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(g_fd, &one, sizeof one);
  }
  static constexpr int kRescanBit = 0;  // no signal has number 0
  static inline int g_fd = -1;
  static inline std::atomic<unsigned> g_pending{0};
  UniqueFd fd_;
};

events::NameTable name_table(const policy::CompiledPolicy& compiled) {
  return {compiled.name, compiled.zone_names, compiled.workload_names};
}

std::map<std::string, std::size_t> workloads_per_zone(const policy::Policy& policy,
                                                      const discovery::Discovered& found) {
  std::map<std::string, std::size_t> counts;
  for (const auto& z : policy.zones) counts[z.name] = 0;
  for (const auto& b : found.bindings) counts[b.zone]++;
  return counts;
}

// The host guards some zone of the policy asks for, by the probe's guard names.
std::set<std::string> requested_host_guards(const policy::Policy& policy) {
  std::set<std::string> out;
  for (const auto& z : policy.zones) {
    const auto& g = z.guards;
    if (g.capabilities != policy::Action::None) out.insert("capabilities");
    if (g.raw_sockets != policy::Action::None) out.insert("raw-sockets");
    if (g.mounts != policy::Action::None) out.insert("mounts");
    if (g.runtime_sockets != policy::Action::None) out.insert("runtime-sockets");
    if (g.bpf != policy::Action::None) out.insert("bpf");
  }
  return out;
}

// The backend each guard really runs with: the network guard's from the probe, the host guards'
// from the object that loaded; when the policy asks for no host guard, or it failed to load,
// they must not look protected.
std::vector<probe::GuardBackend> running_backends(const probe::Report& report,
                                                  const HostGuard* host,
                                                  const std::string& host_failure,
                                                  const std::set<std::string>& requested) {
  std::vector<probe::GuardBackend> out;
  for (const auto& g : report.guards) {
    if (g.guard == "network") {
      out.push_back(g);
    } else if (!requested.contains(g.guard)) {
      out.push_back({g.guard, "not_enforced", "none", "no zone of the policy guards it"});
    } else if (!host) {
      out.push_back({g.guard, "unavailable", "none", host_failure});
    } else {
      for (const auto& running : host->backends())
        if (running.guard == g.guard) out.push_back(running);
    }
  }
  return out;
}

// How long a started container waited for its own identity in the maps (under the default
// zone's rules meanwhile): from its start event to the policy that names its cgroup.
void report_identified(
    const std::map<std::string, docker::ContainerWatch::Clock::time_point>& started,
    const discovery::Discovered& found, Metrics& metrics) {
  const auto now = docker::ContainerWatch::Clock::now();
  for (const auto& [id, at] : started) {
    const bool bound = std::ranges::any_of(
        found.bindings, [&](const auto& b) { return b.cgroup_path.find(id) != std::string::npos; });
    if (!bound) continue;
    const double seconds = std::chrono::duration<double>(now - at).count();
    metrics.observe_identify(seconds);
    spdlog::info("container {} identified {:.1f} ms after its start event", id.substr(0, 12),
                 seconds * 1e3);
  }
}

bool same_bindings(const discovery::Discovered& a, const discovery::Discovered& b) {
  if (a.bindings.size() != b.bindings.size() || a.attach_points != b.attach_points) return false;
  for (std::size_t i = 0; i < a.bindings.size(); i++) {
    const auto &x = a.bindings[i], &y = b.bindings[i];
    if (x.cgroup_id != y.cgroup_id || x.workload != y.workload || x.zone != y.zone ||
        x.addresses != y.addresses || x.quarantined != y.quarantined)
      return false;
  }
  return true;
}

// Compiles what discovery found and makes the kernel enforce it: maps first, then attachment,
// so a cgroup is never attached before the rules that judge it are in place.
Result<policy::CompiledPolicy> enforce(const policy::Policy& policy,
                                       const discovery::Discovered& found, NetGuard& guard,
                                       HostGuard* host) {
  auto compiled = policy::compile(policy, found.bindings);
  if (!compiled) return propagate(compiled);
  GR_TRY(guard.apply(*compiled, discovery::cgroup_levels(found.bindings)));
  for (const auto& dir : found.attach_points) {
    GR_TRY(guard.attach(dir));
    if (host) GR_TRY(host->attach(dir));
  }
  return compiled;
}

void print_summary(const AgentOptions& options, const policy::Policy& policy,
                   const policy::CompiledPolicy& compiled, const discovery::Discovered& found,
                   const std::vector<probe::GuardBackend>& guards, const std::string& cgroup_root) {
  spdlog::info("enforcing policy '{}' from {} ({} mode): {} zones, {} workload cgroups, {} rules",
               policy.name, options.policy_file,
               compiled.mode == policy::Mode::Audit ? "audit" : "enforce", policy.zones.size(),
               found.bindings.size(), compiled.rule_count());
  for (const auto& [zone, count] : workloads_per_zone(policy, found))
    spdlog::info("  zone {}: {} workload cgroups", zone, count);
  for (const auto& b : found.bindings)
    spdlog::info("  workload {} in {}: {} ({} addresses)",
                 b.workload.empty() ? b.zone + ":" + b.cgroup_path : b.workload, b.zone,
                 cgroup_root + b.cgroup_path, b.addresses.size());
  for (const auto& g : guards)
    spdlog::info("  guard {}: backend {} ({}){}{}", g.guard, g.backend, g.guarantee,
                 g.note.empty() ? "" : ": ", g.note);
  if (found.bindings.empty())
    spdlog::info("  no cgroup matches the policy's selectors yet; re-scanning every {}s",
                 options.rescan_seconds);
  spdlog::info("alerts: {}; metrics: http://{}/metrics",
               options.alerts == "-" ? "stdout" : options.alerts, options.metrics_address);
}

}  // namespace

int run_agent(const AgentOptions& options) {
  auto signals = SignalInbox::install();
  if (!signals) {
    spdlog::error("{}", signals.error().message);
    return 1;
  }

  auto loaded = policy::load_policy_file(options.policy_file);
  if (!loaded) {
    for (const auto& d : loaded.error()) std::cerr << d.format() << "\n";
    spdlog::error("policy {} is invalid ({} problems); nothing was attached", options.policy_file,
                  loaded.error().size());
    return 1;
  }
  policy::Policy policy = std::move(*loaded);
  if (options.force_audit) {
    policy.mode = policy::Mode::Audit;
    for (auto& z : policy.zones) z.mode = policy::Mode::Audit;
  }

  const probe::Report report = probe::run_probe();
  const probe::GuardBackend* network = report.guard("network");
  if (!network || network->backend == "unavailable") {
    spdlog::error(
        "this kernel cannot run the network guard (cgroup_skb and cgroup sock_addr "
        "programs); run `guardrail probe` for the reasons");
    return 1;
  }
  const std::string cgroup_root = find_cgroup2_mount();
  if (cgroup_root.empty()) {
    spdlog::error(
        "cgroup v2 is not mounted; mount it (mount -t cgroup2 none /sys/fs/cgroup/unified)"
        " and start the agent again");
    return 1;
  }

  // Docker discovery, unless turned off: a dead or absent socket is reported, not fatal; the
  // events stream keeps retrying and the containers join when the engine answers.
  std::unique_ptr<docker::ContainerWatch> containers;
  if (!options.docker_socket.empty())
    containers = std::make_unique<docker::ContainerWatch>(options.docker_socket,
                                                          [] { SignalInbox::poke(); });
  // Anonymous workloads keep their ids across re-scans, and ids are never reused: an event
  // in flight while the policy changes is still named right.
  AnonymousIds ids(static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy.workloads.size()));
  // Continuous posture: each container assessed once, when first seen (set up with the sinks).
  std::unique_ptr<posture::PostureWatch> posture_watch;
  auto scan = [&] {
    std::optional<std::vector<docker::Container>> listed;
    if (containers) listed = containers->containers();
    if (listed && posture_watch)
      posture_watch->update(*listed, [&](const docker::Container& c) {
        auto [workload, zone] = discovery::place_container(policy, c);
        if (workload.empty()) workload = zone + ":" + discovery::cgroup_of(c.pid);
        return std::pair(workload, zone);
      });
    std::vector<std::string> parents;
    if (containers) parents = containers->parent_cgroups();
    auto found =
        discovery::discover(policy, cgroup_root, true, listed ? &*listed : nullptr, parents);
    if (!found) return found;
    for (auto& b : found->bindings) {
      if (posture_watch)
        for (const auto& id : posture_watch->quarantined())
          if (b.cgroup_path.ends_with(id)) b.quarantined = true;
      if (b.workload.empty()) b.anonymous_id = ids.id_of(b.cgroup_id);
    }
    ids.forget_all_but(found->bindings);
    return found;
  };
  auto found = scan();
  if (!found) {
    spdlog::error("{}", found.error().message);
    return 1;
  }
  NetGuardOptions guard_options;
  guard_options.ringbuf_bytes = options.ringbuf_bytes;
  auto guard = NetGuard::load(guard_options);
  if (!guard) {
    spdlog::error("{}", guard.error().message);
    return 1;
  }
  auto sink = JsonLinesSink::open(options.alerts, options.alerts_max_bytes, options.alerts_keep);
  if (!sink) {
    spdlog::error("{}", sink.error().message);
    return 1;
  }

  // The host guards share the network guard's maps and ring buffer, so they load after it.
  std::unique_ptr<HostGuard> host;
  std::string host_failure;
  const auto requested = requested_host_guards(policy);
  if (!requested.empty()) {
    auto loaded_host = HostGuard::load(report, **guard);
    if (loaded_host) {
      host = std::move(*loaded_host);
    } else {
      host_failure = loaded_host.error().message;
      spdlog::error("host guards unavailable: {}", host_failure);
    }
  }
  const auto guards = running_backends(report, host.get(), host_failure, requested);

  auto compiled = enforce(policy, *found, **guard, host.get());
  if (!compiled) {
    spdlog::error("{}; the agent exits and detaches everything", compiled.error().message);
    return 1;
  }
  std::uint64_t generation = 1;

  Metrics metrics;
  metrics.set_policy_rules(compiled->rule_count());
  metrics.set_policy_generation(generation);
  metrics.set_workloads(workloads_per_zone(policy, *found));
  metrics.set_guard_backends(guards);
  NetGuard& net = **guard;

  std::unique_ptr<WebhookSink> webhook;
  if (!options.webhook.url.empty()) {
    WebhookOptions webhook_options = options.webhook;
    webhook_options.node = options.node_name;
    webhook_options.generator_url = "http://" + options.metrics_address + "/metrics";
    auto started = WebhookSink::start(webhook_options, [&metrics](const WebhookOutcome& o) {
      if (o.delivered)
        metrics.count_delivered("webhook", o.events, o.alerts);
      else
        metrics.count_lost(LossStage::Webhook, o.events);
    });
    if (!started) {
      spdlog::error("{}", started.error().message);
      return 1;
    }
    webhook = std::move(*started);
  }

  Names names;
  names.set(name_table(*compiled));
  const events::WallClock clock;
  pipeline::AlertPipeline alerts(
      options.pipeline, metrics, **sink, webhook.get(), [&](const pipeline::PendingAlert& a) {
        return names.with([&](const events::NameTable& table) {
          return pipeline::format_alert(a, table, clock, options.node_name);
        });
      });
  // On the consumer thread: count first, then hand over; formatting happens downstream and only
  // for what leaves dedup and the rate limit.
  auto handle = [&](std::span<const std::byte> record) {
    auto event = events::decode(record);
    if (!event) {
      metrics.count_decode_error();
      spdlog::warn("dropping an event record: {}", event.error().message);
      return;
    }
    metrics.count_violation(
        events::kind_name(events::header(*event).type),
        events::verdict_name(events::verdict(*event)),
        names.with([&](const auto& table) { return table.zone(events::zone_id(*event)); }));
    alerts.submit(*event);
  };
  auto consumer = EventConsumer::start(net.events_fd(), handle, options.poll_timeout_ms);
  if (!consumer) {
    spdlog::error("{}", consumer.error().message);
    return 1;
  }
  EventConsumer& ring = **consumer;
  metrics.export_kernel({.events_submitted = [&net] { return net.stat(GR_STAT_EVENTS_SUBMITTED); },
                         .events_lost = [&net] { return net.stat(GR_STAT_EVENTS_LOST); },
                         .ringbuf_unread_bytes = [&ring] { return ring.unread_bytes(); },
                         .ringbuf_size_bytes = options.ringbuf_bytes,
                         .program_stats =
                             [&net, &host] {
                               auto stats = net.program_stats();
                               if (host) {
                                 auto more = host->program_stats();
                                 stats.insert(stats.end(), more.begin(), more.end());
                               }
                               return stats;
                             }});
  if (containers)
    posture_watch = std::make_unique<posture::PostureWatch>(
        containers->client(), metrics,
        [&](nlohmann::ordered_json alert) {
          if ((*sink)->write(alert)) metrics.count_delivered("jsonl", 0, 1);
          if (webhook) webhook->enqueue(std::move(alert));
        },
        policy.name, options.node_name, policy.quarantine_on);
  // /metrics answers only once the policy is enforced: a scrape that succeeds means "ready".
  if (auto served = metrics.serve(options.metrics_address); !served) {
    spdlog::error("{}", served.error().message);
    return 1;
  }
  print_summary(options, policy, *compiled, *found, guards, cgroup_root);

  const int rescan_ms = static_cast<int>(std::lround(options.rescan_seconds * 1000));
  for (;;) {
    const auto received = signals->wait(rescan_ms);
    if (received.stop) {
      spdlog::info("received {}, detaching and exiting",
                   received.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (received.reopen) {
      spdlog::info("received SIGHUP, reopening {}", (*sink)->path());
      (*sink)->request_reopen();
      continue;
    }
    auto again = scan();
    if (!again) {
      spdlog::warn("re-scan failed: {}", again.error().message);
      continue;
    }
    if (same_bindings(*again, *found)) continue;
    auto recompiled = enforce(policy, *again, net, host.get());
    if (!recompiled) {
      spdlog::error("re-scan found a policy conflict, keeping the previous state: {}",
                    recompiled.error().message);
      continue;
    }
    spdlog::info("workloads changed: {} workload cgroups, {} rules", again->bindings.size(),
                 recompiled->rule_count());
    if (containers) report_identified(containers->take_started(), *again, metrics);
    names.set(name_table(*recompiled));
    metrics.set_policy_rules(recompiled->rule_count());
    metrics.set_policy_generation(++generation);
    metrics.set_workloads(workloads_per_zone(policy, *again));
    found = std::move(again);
  }
  // Stop in the order events flow: the ring buffer drains into the pipeline, the pipeline into
  // the sinks; the programs detach last, with `guard`.
  consumer->reset();
  return 0;
}

}  // namespace guardrail
