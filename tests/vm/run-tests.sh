#!/bin/sh
# Guardrail's BPF-LSM guard tests. Runs INSIDE the test VM (busybox sh, started by /init of
# build-initramfs.sh), never on the host: it moves itself between cgroups and mounts things.
#
# For every guarded action it runs the static `attempt` tool (tests/tools/attempt.c) once inside
# the guarded cgroup /vmtest/agent (expects "ERR EPERM" and exactly one new alert of the guard's
# kind, blocked by the lsm backend) and once in the sibling /vmtest/other, which is in no zone
# (expects "OK" and no new alert). Prints "PASS name" / "FAIL name: details" per check, a
# summary line, and exits non-zero when anything failed.
export PATH=/bin:/sbin:/usr/local/bin:/test

G=/usr/local/bin/guardrail
A=/test/attempt
CG=/sys/fs/cgroup
INSIDE=$CG/vmtest/agent
OUTSIDE=$CG/vmtest/other
# Mount and bpf() attempts run in a zone without the capability guard: in agent-sandbox it
# refuses CAP_SYS_ADMIN (fsopen, open_tree, unshare) or CAP_BPF (bpf() on 6.1) before the mount
# and bpf hooks are reached, which is right but would test the capability guard again.
MOUNTER=$CG/vmtest/mounter
# A zone with no host guard: lsm/bpf still refuses it the commands that detach the agent's links.
TAMPERER=$CG/vmtest/tamper
AGENT_CG=$CG/vmtest/agent
ALERTS=/tmp/alerts.jsonl
AGENT_LOG=/tmp/agent.log
METRICS=http://127.0.0.1:9464/metrics
ALERT_WAIT_TICKS=${ALERT_WAIT_TICKS:-30}   # x 0.1 s: how long an expected alert may take
SETTLE_TICKS=${SETTLE_TICKS:-5}            # x 0.1 s: quiet time before counting alerts
READY_TICKS=${READY_TICKS:-900}            # x 0.1 s: agent start-up (BPF load under TCG)

passes=0
fails=0
pass() { echo "PASS $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

alert_lines() { if [ -f "$ALERTS" ]; then wc -l <"$ALERTS"; else echo 0; fi; }
# New alert lines since line count $1.
new_alerts() { [ -f "$ALERTS" ] && tail -n +"$(($1 + 1))" "$ALERTS"; }
count_kind() { new_alerts "$1" | grep -c "\"kind\": *\"$2\""; }
count_blocked_lsm() {
  new_alerts "$1" | grep "\"kind\": *\"$2\"" | grep "\"verdict\": *\"blocked\"" |
    grep -c "\"backend\": *\"lsm\""
}
oneline() { tr '\n' ' ' | cut -c1-"${1:-400}"; }

# check_allowed NAME CGROUP ATTEMPT-ARGS...: the action works in CGROUP and raises no alert.
check_allowed() {
  name=$1 cgroup=$2
  shift 2
  before=$(alert_lines)
  out=$(timeout 20 "$A" run-in-cgroup "$cgroup" -- "$A" "$@" 2>/tmp/attempt.err)
  err=$(oneline 200 </tmp/attempt.err)
  usleep $((SETTLE_TICKS * 100000))
  n_all=$(($(alert_lines) - before))
  details=""
  [ "$out" = "OK" ] || details="attempt printed '$out' (want 'OK') [$err];"
  [ "$n_all" -eq 0 ] || details="$details $n_all new alerts (want 0): $(new_alerts "$before" | oneline 600)"
  if [ -n "$details" ]; then fail "$name" "$details"; else pass "$name"; fi
}

# last_alert_has NAME KIND FRAGMENT...: the last alert of KIND holds every FRAGMENT (a JSON
# "key": "value" pair as the agent writes it).
last_alert_has() {
  name=$1 kind=$2
  shift 2
  line=$(grep "\"kind\": *\"$kind\"" "$ALERTS" | tail -n 1)
  for fragment in "$@"; do
    if ! echo "$line" | grep -q "$fragment"; then
      fail "$name" "no '$fragment' in: $(echo "$line" | oneline 600)"
      return
    fi
  done
  pass "$name"
}

# serve CGROUP ATTEMPT-ARGS...: a server in CGROUP, in the background; its pid joins $servers.
servers=""
serve() {
  cgroup=$1
  shift
  "$A" run-in-cgroup "$cgroup" -- "$A" "$@" >/dev/null 2>&1 &
  servers="$servers $!"
}

# check NAME KIND ATTEMPT-ARGS...: the inside and the outside run of one action.
check() {
  name=$1 kind=$2
  shift 2

  before=$(alert_lines)
  out=$(timeout 20 "$A" run-in-cgroup "$INSIDE" -- "$A" "$@" 2>/tmp/attempt.err)
  err=$(oneline 200 </tmp/attempt.err)
  i=0
  # No agent, no alerts: do not wait for them.
  kill -0 "$agent_pid" 2>/dev/null || i=$ALERT_WAIT_TICKS
  while [ "$i" -lt "$ALERT_WAIT_TICKS" ] && [ "$(count_kind "$before" "$kind")" -lt 1 ]; do
    usleep 100000
    i=$((i + 1))
  done
  usleep $((SETTLE_TICKS * 100000))
  n_kind=$(count_kind "$before" "$kind")
  n_ok=$(count_blocked_lsm "$before" "$kind")
  n_all=$(($(alert_lines) - before))
  details=""
  [ "$out" = "ERR EPERM" ] || details="attempt printed '$out' (want 'ERR EPERM') [$err];"
  if [ "$n_kind" -ne 1 ]; then
    details="$details $n_kind new '$kind' alerts (want 1, $n_all new alerts in all);"
  elif [ "$n_ok" -ne 1 ]; then
    details="$details the '$kind' alert is not verdict=blocked backend=lsm;"
  fi
  if [ -n "$details" ]; then
    [ "$n_all" -gt 0 ] && details="$details new alerts: $(new_alerts "$before" | oneline 600)"
    fail "$name/inside" "$details"
  else
    pass "$name/inside"
  fi
  if [ "$n_all" -gt "$n_kind" ]; then
    echo "NOTE $name/inside: $((n_all - n_kind)) further new alerts of other kinds: $(new_alerts "$before" |
      grep -v "\"kind\": *\"$kind\"" | oneline 600)"
  fi

  check_allowed "$name/outside" "$OUTSIDE" "$@"
}

echo "--- kernel $(uname -r), LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null)"
case ",$(cat /sys/kernel/security/lsm 2>/dev/null)," in
  *,bpf,*) pass lsm-list-has-bpf ;;
  *) fail lsm-list-has-bpf "'bpf' not in /sys/kernel/security/lsm" ;;
esac

echo "--- guardrail probe"
t0=$(cut -d' ' -f1 /proc/uptime)
"$G" probe >/tmp/probe.txt 2>&1
prc=$?
cat /tmp/probe.txt
echo "--- probe rc=$prc, $(cut -d' ' -f1 /proc/uptime) - $t0 s (guest uptime)"
if grep -Eq '^bpf_lsm +yes' /tmp/probe.txt; then
  pass probe-bpf-lsm
else
  fail probe-bpf-lsm "guardrail probe does not say 'bpf_lsm yes': $(grep -E '^bpf_lsm' /tmp/probe.txt)"
fi

# Fixtures: the two cgroups, mount targets, a host path to bind, a tmpfs to remount, and a fake
# container runtime socket with a symlink and a hard link to it (the server stays in the root
# cgroup, outside every zone).
mkdir -p "$INSIDE" "$OUTSIDE" "$MOUNTER" "$TAMPERER" /mnt/target /mnt/hostpath /mnt/remount
echo secret >/mnt/hostpath/file
mount -t tmpfs -o size=1m tmpfs /mnt/remount
"$A" serve-unix /run/fake-runtime.sock >/tmp/serve.out 2>&1 &
serve_pid=$!
i=0
while [ ! -S /run/fake-runtime.sock ] && [ "$i" -lt 50 ]; do usleep 100000; i=$((i + 1)); done
ln -sf /run/fake-runtime.sock /tmp/runtime-symlink.sock
ln -f /run/fake-runtime.sock /run/runtime-hardlink.sock
# Unix sockets: allowed and other addresses served from the root cgroup (no workload), and two
# workloads of zone unix-peers, b serving what a must not reach.
UXALLOW=$CG/vmtest/uxallow
PEER_A=$CG/vmtest/peers/a
PEER_B=$CG/vmtest/peers/b
mkdir -p "$UXALLOW" "$PEER_A" "$PEER_B"
serve "$CG" serve-unix /run/allowed.sock
serve "$CG" serve-unix @vm-ok
serve "$CG" serve-unix @vm-other
serve "$CG" serve-unix-dgram /run/other-dgram.sock
serve "$PEER_B" serve-unix @vm-peer
serve "$PEER_B" serve-unix /run/peer.sock
serve "$PEER_B" serve-unix-dgram /run/peer-dgram.sock
usleep 500000
ln -sf /run/allowed.sock /tmp/allowed-symlink.sock

echo "--- starting the agent"
t0=$(cut -d' ' -f1 /proc/uptime)
"$G" agent --policy /test/policy.yaml --alerts "$ALERTS" --metrics-address 127.0.0.1:9464 \
  --dedup-window-seconds 0 --rate-limit 0 --rescan-seconds 1 >"$AGENT_LOG" 2>&1 &
agent_pid=$!
i=0
ready=0
while [ "$i" -lt "$READY_TICKS" ]; do
  if wget -q -O /tmp/metrics.txt "$METRICS" 2>/dev/null; then ready=1; break; fi
  kill -0 "$agent_pid" 2>/dev/null || break
  usleep 100000
  i=$((i + 1))
done
if [ "$ready" = 1 ]; then
  pass agent-ready
  echo "--- agent ready after $(cut -d' ' -f1 /proc/uptime) - $t0 s (guest uptime)"
  grep -E '^guardrail_guard_backend' /tmp/metrics.txt
else
  if kill -0 "$agent_pid" 2>/dev/null; then
    fail agent-ready "/metrics did not answer within $((READY_TICKS / 10)) s"
  else
    wait "$agent_pid"
    fail agent-ready "the agent exited (rc=$?) before /metrics answered: $(tail -n 5 "$AGENT_LOG" | oneline 600)"
  fi
fi

check raw-socket raw_socket raw-socket
check packet-socket raw_socket packet-socket
check cap-net-admin capability net-admin
check cap-sys-admin capability sys-admin
INSIDE=$MOUNTER
check mount-tmpfs mount mount-tmpfs /mnt/target
check bind-mount mount bind-mount /mnt/hostpath /mnt/target
check new-mount-api mount new-mount-api /mnt/target
check fsmount-detached mount fsmount-detached
check open-tree-clone mount open-tree-clone /mnt/hostpath /mnt/target
check remount mount remount /mnt/remount
check userns-mount mount userns-mount /mnt/target
check bpf-map-create bpf bpf-map-create
INSIDE=$TAMPERER
check link-get-fd tamper link-get-fd
INSIDE=$AGENT_CG
check runtime-socket-path runtime_socket connect-unix /run/fake-runtime.sock
check runtime-socket-symlink runtime_socket connect-unix /tmp/runtime-symlink.sock
check runtime-socket-hardlink runtime_socket connect-unix /run/runtime-hardlink.sock

# Allowlist mode: every address not listed is refused (a runtime socket by any name, an abstract
# socket not listed, a datagram); listed ones work, under any name of the same inode.
INSIDE=$UXALLOW
check unix-allowlist-runtime-socket runtime_socket connect-unix /run/fake-runtime.sock
check unix-allowlist-runtime-symlink runtime_socket connect-unix /tmp/runtime-symlink.sock
check unix-allowlist-abstract-not-listed runtime_socket connect-unix @vm-other
last_alert_has unix-allowlist-abstract-not-listed/fields runtime_socket \
  '"reason": *"not_allowed"' '"path": *"@vm-other"' '"zone": *"unix-allow"'
check unix-allowlist-dgram-not-listed runtime_socket sendto-unix /run/other-dgram.sock
check_allowed unix-allowlist-path "$UXALLOW" connect-unix /run/allowed.sock
check_allowed unix-allowlist-symlink-to-allowed "$UXALLOW" connect-unix /tmp/allowed-symlink.sock
check_allowed unix-allowlist-abstract-listed "$UXALLOW" connect-unix @vm-ok
# A socket made at an allowed path after the policy was applied: the agent resolves it to its
# inode on the next re-scan (--rescan-seconds 1 here).
serve "$CG" serve-unix /run/late.sock
usleep 3000000
check_allowed unix-allowlist-socket-made-later "$UXALLOW" connect-unix /run/late.sock
# No workload changed: only the new inode at an allowed path made the re-scan re-apply.
if grep -q "workloads changed" "$AGENT_LOG"; then
  pass unix-allowlist-reresolved-on-rescan
else
  fail unix-allowlist-reresolved-on-rescan "no re-apply in the agent log after /run/late.sock appeared"
fi

# Workload to workload: a's connect or datagram to b's sockets (abstract or path) is refused;
# b reaching its own socket is not.
INSIDE=$PEER_A
check unix-other-workload-abstract unix_socket connect-unix @vm-peer
last_alert_has unix-other-workload-abstract/fields unix_socket '"reason": *"other_workload"' \
  '"path": *"@vm-peer"' '"peer_workload": *"unix-peers:/vmtest/peers/b"' '"zone": *"unix-peers"'
check unix-other-workload-path unix_socket connect-unix /run/peer.sock
last_alert_has unix-other-workload-path/fields unix_socket '"reason": *"other_workload"' \
  '"path": *"/run/peer.sock"' '"peer_workload": *"unix-peers:/vmtest/peers/b"'
check unix-other-workload-dgram unix_socket sendto-unix /run/peer-dgram.sock
check_allowed unix-same-workload-abstract "$PEER_B" connect-unix @vm-peer
INSIDE=$AGENT_CG

# The agent's own process, from a guarded workload and from a zone that guards nothing: signals
# to it (lsm/task_kill) and ptrace access (lsm/ptrace_access_check: ptrace attach, /proc/<pid>/mem)
# are refused, one tamper alert each, and the agent lives on. open() of /proc/<pid>/mem fails
# with EACCES: the kernel's mm_access() turns any refusal into EACCES.
# self_attempt NAME CGROUP ERRNO ATTEMPT-ARGS...
self_attempt() {
  name=$1 cgroup=$2 want=$3
  shift 3
  before=$(alert_lines)
  out=$(timeout 20 "$A" run-in-cgroup "$cgroup" -- "$A" "$@" 2>/tmp/attempt.err)
  kill -CONT "$agent_pid" 2>/dev/null  # had a SIGSTOP got through, the checks after must not hang
  i=0
  while [ "$i" -lt "$ALERT_WAIT_TICKS" ] && [ "$(count_kind "$before" tamper)" -lt 1 ]; do
    usleep 100000
    i=$((i + 1))
  done
  usleep $((SETTLE_TICKS * 100000))
  n_kind=$(count_kind "$before" tamper)
  n_ok=$(count_blocked_lsm "$before" tamper)
  details=""
  [ "$out" = "ERR $want" ] || details="attempt printed '$out' (want 'ERR $want') [$(oneline 200 </tmp/attempt.err)];"
  if [ "$n_kind" -ne 1 ] || [ "$n_ok" -ne 1 ]; then
    details="$details $n_kind new tamper alerts, $n_ok blocked by lsm (want 1): $(new_alerts "$before" | oneline 600);"
  fi
  kill -0 "$agent_pid" 2>/dev/null || details="$details the agent is gone;"
  if [ -n "$details" ]; then fail "$name" "$details"; else pass "$name"; fi
}
if [ "$ready" = 1 ]; then
  for cg in "$AGENT_CG" "$TAMPERER"; do
    z=${cg##*/}
    self_attempt "self-sigterm/$z" "$cg" EPERM signal 15 "$agent_pid"
    last_alert_has "self-sigterm/$z/fields" tamper '"tamper": *"signal"' '"signal": *"SIGTERM"' \
      '"signal_number": *15' "\"target_pid\": *$agent_pid," '"verdict": *"blocked"' '"backend": *"lsm"'
    self_attempt "self-sigkill/$z" "$cg" EPERM signal 9 "$agent_pid"
    last_alert_has "self-sigkill/$z/fields" tamper '"signal": *"SIGKILL"' "\"target_pid\": *$agent_pid,"
    self_attempt "self-sigstop/$z" "$cg" EPERM signal 19 "$agent_pid"
    last_alert_has "self-sigstop/$z/fields" tamper '"signal": *"SIGSTOP"'
    self_attempt "self-ptrace-attach/$z" "$cg" EPERM ptrace-attach "$agent_pid"
    last_alert_has "self-ptrace-attach/$z/fields" tamper '"tamper": *"ptrace"' \
      '"access": *"ptrace_may_access"' '"ptrace_mode": *"attach_realcreds"' "\"target_pid\": *$agent_pid,"
    self_attempt "self-proc-mem/$z" "$cg" EACCES open-mem "$agent_pid"
    last_alert_has "self-proc-mem/$z/fields" tamper '"tamper": *"ptrace"' '"ptrace_mode": *"attach_fscreds"'
  done
  last_alert_has self-tamper-sandbox-zone tamper '"zone": *"tamper-sandbox"'
  # From outside every workload the same accesses work, unalerted (the operator's signals: the
  # kill -9 and the SIGTERM below).
  check_allowed self-ptrace-attach/outside "$OUTSIDE" ptrace-attach "$agent_pid"
  check_allowed self-proc-mem/outside "$OUTSIDE" open-mem "$agent_pid"
fi

if [ "$ready" = 1 ]; then
  if kill -0 "$agent_pid" 2>/dev/null; then pass agent-alive; else fail agent-alive "the agent died during the tests"; fi
fi

# Enforcement outlives the agent: after kill -9 the pinned LSM programs still refuse, the
# refusal's event waits in the pinned ring buffer, and a restarted agent adopts everything and
# alerts it. `guardrail uninstall` then removes it all.
INSIDE=$AGENT_CG
kill -9 "$agent_pid" 2>/dev/null
wait "$agent_pid" 2>/dev/null
if kill -0 "$agent_pid" 2>/dev/null; then fail operator-sigkill "the operator's kill -9 left the agent running"
else pass operator-sigkill; fi
before=$(alert_lines)
out=$(timeout 20 "$A" run-in-cgroup "$INSIDE" -- "$A" raw-socket 2>/tmp/attempt.err)
if [ "$out" = "ERR EPERM" ]; then pass pinned-after-kill-9; else
  fail pinned-after-kill-9 "raw-socket with the agent killed printed '$out' (want 'ERR EPERM')"; fi
"$G" agent --policy /test/policy.yaml --alerts "$ALERTS" --metrics-address 127.0.0.1:9464 \
  --dedup-window-seconds 0 --rate-limit 0 --rescan-seconds 1 >"$AGENT_LOG.2" 2>&1 &
agent_pid=$!
i=0
while [ "$i" -lt "$READY_TICKS" ] && ! wget -q -O /tmp/metrics.txt "$METRICS" 2>/dev/null; do
  kill -0 "$agent_pid" 2>/dev/null || break
  usleep 100000
  i=$((i + 1))
done
if grep -q "adopted the enforcement pinned at" "$AGENT_LOG.2" &&
  ! grep -q 'guardrail_adopted{object="link",result="new"} [1-9]' /tmp/metrics.txt; then
  pass restart-adopts-pins
else
  fail restart-adopts-pins "$(grep -E 'adopt|nothing to adopt' "$AGENT_LOG.2" | oneline 400) $(grep guardrail_adopted /tmp/metrics.txt | oneline 400)"
fi
i=0
while [ "$i" -lt "$ALERT_WAIT_TICKS" ] && [ "$(count_kind "$before" raw_socket)" -lt 1 ]; do
  usleep 100000
  i=$((i + 1))
done
if [ "$(count_kind "$before" raw_socket)" -ge 1 ]; then pass event-waited-in-pinned-ring-buffer; else
  fail event-waited-in-pinned-ring-buffer "the refusal made while no agent ran was never alerted"; fi
kill "$agent_pid" 2>/dev/null
wait "$agent_pid" 2>/dev/null
rc=$?
if [ "$rc" -eq 0 ] && grep -q "received SIGTERM" "$AGENT_LOG.2"; then pass operator-sigterm-stops-agent
else fail operator-sigterm-stops-agent "rc=$rc: $(tail -n 3 "$AGENT_LOG.2" | oneline 300)"; fi
out=$(timeout 20 "$A" run-in-cgroup "$INSIDE" -- "$A" raw-socket 2>/tmp/attempt.err)
[ "$out" = "ERR EPERM" ] && pass pinned-after-sigterm || fail pinned-after-sigterm "printed '$out'"
"$G" uninstall >/tmp/uninstall.txt 2>&1 && pass uninstall || fail uninstall "$(oneline 300 </tmp/uninstall.txt)"
# uninstall returns only once the kernel has let go of every program (on 6.12 under QEMU that
# is ~0.7 s after the links' ids are gone): the very next attempt is free.
check_allowed uninstalled-nothing-enforces "$INSIDE" raw-socket
kill "$serve_pid" $servers 2>/dev/null

echo "--- $(alert_lines) alerts in all"
if [ "$fails" -gt 0 ]; then
  echo "--- agent log (last 200 lines)"
  tail -n 200 "$AGENT_LOG"
fi
echo "run-tests: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
