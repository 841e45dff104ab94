// `guardrail agent`: the daemon. Loads the BPF programs, discovers workloads, applies the policy,
// streams violations to alerts and metrics, and re-scans for new workloads until told to stop.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "guardrail.h"
#include "guardrail/docker/defaults.hpp"
#include "guardrail/pipeline/alert_pipeline.hpp"
#include "guardrail/sinks/webhook.hpp"

namespace guardrail {

struct AgentOptions {
  std::string policy_file;
  std::string metrics_address = "127.0.0.1:9464";
  std::string alerts = "-";  // "-" is stdout
  bool force_audit = false;
  unsigned ringbuf_bytes = GR_DEFAULT_RINGBUF_BYTES;
  int poll_timeout_ms = 20;
  double rescan_seconds = 2.0;
  // How often the workload cgroups are checked for the agent's programs (0: only on a tamper
  // event). Where BPF-LSM cannot refuse bpf(), a privileged workload can detach them.
  double tamper_check_seconds = 1.0;
  std::uint64_t alerts_max_bytes = 100ull << 20;  // rotate the alerts file past this size
  int alerts_keep = 5;                            // rotated files kept
  pipeline::PipelineOptions pipeline;
  WebhookOptions webhook;  // url empty: no webhook
  std::string node_name;   // a label on every alert; the host name by default
  std::string docker_socket = docker::kDefaultSocket;  // empty: no Docker discovery
  // Where maps, programs and links are pinned (bpffs), so enforcement outlives the process and
  // the next agent adopts it. Empty: nothing is pinned, enforcement ends with the agent.
  std::string pin_dir = "/sys/fs/bpf/guardrail";
  bool detach_on_exit = false;  // on SIGINT/SIGTERM, unpin and detach everything
  // Kubernetes discovery: pods of node_name from the API server (in-cluster service account,
  // or `kubeconfig`), their cgroups under the kubelet's cgroup root.
  bool kubernetes = false;
  std::string kubeconfig;
  std::string kubelet_cgroup_root = "/";
  double kubernetes_sync_seconds = 10.0;  // how long the first scan waits for the first lists
};

// Runs until SIGINT or SIGTERM. Returns the process exit code; every failure is logged with
// what failed and what to do.
int run_agent(const AgentOptions& options);

// `guardrail uninstall`: removes what agents pinned at pin_dir, which detaches every program
// they left enforcing. Refuses while an agent holds the directory. Returns the exit code.
int uninstall(const std::string& pin_dir, std::ostream& out);

}  // namespace guardrail
