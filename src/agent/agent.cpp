#include "guardrail/agent/agent.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/watch.hpp"
#include "guardrail/events/events.hpp"
#include "guardrail/events/policy.hpp"
#include "guardrail/events/tamper.hpp"
#include "guardrail/loader/birth_guard.hpp"
#include "guardrail/loader/event_consumer.hpp"
#include "guardrail/loader/host_guard.hpp"
#include "guardrail/loader/net_guard.hpp"
#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/policy_maps.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/metrics/violation_counters.hpp"
#include "guardrail/pipeline/alert_pipeline.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "guardrail/posture/watch.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/sinks/json_lines.hpp"
#include "guardrail/sinks/webhook.hpp"
#include "guardrail/util/cgroup2_mount.hpp"
#include "guardrail/util/phase_timer.hpp"
#include "kube_source.hpp"
#include "names.hpp"
#include "policy_reload.hpp"
#include "policy_watch.hpp"
#include "privileges.hpp"
#include "problems.hpp"
#include "report.hpp"
#include "signal_inbox.hpp"
#include "signal_sender.hpp"
#include "socket_watch.hpp"
#include "tamper_check.hpp"
#include "workload_scan.hpp"

namespace guardrail::agent {
namespace {

// The daemon. start() runs the start-up steps in order, each failing with what to do; run()
// enforces until SIGINT or SIGTERM. Members are declared in the order they are set up, so they
// are torn down in reverse: the ring buffer consumer stops first (no record reaches a stopped
// pipeline), the pipeline drains into the sinks, and the programs detach last, with the guards.
class Agent {
 public:
  explicit Agent(const AgentOptions& options) : options_(options) {}
  // /metrics reads the consumer and the guards at scrape time: it stops before they go. The
  // pins go (with --detach-on-exit) before the members close their fds, so closing detaches.
  ~Agent() {
    metrics_.stop_serving();
    if (maps_) maps_->clear_agent();  // no pid stays protected once the agent is gone
    if (maps_) maps_->mark_lost_seen();
    if (pins_ && options_.detach_on_exit) {
      auto removed = pins_->remove_all(false);
      if (removed)
        spdlog::info("--detach-on-exit: removed {} pins from {}; every program detaches now",
                     *removed, pins_->path());
      else
        spdlog::error("--detach-on-exit: {}", removed.error().message);
    }
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  Result<void> start();
  // After a failed start: what this agent pinned into a directory that held nothing goes again
  // (a failed start attaches nothing); a previous agent's enforcement stays.
  void abandon_start();
  int run();

 private:
  Result<void> load_policy();
  Result<void> probe_kernel();
  Result<void> discover_workloads();
  Result<void> open_pins();
  Result<void> load_guards();
  Result<void> open_sinks();
  Result<void> enforce_first();
  // After the first enforce(): the pinned links no attach point claimed, and the report of
  // what was adopted from a previous agent.
  void adopt_pinned();
  Result<void> start_pipeline();
  void watch_posture();
  Result<void> serve_metrics();
  // Watches the policy file; a change (or SIGHUP) reloads it.
  void watch_policy();
  // Follows the runtime sockets and allowed path sockets of the policy in force: a socket made,
  // re-made or removed at one of their paths is re-resolved to its inode within milliseconds
  // (inotify on their directories), and again on every re-scan.
  void watch_sockets();
  // After a policy was put in force: watch its socket paths, then re-resolve what changed
  // between the apply and the watch.
  void follow_socket_paths();
  // Re-resolves the sockets and updates the maps in force in place; logs and counts each change.
  void follow_sockets(std::string_view trigger);

  // Compiles what discovery found and makes the kernel enforce it: maps first, then attachment,
  // so a cgroup is never attached before the rules that judge it are in place.
  // `phases`, when given, times compile, apply and attach (the reload's debug line).
  Result<policy::CompiledPolicy> enforce(const discovery::Discovered& found,
                                         PhaseTimer* phases = nullptr);
  // Records a policy the maps now enforce: the names alerts use, the policy metrics (its
  // generation counts from 1), and what it was compiled from.
  void put_in_force(discovery::Discovered found, policy::CompiledPolicy compiled);
  // Re-scans and, when the workloads changed, recompiles and swaps the policy maps.
  void rescan();
  // Re-reads the policy file; a valid one is discovered with, compiled, checked against the maps
  // and swapped in whole; a bad one is refused (log, alert, metric) and the policy in force stays.
  void reload_policy(events::ReloadTrigger trigger);
  Result<void> swap_policy(policy::Policy next, PhaseTimer& phases);
  void reject_policy(events::ReloadTrigger trigger, std::string sha256,
                     std::vector<std::string> errors);
  // Alerts and counts the discovery problems that are new since the last round.
  void report_problems(const discovery::Discovered& found, const policy::CompiledPolicy& compiled);
  // Runs the tamper check when it is due: every attached cgroup must carry the guards'
  // programs; what a workload detached is re-attached and alerted with the window it was gone.
  void check_attachments(bool poked);
  void alert_repair(events::TamperRepair repair);
  // The stop and reload signals that count: the operator's. A workload's SIGINT, SIGTERM or
  // SIGHUP is ignored and alerted as tamper (audit mode: obeyed and alerted).
  SignalInbox::Received accept_signals(SignalInbox::Received received);
  SenderJudgement judge_signal(const SignalInbox::Sent& sent);
  // Where BPF-LSM refuses bpf() to every workload, nobody can detach the programs.
  bool bpf_refused() const;
  // On the consumer thread: count first, then hand over; formatting happens downstream and only
  // for what leaves dedup and the rate limit.
  void on_record(std::span<const std::byte> record);
  KernelSource kernel_source();

  const AgentOptions options_;
  std::optional<SignalInbox> signals_;
  policy::Policy policy_;
  probe::Report report_;
  std::string cgroup_root_;
  std::unique_ptr<docker::ContainerWatch> containers_;  // null without Docker discovery
  std::unique_ptr<KubeSource> kube_;                    // null without Kubernetes discovery
  std::unique_ptr<WorkloadScan> scan_;
  discovery::Discovered found_;       // what the policy in force was compiled with
  policy::CompiledPolicy compiled_;   // the policy in force
  bool found_pins_ = false;           // the pin directory held a previous agent's enforcement
  std::optional<PinDir> pins_;        // null: enforcement ends with the agent
  std::unique_ptr<PolicyMaps> maps_;  // the policy, ring buffer and counters every guard shares
  std::unique_ptr<NetGuard> net_;
  std::unique_ptr<HostGuard> host_;    // null when it failed to load
  std::unique_ptr<BirthGuard> birth_;  // null when it failed to load (see guardrail probe)
  std::vector<probe::GuardBackend> backends_;
  // /healthz and /readyz (on the metrics address): the main loop waits at most a re-scan interval
  // between turns, so three missed turns (at least 30 s) mean it is stuck.
  HealthState health_{std::max(std::uint64_t{30'000'000'000},
                               static_cast<std::uint64_t>(options_.rescan_seconds * 3e9))};
  Metrics metrics_;
  std::unique_ptr<JsonLinesSink> sink_;
  std::unique_ptr<WebhookSink> webhook_;  // null without --webhook-url
  std::uint64_t generation_ = 0;
  Names names_;
  ViolationCounters violations_{metrics_};  // the consumer thread's
  const events::WallClock clock_;
  ProblemReport problems_{metrics_, [this](nlohmann::ordered_json alert) {
                            if (sink_->write(alert)) metrics_.count_delivered("jsonl", 0, 1);
                            if (webhook_) webhook_->enqueue(std::move(alert));
                          }};
  std::unique_ptr<pipeline::AlertPipeline> alerts_;
  std::unique_ptr<posture::PostureWatch> posture_;  // continuous posture, with Docker only
  std::unique_ptr<TamperCheck> tamper_;             // before the consumer, which feeds it
  std::unique_ptr<EventConsumer> consumer_;
  // Reload: the hash of the file in force (and of the last one refused), the host guards whose
  // programs loaded at start-up (on the fallback no others can run without a restart), and the file
  // watch.
  std::string policy_sha256_;
  std::string rejected_sha256_;  // of the last file refused, until one applies
  std::set<Guard> host_guards_loaded_;
  std::unique_ptr<PolicyWatch> policy_watch_;  // null when inotify failed: SIGHUP still reloads
  std::unique_ptr<SocketWatch> socket_watch_;  // null when inotify failed: re-scans still follow
};

Result<void> Agent::start() {
  auto signals = SignalInbox::install();
  if (!signals) return propagate(signals);
  signals_.emplace(std::move(*signals));
  GR_TRY(load_policy());
  GR_TRY(probe_kernel());
  GR_TRY(open_pins());
  GR_TRY(load_guards());
  GR_TRY(maps_->register_agent());
  GR_TRY(discover_workloads());
  GR_TRY(open_sinks());
  GR_TRY(enforce_first());
  adopt_pinned();
  GR_TRY(start_pipeline());
  watch_posture();
  watch_policy();
  watch_sockets();
  // /metrics answers only once the policy is enforced: a scrape that succeeds means "ready".
  health_.set_ready();
  GR_TRY(serve_metrics());
  print_summary(options_, policy_, compiled_, found_, backends_, cgroup_root_);
  return {};
}

Result<void> Agent::load_policy() {
  auto loaded = read_policy_file(options_.policy_file, options_.force_audit);
  if (!loaded.policy) {
    for (const auto& e : loaded.errors) std::cerr << e << "\n";
    return fail("policy " + options_.policy_file + " is invalid (" +
                std::to_string(loaded.errors.size()) +
                " problems); nothing was attached or changed (what a previous agent pinned "
                "keeps enforcing)");
  }
  policy_ = std::move(*loaded.policy);
  policy_sha256_ = std::move(loaded.sha256);
  return {};
}

Result<void> Agent::probe_kernel() {
  // Without the privileges every load fails, and the probe would blame the kernel.
  if (auto missing = missing_capabilities(effective_capabilities()); !missing.empty())
    return fail("guardrail agent needs root (or the capabilities " + missing +
                ", which this process lacks): run it as root, e.g. with sudo or as the shipped "
                "systemd unit or DaemonSet; nothing was attached");
  report_ = probe::run_probe();
  const probe::GuardBackend* network = report_.guard(Guard::Network);
  if (!network || network->backend == Backend::Unavailable)
    return fail(
        "this kernel cannot run the network guard (cgroup_skb and cgroup sock_addr "
        "programs); run `guardrail probe` for the reasons");
  cgroup_root_ = find_cgroup2_mount();
  if (cgroup_root_.empty())
    return fail(
        "cgroup v2 is not mounted; mount it (mount -t cgroup2 none /sys/fs/cgroup/unified)"
        " and start the agent again");
  return {};
}

Result<void> Agent::discover_workloads() {
  // Docker discovery, unless turned off: a dead or absent socket is reported, not fatal; the
  // events stream keeps retrying and the containers join when the engine answers.
  if (!options_.docker_socket.empty())
    containers_ = std::make_unique<docker::ContainerWatch>(options_.docker_socket,
                                                           [] { SignalInbox::poke(); });
  scan_ = std::make_unique<WorkloadScan>(policy_, cgroup_root_, containers_.get(),
                                         [] { SignalInbox::poke(); });
  if (options_.kubernetes) {
    // Fatal when misconfigured (no credentials, no node name); an API server that does not
    // answer yet is not: its pods are judged as the default zone until it does.
    auto kube = KubeSource::start({.kubeconfig = options_.kubeconfig,
                                   .node_name = options_.node_name,
                                   .kubelet_root = options_.kubelet_cgroup_root},
                                  [] { SignalInbox::poke(); });
    if (!kube) return fail(kube.error().message + "; nothing was attached");
    kube_ = std::move(*kube);
    // The first policy should know kube-system's pods and the agent's own: wait for the lists.
    const auto wait =
        std::chrono::milliseconds(static_cast<long>(options_.kubernetes_sync_seconds * 1000));
    if (!kube_->wait_synced(wait))
      spdlog::warn(
          "the Kubernetes API server has not answered in {:.0f} s; enforcing now: every pod on "
          "this node is judged as the default zone until its metadata arrives",
          options_.kubernetes_sync_seconds);
    scan_->watch_kubernetes(kube_.get());
  }
  // Adopted maps carry the previous agent's workload ids: keep them, never hand one out again.
  if (maps_->adoption().maps_reused) {
    auto previous = maps_->workload_ids();
    scan_->ids().adopt(previous.by_cgroup, previous.next);
  }
  found_ = scan_->scan();
  return {};
}

Result<void> Agent::open_pins() {
  if (options_.pin_dir.empty()) {
    spdlog::warn("--pin-dir is empty: nothing is pinned, enforcement ends with this agent");
    return {};
  }
  auto pins = PinDir::open(options_.pin_dir);
  if (pins) {
    found_pins_ = PinDir::holds_pins(options_.pin_dir);
    if (found_pins_)
      spdlog::info("{} holds a previous agent's enforcement: adopting it", options_.pin_dir);
    pins_.emplace(std::move(*pins));
    return {};
  }
  // Two agents on one directory would attach everything twice.
  if (pins.error().code == std::errc::operation_would_block)
    return fail(pins.error().message + "; nothing was attached");
  // Enforcing unpinned is still enforcing (never fail open), with the gap at exit said plainly.
  spdlog::error("{}; enforcing without pins: enforcement ends with this agent",
                pins.error().message);
  return {};
}

Result<void> Agent::load_guards() {
  auto maps = PolicyMaps::create(
      {.ringbuf_bytes = options_.ringbuf_bytes, .pins = pins_ ? &*pins_ : nullptr});
  if (!maps) return propagate(maps);
  maps_ = std::move(*maps);
  auto net = NetGuard::load(*maps_);
  if (!net) return propagate(net);
  net_ = std::move(*net);
  // The host guard object loads even when no zone asks for a host guard: its bpf() program
  // reports (or, with BPF-LSM, refuses) workloads tampering with the agent's programs. A failure
  // is not fatal: the network guard still runs, and the host guards say "unavailable".
  std::string host_failure;
  const auto requested = requested_host_guards(policy_);
  auto host = HostGuard::load(report_, *maps_, requested);
  if (host) {
    host_ = std::move(*host);
  } else {
    host_failure = host.error().message;
    spdlog::error("host guards and tamper events unavailable: {}", host_failure);
  }
  backends_ = running_backends(report_, host_.get(), host_failure, requested);
  if (auto birth = BirthGuard::load(*maps_))
    birth_ = std::move(*birth);
  else
    spdlog::error(
        "containers under a parent shared with host services are covered from their "
        "identification only: {}",
        birth.error().message);
  return {};
}

Result<void> Agent::open_sinks() {
  auto sink = JsonLinesSink::open(options_.alerts, options_.alerts_max_bytes, options_.alerts_keep);
  if (!sink) return propagate(sink);
  sink_ = std::move(*sink);
  return {};
}

Result<policy::CompiledPolicy> Agent::enforce(const discovery::Discovered& found,
                                              PhaseTimer* phases) {
  const auto mark = [&](std::string_view name) {
    if (phases) phases->mark(name);
  };
  std::vector<policy::WorkloadBinding> bindings = found.bindings;
  bindings.insert(bindings.end(), found.remote.begin(), found.remote.end());
  auto compiled = policy::compile(policy_, bindings, found.services);
  if (!compiled) return propagate(compiled);
  discovery::mark_birth_parents(*compiled, policy_, found.bindings);
  mark("compile");
  GR_TRY(maps_->apply(*compiled, discovery::cgroup_levels(found.bindings), scan_->ids().next()));
  mark("apply");
  // One cgroup that cannot take the programs (gone since the scan, or refused) must not leave
  // the others unattached: it is reported, and the next scan tries again.
  for (const auto& dir : found.attach_points) {
    auto attached = net_->attach(dir);
    if (attached && host_) attached = host_->attach(dir);
    if (!attached) compiled->problems.push_back(attach_problem(dir, attached.error().message));
  }
  // An attach point above older ones judges them now: their own links would judge twice.
  net_->retire_covered();
  if (host_) host_->retire_covered();
  mark("attach");
  return compiled;
}

Result<void> Agent::enforce_first() {
  auto compiled = enforce(found_);
  if (!compiled)
    return fail(compiled.error().message +
                (pins_ ? "; the agent exits (what is pinned keeps enforcing)"
                       : "; the agent exits and detaches everything"));
  metrics_.set_guard_backends(backends_);
  for (const auto& g : backends_)
    if (g.guard == Guard::Network || g.backend == Backend::CgroupSock ||
        g.backend == Backend::CgroupConnectUnix)
      metrics_.set_guard_interruptible(guard_name(g.guard), !bpf_refused());
  put_in_force(std::move(found_), std::move(*compiled));
  return {};
}

void Agent::abandon_start() {
  if (maps_) maps_->clear_agent();
  if (!pins_ || found_pins_) return;
  if (auto removed = pins_->remove_all(false); !removed)
    spdlog::error("removing what the failed start pinned: {}", removed.error().message);
}

void Agent::adopt_pinned() {
  net_->adopt_remaining(cgroup_root_);
  if (host_) host_->adopt_remaining(cgroup_root_);
  Adoption a = maps_->adoption();
  a += net_->adoption();
  if (host_) a += host_->adoption();
  if (birth_) a += birth_->adoption();
  for (const auto& note : a.notes) spdlog::warn("{}", note);
  const std::uint64_t lost = maps_->lost_since_last_seen();
  if (a.adopted())
    spdlog::info(
        "adopted the enforcement pinned at {}: maps {} reused, {} new; programs {} kept, {} "
        "replaced, {} new; links {} kept, {} switched to new programs, {} new, {} removed",
        pins_->path(), a.maps_reused, a.maps_created, a.programs_kept, a.programs_replaced,
        a.programs_new, a.links_kept, a.links_replaced, a.links_new, a.links_removed);
  else if (pins_)
    spdlog::info("nothing to adopt at {}: attached fresh; {} links pinned", pins_->path(),
                 a.links_new);
  if (lost)
    spdlog::warn(
        "{} events were lost while no agent read the ring buffer (it was full); the "
        "ones it held are delivered now",
        lost);
  maps_->mark_lost_seen();
  metrics_.set_pinning(pins_.has_value(),
                       {{{"map", "reused"}, a.maps_reused},
                        {{"map", "created"}, a.maps_created},
                        {{"program", "kept"}, a.programs_kept},
                        {{"program", "replaced"}, a.programs_replaced},
                        {{"program", "new"}, a.programs_new},
                        {{"link", "kept"}, a.links_kept},
                        {{"link", "replaced"}, a.links_replaced},
                        {{"link", "new"}, a.links_new},
                        {{"link", "removed"}, a.links_removed}},
                       lost);
}

void Agent::put_in_force(discovery::Discovered found, policy::CompiledPolicy compiled) {
  names_.set(name_table(compiled, found));
  report_problems(found, compiled);
  metrics_.set_policy_rules(compiled.rule_count());
  metrics_.set_policy_generation(++generation_);
  health_.set_generation(generation_);
  metrics_.set_workloads(workloads_per_zone(policy_, found));
  found_ = std::move(found);
  compiled_ = std::move(compiled);
  follow_socket_paths();
}

Result<void> Agent::start_pipeline() {
  if (!options_.webhook.url.empty()) {
    WebhookOptions webhook_options = options_.webhook;
    webhook_options.node = options_.node_name;
    webhook_options.generator_url = "http://" + options_.metrics_address + "/metrics";
    auto started = WebhookSink::start(webhook_options, [this](const WebhookOutcome& o) {
      if (o.delivered)
        metrics_.count_delivered("webhook", o.events, o.alerts);
      else
        metrics_.count_lost(LossStage::Webhook, o.events);
    });
    if (!started) return propagate(started);
    webhook_ = std::move(*started);
  }
  alerts_ = std::make_unique<pipeline::AlertPipeline>(
      options_.pipeline, metrics_, *sink_, webhook_.get(),
      [this](const pipeline::PendingAlert& a) {
        return names_.with([&](const events::NameTable& table) {
          return pipeline::format_alert(a, table, clock_, options_.node_name);
        });
      },
      [this](const pipeline::SuppressionSummary& s) {
        return names_.with([&](const events::NameTable& table) {
          return pipeline::format_summary(s, table, clock_, options_.node_name,
                                          options_.pipeline.summary_interval);
        });
      });
  const double period = options_.tamper_check_seconds;
  // A finding no event explains yet waits for one a little longer than the ring buffer poll.
  const auto hold_ns = std::uint64_t(2 * options_.poll_timeout_ms + 50) * 1'000'000;
  tamper_ = std::make_unique<TamperCheck>(static_cast<std::uint64_t>(std::llround(period * 1e9)),
                                          boot_clock_ns(), hold_ns);
  auto consumer = EventConsumer::start(
      maps_->events_fd(), [this](std::span<const std::byte> r) { on_record(r); },
      options_.poll_timeout_ms);
  if (!consumer) return propagate(consumer);
  consumer_ = std::move(*consumer);
  metrics_.export_kernel(kernel_source());
  return {};
}

void Agent::on_record(std::span<const std::byte> record) {
  auto event = events::decode(record);
  if (!event) {
    metrics_.count_decode_error();
    spdlog::warn("dropping an event record: {}", event.error().message);
    return;
  }
  const std::uint32_t zone = events::zone_id(*event);
  violations_.count(
      events::header(*event).type, events::verdict(*event), zone, names_.generation(),
      [&] { return names_.with([&](const auto& table) { return table.zone(zone); }); });
  if (const auto* host = std::get_if<gr_host_event>(&*event); host && tamper_->on_event(*host))
    SignalInbox::poke_check();  // the main loop owns the guards: it re-attaches
  alerts_->submit(*event);
}

KernelSource Agent::kernel_source() {
  return {.events_submitted = [this] { return maps_->stat(GR_STAT_EVENTS_SUBMITTED); },
          .events_lost = [this] { return maps_->stat(GR_STAT_EVENTS_LOST); },
          .ringbuf_unread_bytes = [this] { return consumer_->unread_bytes(); },
          .ringbuf_size_bytes = options_.ringbuf_bytes,
          .program_stats =
              [this] {
                auto stats = net_->program_stats();
                if (host_) {
                  auto more = host_->program_stats();
                  stats.insert(stats.end(), more.begin(), more.end());
                }
                return stats;
              }};
}

void Agent::watch_posture() {
  if (!containers_) return;
  posture_ = std::make_unique<posture::PostureWatch>(
      containers_->client(), metrics_,
      [this](nlohmann::ordered_json alert) {
        if (sink_->write(alert)) metrics_.count_delivered("jsonl", 0, 1);
        if (webhook_) webhook_->enqueue(std::move(alert));
      },
      policy_.name, options_.node_name, policy_.quarantine_on);
  scan_->watch_posture(posture_.get());
}

Result<void> Agent::serve_metrics() { return metrics_.serve(options_.metrics_address, &health_); }

void Agent::report_problems(const discovery::Discovered& found,
                            const policy::CompiledPolicy& compiled) {
  for (const auto& w : scan_->kubernetes_watches())
    metrics_.set_kubernetes_watch(w.resource, w.status.synced, w.objects, w.status.lists,
                                  w.status.reconnects);
  auto all = found.problems;
  all.insert(all.end(), compiled.problems.begin(), compiled.problems.end());
  problems_.update(
      all,
      [&](const std::string& workload) {
        for (const auto& [id, name] : compiled.workload_names)
          if (name == workload) return compiled.zone_names.at(compiled.workload_zone.at(id));
        return std::string();
      },
      policy_.name, boot_clock_ns(), clock_, options_.node_name);
}

void Agent::rescan() {
  // Runtime and allowed unix sockets are matched by inode on the LSM backend: the socket watch
  // follows them within milliseconds; the re-scan catches what inotify cannot see. The
  // host-write guard's listed paths are matched by inode too: a path re-made is followed here.
  follow_sockets("rescan");
  if (auto moved = maps_->follow_host_write_paths(compiled_); !moved)
    spdlog::error("re-resolving the host-write guard's paths: {}", moved.error().message);
  else if (*moved)
    spdlog::info(
        "host-write guard: a listed path names another inode now; the maps in force "
        "follow it");
  auto again = scan_->scan();
  if (same_bindings(again, found_)) {
    report_problems(again, compiled_);
    return;
  }
  auto recompiled = enforce(again);
  if (!recompiled) {
    spdlog::error("re-scan found a policy conflict, keeping the previous state: {}",
                  recompiled.error().message);
    return;
  }
  spdlog::info("workloads changed: {} workload cgroups, {} rules", again.bindings.size(),
               recompiled->rule_count());
  if (containers_) report_identified(containers_->take_started(), again, metrics_);
  put_in_force(std::move(again), std::move(*recompiled));
}

void Agent::watch_policy() {
  host_guards_loaded_ = requested_host_guards(policy_);
  metrics_.set_policy_info(policy_.name, policy_sha256_);
  health_.set_policy(policy_.name, policy_sha256_);
  auto watch = PolicyWatch::start(options_.policy_file, {}, [] { SignalInbox::poke_reload(); });
  if (!watch) {
    spdlog::warn("{}; the policy is re-read on SIGHUP only", watch.error().message);
    return;
  }
  policy_watch_ = std::move(*watch);
}

void Agent::watch_sockets() {
  auto watch = SocketWatch::start([] { SignalInbox::poke_sockets(); });
  if (!watch) {
    spdlog::warn("{}; runtime and allowed unix sockets are re-resolved on every re-scan only",
                 watch.error().message);
    return;
  }
  socket_watch_ = std::move(*watch);
  follow_socket_paths();
}

void Agent::follow_socket_paths() {
  if (!socket_watch_) return;
  std::vector<std::string> paths = compiled_.runtime_socket_paths;
  for (const auto& [zone_id, address] : compiled_.unix_allow)
    if (!address.starts_with('@')) paths.push_back(address);
  for (const auto& failed : socket_watch_->follow(paths))
    spdlog::warn(
        "cannot watch {} for re-made unix sockets (is fs.inotify.max_user_watches exhausted?); "
        "its sockets are re-resolved on every re-scan",
        failed);
  follow_sockets("apply");
}

void Agent::follow_sockets(std::string_view trigger) {
  // What inotify reported is its finding, whoever asks: the event is queued before the
  // filesystem shows the change.
  if (socket_watch_ && socket_watch_->take_changed()) trigger = "inotify";
  auto changes = maps_->follow_sockets(compiled_);
  if (!changes) {
    spdlog::error("re-resolving the runtime and allowed unix sockets: {}", changes.error().message);
    return;
  }
  for (const auto& c : *changes) {
    const char* change = !c.old_ino ? "appeared" : !c.new_ino ? "gone" : "replaced";
    metrics_.count_unix_socket_resolution(c.allowed ? "allowed" : "runtime", change, trigger);
    const auto zone = compiled_.zone_names.find(c.zone_id);
    const std::string what = c.allowed
                                 ? "allowed socket " + c.path + " of zone " +
                                       (zone != compiled_.zone_names.end() ? zone->second : "?")
                                 : "runtime socket " + c.path;
    spdlog::info("followed {}: {} (inode {} -> {}, found by {}); the maps in force follow it", what,
                 change, c.old_ino, c.new_ino, trigger);
  }
}

void Agent::reload_policy(events::ReloadTrigger trigger) {
  const std::uint64_t began = boot_clock_ns();
  const std::uint64_t changed = policy_watch_ ? policy_watch_->take_first_change_ns() : 0;
  PhaseTimer phases;
  auto file = read_policy_file(options_.policy_file, options_.force_audit);
  phases.mark("read and parse");
  if (!file.sha256.empty() && file.sha256 == policy_sha256_) {
    metrics_.count_policy_reload("unchanged");
    spdlog::info("policy reload ({}): {} is unchanged (sha256 {}), generation {} stays in force",
                 events::reload_trigger_name(trigger), options_.policy_file, policy_sha256_,
                 generation_);
    return;
  }
  // The file changed back to what was just refused (a touch, the same ConfigMap again): said
  // once already; SIGHUP, an operator asking, always gets the full answer.
  if (trigger == events::ReloadTrigger::FileChange && !file.sha256.empty() &&
      file.sha256 == rejected_sha256_) {
    metrics_.count_policy_reload("unchanged");
    spdlog::warn(
        "policy reload ({}): {} still holds the rejected content (sha256 {}); policy "
        "'{}' generation {} stays in force",
        events::reload_trigger_name(trigger), options_.policy_file, file.sha256, policy_.name,
        generation_);
    return;
  }
  if (!file.policy) return reject_policy(trigger, file.sha256, std::move(file.errors));
  // On the fallback a host guard runs only if its programs loaded at start-up: never claim one.
  const auto restart =
      guards_needing_restart(requested_host_guards(*file.policy), host_guards_loaded_,
                             host_ ? &host_->backends() : nullptr);
  if (!restart.empty())
    return reject_policy(
        trigger, file.sha256,
        {options_.policy_file + ": error: the policy asks for the host guards " +
         guard_list(restart) +
         ", whose programs are not loaded (without BPF-LSM only the guards the policy at "
         "start-up asked for are loaded); restart the agent to enforce this policy"});
  if (auto swapped = swap_policy(std::move(*file.policy), phases); !swapped)
    return reject_policy(trigger, file.sha256,
                         {options_.policy_file + ": error: " + swapped.error().message});
  policy_sha256_ = std::move(file.sha256);
  rejected_sha256_.clear();
  metrics_.count_policy_reload("applied");
  metrics_.set_policy_info(policy_.name, policy_sha256_);
  health_.set_policy(policy_.name, policy_sha256_);
  const std::uint64_t now = boot_clock_ns();
  spdlog::info(
      "policy reload ({}): applied '{}' from {} as generation {} (sha256 {}): {} zones, {} "
      "workload cgroups, {} rules; reloaded in {:.1f} ms{}",
      events::reload_trigger_name(trigger), policy_.name, options_.policy_file, generation_,
      policy_sha256_, policy_.zones.size(), found_.bindings.size(), compiled_.rule_count(),
      double(now - began) / 1e6,
      changed ? fmt::format(", {:.1f} ms after the file changed", double(now - changed) / 1e6)
              : std::string());
  phases.mark("put in force");
  spdlog::debug("policy reload phases: {}", phases.summary());
}

Result<void> Agent::swap_policy(policy::Policy next, PhaseTimer& phases) {
  // Discovery reads policy_ (zones and selectors may have changed): the new one, until a step
  // fails; then the previous policy and its maps are put back.
  policy::Policy previous = std::exchange(policy_, std::move(next));
  scan_->policy_changed();
  auto restore = [&](Error error) -> Result<void> {
    policy_ = std::move(previous);
    scan_->policy_changed();
    return std::unexpected(std::move(error));
  };
  auto found = scan_->scan();
  phases.mark("scan");
  auto compiled = enforce(found, &phases);
  if (!compiled) {
    // enforce() failed before the flip (compile, fill) or after it (attach): either way the
    // previous policy goes back in, whole.
    if (auto back =
            maps_->apply(compiled_, discovery::cgroup_levels(found_.bindings), scan_->ids().next());
        !back)
      spdlog::error("putting the previous policy back failed: {}", back.error().message);
    return restore(compiled.error());
  }
  const auto before = backends_;
  backends_ = running_backends(report_, host_.get(),
                               "the host guards failed to load at start-up (see its log)",
                               requested_host_guards(policy_));
  metrics_.replace_guard_backends(before, backends_);
  std::map<std::string, std::size_t> gone;  // zones the new policy dropped hold no workloads
  for (const auto& z : previous.zones)
    if (!policy_.find_zone(z.name)) gone[z.name] = 0;
  metrics_.set_workloads(gone);
  put_in_force(std::move(found), std::move(*compiled));
  return {};
}

void Agent::reject_policy(events::ReloadTrigger trigger, std::string sha256,
                          std::vector<std::string> errors) {
  metrics_.count_policy_reload("rejected");
  rejected_sha256_ = sha256;
  for (const auto& e : errors) spdlog::error("{}", e);
  events::PolicyRejection rejection{.trigger = trigger,
                                    .file = options_.policy_file,
                                    .sha256 = std::move(sha256),
                                    .errors = std::move(errors),
                                    .active_policy = policy_.name,
                                    .active_generation = generation_,
                                    .active_sha256 = policy_sha256_,
                                    .time_ns = boot_clock_ns(),
                                    .agent_pid = static_cast<std::uint32_t>(::getpid())};
  auto alert = events::policy_rejected_alert(rejection, clock_, options_.node_name);
  spdlog::error("{}", alert["message"].get<std::string>());
  if (sink_->write(alert)) metrics_.count_delivered("jsonl", 0, 1);
  if (webhook_) webhook_->enqueue(std::move(alert));
}

bool Agent::bpf_refused() const {
  return host_ && std::ranges::any_of(host_->backends(), [](const probe::GuardBackend& g) {
           return g.guard == Guard::Bpf && g.backend == Backend::Lsm;
         });
}

void Agent::check_attachments(bool poked) {
  auto outcome = tamper_->run(poked, boot_clock_ns(), [this] {
    auto missing = net_->repair();
    if (host_) {
      auto more = host_->repair();
      missing.insert(missing.end(), std::make_move_iterator(more.begin()),
                     std::make_move_iterator(more.end()));
    }
    return missing;
  });
  if (outcome.ran) metrics_.count_tamper_check();
  for (auto& repair : outcome.repairs) alert_repair(std::move(repair));
}

void Agent::alert_repair(events::TamperRepair repair) {
  // The workload the attach point belongs to (its own cgroup, or the first one below it).
  const std::string rel = repair.cgroup.substr(std::min(cgroup_root_.size(), repair.cgroup.size()));
  const policy::WorkloadBinding* owner = nullptr;
  for (const auto& b : found_.bindings)
    if (b.cgroup_path == rel || (!owner && b.cgroup_path.starts_with(rel + "/"))) {
      owner = &b;
      if (b.cgroup_path == rel) break;
    }
  if (owner) {
    repair.zone = owner->zone;
    repair.workload = owner->workload.empty() ? policy::anonymous_name(*owner) : owner->workload;
  }
  struct stat st {};
  if (::stat(repair.cgroup.c_str(), &st) == 0) repair.cgroup_id = st.st_ino;
  std::size_t failed = 0;
  for (const auto& p : repair.missing) failed += !p.reattached;
  metrics_.count_tamper_repair(events::tamper_source_name(repair.detected_by),
                               repair.window_ms() / 1000, repair.missing.size() - failed, failed);
  auto alert = events::tamper_repair_alert(repair, policy_.name, clock_, options_.node_name);
  if (failed)
    spdlog::error("{}", alert["message"].get<std::string>());
  else
    spdlog::warn("{}", alert["message"].get<std::string>());
  if (sink_->write(alert)) metrics_.count_delivered("jsonl", 0, 1);
  if (webhook_) webhook_->enqueue(std::move(alert));
}

SenderJudgement Agent::judge_signal(const SignalInbox::Sent& sent) {
  SenderSources sources;
  if (host_ && host_->records_signals()) {
    sources.kernel_records = true;
    sources.record = host_->take_signal_sender(sent.pid, sent.signal);
    sources.now_ns = boot_clock_ns();
  }
  sources.proc_cgroup = [](std::uint32_t pid) -> std::optional<std::string> {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    if (!in) return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  sources.owner = [this](const std::string& path) {
    return workload_of_path(
        path,
        [this](const std::string& p) -> std::optional<std::uint64_t> {
          struct stat st {};
          if (p.find("/..") != std::string::npos || ::stat((cgroup_root_ + p).c_str(), &st) != 0)
            return std::nullopt;  // outside this cgroup namespace's view, or gone
          return st.st_ino;
        },
        [this](std::uint64_t id) -> const gr_workload* {
          for (const auto& [cgroup, w] : compiled_.cgroups)
            if (cgroup == id) return &w;
          return nullptr;
        });
  };
  return judge_sender(sent, sources);
}

SignalInbox::Received Agent::accept_signals(SignalInbox::Received r) {
  // With BPF-LSM the kernel refused (or, audit mode, reported) a workload's signal itself.
  const bool lsm = host_ && std::ranges::any_of(host_->backends(), [](const auto& g) {
                     return g.backend == Backend::Lsm;
                   });
  std::set<int> accepted;
  for (const auto& sent : r.sent) {
    const SenderJudgement j = judge_signal(sent);
    if (j.kind == SenderKind::Operator) {
      accepted.insert(sent.signal);
      continue;
    }
    const bool audit = j.kind == SenderKind::AuditWorkload;
    if (audit) accepted.insert(sent.signal);
    if (audit && lsm) continue;  // lsm/task_kill reported it (audited)
    events::SignalTamper t{.signal = sent.signal,
                           .sender_pid = sent.pid,
                           .sender_tid = j.tid,
                           .sender_uid = sent.uid,
                           .comm = j.comm,
                           .cgroup_id = j.cgroup_id,
                           .verdict = static_cast<std::uint8_t>(audit      ? GR_VERDICT_AUDITED
                                                                : j.killed ? GR_VERDICT_KILLED
                                                                           : GR_VERDICT_BLOCKED),
                           .agent_pid = static_cast<std::uint32_t>(::getpid()),
                           .judged_by = j.how,
                           .time_ns = boot_clock_ns()};
    names_.with([&](const events::NameTable& table) {
      t.workload = table.workload(j.workload_id);
      t.zone = table.zone(j.zone_id);
    });
    metrics_.count_signal_from_workload(events::signal_name(sent.signal),
                                        events::verdict_name(t.verdict), t.zone);
    auto alert = events::signal_tamper_alert(t, policy_.name, clock_, options_.node_name);
    spdlog::warn("{}", alert["message"].get<std::string>());
    if (sink_->write(alert)) metrics_.count_delivered("jsonl", 0, 1);
    if (webhook_) webhook_->enqueue(std::move(alert));
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    if ((r.lost & (1u << sig)) && !accepted.contains(sig))
      spdlog::warn(
          "more {} signals arrived at once than the agent keeps senders for; those whose "
          "sender is unknown are ignored (send it again)",
          events::signal_name(sig));
  r.stop_signal = accepted.contains(SIGINT) ? SIGINT : accepted.contains(SIGTERM) ? SIGTERM : 0;
  r.stop = r.stop_signal != 0;
  r.reopen = accepted.contains(SIGHUP);
  return r;
}

int Agent::run() {
  const auto rescan_ns = static_cast<std::uint64_t>(std::llround(options_.rescan_seconds * 1e9));
  std::uint64_t next_rescan = boot_clock_ns() + rescan_ns;
  for (;;) {
    std::uint64_t now = boot_clock_ns();
    health_.beat("main", now);
    int timeout =
        next_rescan > now ? static_cast<int>((next_rescan - now + 999'999) / 1'000'000) : 0;
    if (const int check = tamper_->timeout_ms(now); check >= 0) timeout = std::min(timeout, check);
    const auto received = accept_signals(signals_->wait(timeout));
    if (received.stop) {
      const char* name = received.stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
      if (!pins_ || options_.detach_on_exit)
        spdlog::info("received {}, detaching and exiting", name);
      else
        spdlog::info(
            "received {}, exiting; the programs keep enforcing the last policy from {} "
            "(the next agent adopts them; `guardrail uninstall` removes them)",
            name, pins_->path());
      return 0;
    }
    maps_->mark_lost_seen();
    if (received.reopen) {
      spdlog::info("received SIGHUP, reopening {} and re-reading the policy", sink_->path());
      sink_->request_reopen();
    }
    if (received.reopen || received.reload)
      reload_policy(received.reopen ? events::ReloadTrigger::Signal
                                    : events::ReloadTrigger::FileChange);
    if (received.sockets) follow_sockets("inotify");
    now = boot_clock_ns();
    if (received.rescan || now >= next_rescan) {
      rescan();
      next_rescan = boot_clock_ns() + rescan_ns;
    }
    check_attachments(received.check);
  }
}

}  // namespace
}  // namespace guardrail::agent

namespace guardrail {

int run_agent(const AgentOptions& options) {
  agent::Agent daemon(options);
  if (auto started = daemon.start(); !started) {
    spdlog::error("{}", started.error().message);
    daemon.abandon_start();
    return 1;
  }
  return daemon.run();
}

}  // namespace guardrail
