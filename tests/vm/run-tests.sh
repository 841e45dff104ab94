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
# A zone guarding host writes only (the cgroup guard is on for every workload).
WRITER=$CG/vmtest/writer
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
  attempt_in "$cgroup" "$@" >/tmp/attempt.out
  out=$(cat /tmp/attempt.out)
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

# start_gated CGROUP ATTEMPT-ARGS...: a process joins CGROUP now and runs the attempt only when
# open_gate says so (printing what it printed). A workload's first process makes the agent
# re-scan (cgroup.events): the gate lets that re-scan pass before the test changes anything, so
# what the attempt then meets is what the agent did since, not what the re-scan found.
start_gated() {
  cgroup=$1
  shift
  rm -f /tmp/gate
  mkfifo /tmp/gate
  "$A" run-in-cgroup "$cgroup" -- sh -c 'read g </tmp/gate; exec "$@"' sh "$A" "$@" \
    >/tmp/gated.out 2>/tmp/gated.err &
  gated_pid=$!
  usleep 1000000
}
open_gate() {
  echo go >/tmp/gate
  wait "$gated_pid"
  cat /tmp/gated.out
}
# The attempt of check or check_allowed: through the gate with GATED=1, else run now. Runs in
# this shell (never in a command substitution: wait needs the gated process as its child).
attempt_in() {
  if [ "${GATED:-0}" = 1 ]; then
    open_gate
    cp /tmp/gated.err /tmp/attempt.err
  else
    cgroup=$1
    shift
    timeout 20 "$A" run-in-cgroup "$cgroup" -- "$A" "$@" 2>/tmp/attempt.err
  fi
}

# check NAME KIND ATTEMPT-ARGS...: the inside and the outside run of one action.
check() {
  name=$1 kind=$2
  shift 2

  before=$(alert_lines)
  # PAUSE_AGENT=1: the agent is stopped (SIGSTOP) around the attempt, so only the kernel decides
  # and the alert waits in the ring buffer until it goes on.
  [ "${PAUSE_AGENT:-0}" = 1 ] && kill -STOP "$agent_pid"
  # BEFORE_ATTEMPT: run while the agent is stopped, right before the attempt (e.g. its mkdir).
  [ -n "${BEFORE_ATTEMPT:-}" ] && eval "$BEFORE_ATTEMPT"
  attempt_in "$INSIDE" "$@" >/tmp/attempt.out
  out=$(cat /tmp/attempt.out)
  [ "${PAUSE_AGENT:-0}" = 1 ] && kill -CONT "$agent_pid"
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

  GATED=0 check_allowed "$name/outside" "$OUTSIDE" "$@"
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
# Mount targets: a nested new directory, and one deeper than an alert's 127 bytes of target.
mkdir -p /mnt/fresh/dir
LONG_DIR=/mnt/long-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/long-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
LONG_DIR=$LONG_DIR/long-cccccccccccccccccccccccccccccc/long-dddddddddddddddddddddddddddddd/last
mkdir -p "$LONG_DIR"
echo secret >/mnt/hostpath/file
# The host-write guard's listed path, a symlink to it and a bind mount of it; the writer's own
# child cgroup.
mkdir -p "$WRITER/sub" /mnt/hostdir /mnt/hostbind
echo host >/mnt/hostdir/file
echo ordinary >/tmp/ordinary-file
ln -sfn /mnt/hostdir /tmp/hostdir-link
mount --bind /mnt/hostdir /mnt/hostbind
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

# The systemd cgroup driver's layout: containers in vmbirth.slice beside a host service, as a
# stand-in dockerd (GET /info: CgroupDriver systemd; --cgroup-parent vmbirth.slice) tells the
# agent. The slice is a birth parent: a docker-<id>.scope made there is the default zone's from
# its mkdir (tp_btf/cgroup_mkdir), everything else there is the host's.
BIRTH=$CG/vmbirth.slice
BORN_ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mkdir -p "$BIRTH/foo.service"
/test/dockerd --cgroup-parent vmbirth.slice -H /run/gr-docker.sock >/dev/null 2>&1 &

echo "--- starting the agent"
t0=$(cut -d' ' -f1 /proc/uptime)
"$G" agent --policy /test/policy.yaml --alerts "$ALERTS" --metrics-address 127.0.0.1:9464 \
  --dedup-window-seconds 0 --rate-limit 0 --rescan-seconds 1 \
  --docker-socket /run/gr-docker.sock >"$AGENT_LOG" 2>&1 &
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
# The same through the 32-bit syscall ABI (int $0x80 from the 64-bit attempt): the LSM hooks sit
# below the syscall layer, so every ABI meets them.
check ia32-packet-socket raw_socket ia32 packet-socket
check cap-net-admin capability net-admin
check cap-sys-admin capability sys-admin
INSIDE=$MOUNTER
check mount-tmpfs mount mount-tmpfs /mnt/target
# The target is the full path of the mount point (lsm: walked in the kernel), not its last name.
last_alert_has mount-tmpfs/target mount '"operation": *"mount"' '"target": *"/mnt/target"'
check mount-nested-dir mount mount-tmpfs /mnt/fresh/dir
last_alert_has mount-nested-dir/target mount '"target": *"/mnt/fresh/dir"'
# Over an existing mount (the tmpfs at /mnt/remount): the mount point, not the mounted root "/".
check mount-over-a-mount mount mount-tmpfs /mnt/remount
last_alert_has mount-over-a-mount/target mount '"target": *"/mnt/remount"'
# Longer than the alert holds: "..." and the end of the path (127 bytes in all).
check mount-long-target mount mount-tmpfs "$LONG_DIR"
long_tail=$(echo "$LONG_DIR" | cut -c $((${#LONG_DIR} - 123))-)
last_alert_has mount-long-target/target mount "\"target\": *\"\.\.\.$long_tail\""
check bind-mount mount bind-mount /mnt/hostpath /mnt/target
last_alert_has bind-mount/target mount '"source": *"/mnt/hostpath"' '"target": *"/mnt/target"'
check new-mount-api mount new-mount-api /mnt/target
check fsmount-detached mount fsmount-detached
check open-tree-clone mount open-tree-clone /mnt/hostpath /mnt/target
last_alert_has open-tree-clone/target mount '"operation": *"move_mount"' '"target": *"/mnt/target"'
check remount mount remount /mnt/remount
last_alert_has remount/target mount '"target": *"/mnt/remount"'
check userns-mount mount userns-mount /mnt/target
last_alert_has userns-mount/target mount '"target": *"/mnt/target"'
check bpf-map-create bpf bpf-map-create
check ia32-mount-tmpfs mount ia32 mount-tmpfs /mnt/target
check ia32-bpf-map-create bpf ia32 bpf-map-create
# Born under the systemd driver's slice: the agent stopped, the scope made, a mount attempted at
# once: only the kernel can have classified it. Judged as the default zone's new container.
i=0
while [ "$i" -lt 50 ] && ! grep -q "vmbirth.slice" "$AGENT_LOG"; do usleep 100000; i=$((i + 1)); done
if grep -q "identification only" "$AGENT_LOG"; then
  fail birth-guard-loaded "$(grep "identification only" "$AGENT_LOG" | oneline 400)"
else
  pass birth-guard-loaded
fi
for runtime in docker cri-containerd; do
  INSIDE=$BIRTH/$runtime-$BORN_ID.scope
  PAUSE_AGENT=1 BEFORE_ATTEMPT='mkdir "$INSIDE"' check "born-$runtime" mount mount-tmpfs /mnt/target
  last_alert_has "born-$runtime/named" mount '"workload": *"mount-sandbox:/vmbirth.slice/\*"' \
    '"zone": *"mount-sandbox"'
done
check_allowed born-host-service "$BIRTH/foo.service" mount-tmpfs /mnt/target
mkdir -p "$BIRTH/foo.scope"
check_allowed born-stray-scope "$BIRTH/foo.scope" mount-tmpfs /mnt/target
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
# A socket made at an allowed path after the policy was applied: the agent's inotify watch on
# /run resolves it to its inode within milliseconds (the re-scan, every second here, would take
# up to a second; the agent log names what found it; the second agent below, which re-scans only
# when a workload's first process arrives, proves the latency without it).
wait_bound() { # PATH: until a server says OK (it listens), at most 5 s
  j=0
  while ! grep -q OK "$1" 2>/dev/null && [ "$j" -lt 500 ]; do usleep 10000; j=$((j + 1)); done
}
"$A" run-in-cgroup "$CG" -- "$A" serve-unix /run/late.sock >/tmp/late.out 2>&1 &
servers="$servers $!"
wait_bound /tmp/late.out
usleep 200000
check_allowed unix-allowlist-socket-made-later "$UXALLOW" connect-unix /run/late.sock
if grep -q "followed allowed socket /run/late.sock of zone unix-allow: appeared .*found by inotify" "$AGENT_LOG"; then
  pass unix-allowlist-followed-by-inotify
else
  fail unix-allowlist-followed-by-inotify "no inotify resolution of /run/late.sock in the agent log: $(grep followed "$AGENT_LOG" | oneline 400)"
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

# Host writes, judged by the opened file (lsm/file_open): host sysctls, sysrq-trigger, sysfs and
# the listed host path, under every name of it (a symlink, a bind mount); nothing is written.
INSIDE=$WRITER
check host-write-sysctl host_write open-write /proc/sys/kernel/core_pattern
last_alert_has host-write-sysctl/fields host_write '"write_target": *"sysctl"' \
  '"path": *"/proc/sys/kernel/core_pattern"' '"fstype": *"proc"' '"zone": *"writer-sandbox"'
check host-write-sysrq host_write open-write /proc/sysrq-trigger
last_alert_has host-write-sysrq/fields host_write '"write_target": *"sysrq_trigger"'
check host-write-sysfs host_write open-write /sys/class/net/lo/mtu
last_alert_has host-write-sysfs/fields host_write '"write_target": *"sysfs"' '"fstype": *"sysfs"'
check host-write-listed-path host_write open-write /mnt/hostdir/file
last_alert_has host-write-listed-path/fields host_write '"write_target": *"host_path"' \
  '"path": *"/mnt/hostdir/file"'
check host-write-listed-path-symlink host_write open-write /tmp/hostdir-link/file
check ia32-host-write-listed-path host_write ia32 open-write /mnt/hostdir/file
check ia32-host-write-listed-path-openat host_write ia32 openat-write /mnt/hostdir/file
check host-write-listed-path-bind-mount host_write open-write /mnt/hostbind/file
last_alert_has host-write-listed-path-bind-mount/fields host_write '"path": *"/mnt/hostbind/file"'
check_allowed host-write-elsewhere "$WRITER" open-write /tmp/ordinary-file

# The cgroup guard (every workload): no move out of the workload, no other cgroup's files, not
# its own limits; moves and files inside its own subtree work.
check cgroup-move-to-root cgroup_escape move-self "$CG"
last_alert_has cgroup-move-to-root/fields cgroup_escape '"escape": *"open"' \
  '"path": *"/sys/fs/cgroup/cgroup.procs"' '"zone": *"writer-sandbox"'
check cgroup-move-to-other-workload cgroup_escape move-self "$AGENT_CG"
last_alert_has cgroup-move-to-other-workload/fields cgroup_escape \
  '"peer_workload": *"agent-sandbox:/vmtest/agent"'
check cgroup-other-freeze cgroup_escape open-write "$OUTSIDE/cgroup.freeze"
check cgroup-own-limits cgroup_escape open-write "$WRITER/cgroup.max.descendants"
check cgroup-clone-into cgroup_escape clone-into-cgroup "$CG"
last_alert_has cgroup-clone-into/fields cgroup_escape '"escape": *"clone_into_cgroup"'
check cgroup-other-process-proc-file cgroup_escape open-write /proc/1/oom_score_adj
last_alert_has cgroup-other-process-proc-file/fields cgroup_escape '"escape": *"other_process"' \
  '"target_pid": *1' '"path": *"/proc/1/oom_score_adj"'
check_allowed cgroup-own-proc-file "$WRITER" open-write /proc/self/oom_score_adj
check_allowed cgroup-move-within-own-subtree "$WRITER" move-self "$WRITER/sub"
check_allowed cgroup-own-child-files "$WRITER" open-write "$WRITER/sub/cgroup.max.descendants"
INSIDE=$AGENT_CG

# A runtime socket that comes back (a daemon's restart: a new socket, a new inode, at the same
# path). The agent is stopped (SIGSTOP) before the old server goes and until the attempt is
# done, so it cannot have resolved the new inode: the kernel refuses by the listener's bound
# name (the runtime path), from the first connect, and the alert waits in the ring buffer.
kill -STOP "$agent_pid"
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null
"$A" serve-unix /run/fake-runtime.sock >/tmp/serve2.out 2>&1 &
serve_pid=$!
wait_bound /tmp/serve2.out
PAUSE_AGENT=1 check runtime-socket-restarted runtime_socket connect-unix /run/fake-runtime.sock
last_alert_has runtime-socket-restarted/fields runtime_socket '"reason": *"runtime_socket"' \
  '"path": *"/run/fake-runtime.sock"' '"zone": *"agent-sandbox"'

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
# This agent re-scans only when a workload cgroup gets its first process (--rescan-seconds 600):
# the gated attempts below let that re-scan pass before the socket changes, so what the attempt
# meets within ~200 ms only the inotify watch can have done.
"$G" agent --policy /test/policy.yaml --alerts "$ALERTS" --metrics-address 127.0.0.1:9464 \
  --dedup-window-seconds 0 --rate-limit 0 --rescan-seconds 600 >"$AGENT_LOG.2" 2>&1 &
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

# A runtime socket re-made under another name and renamed over its path: its bound name is not
# the runtime path, so only the agent's inotify watch can make the kernel refuse it (the new
# inode), within ~200 ms.
old_serve_pid=$serve_pid
"$A" serve-unix /run/fake-runtime.sock.new >/tmp/serve3.out 2>&1 &
serve_pid=$!
wait_bound /tmp/serve3.out
start_gated "$INSIDE" connect-unix /run/fake-runtime.sock
mv -f /run/fake-runtime.sock.new /run/fake-runtime.sock
usleep 200000
GATED=1 check runtime-socket-renamed-over runtime_socket connect-unix /run/fake-runtime.sock
kill "$old_serve_pid" 2>/dev/null
if grep -q "followed runtime socket /run/fake-runtime.sock: replaced .*found by inotify" "$AGENT_LOG.2"; then
  pass runtime-socket-followed-by-inotify
else
  fail runtime-socket-followed-by-inotify "no inotify resolution in the agent log: $(grep followed "$AGENT_LOG.2" | oneline 400)"
fi
wget -q -O /tmp/metrics.txt "$METRICS" 2>/dev/null
if grep -q 'guardrail_unix_socket_resolutions_total{change="replaced",socket="runtime",trigger="inotify"} [1-9]' /tmp/metrics.txt; then
  pass runtime-socket-resolution-counted
else
  fail runtime-socket-resolution-counted "$(grep guardrail_unix_socket_resolutions /tmp/metrics.txt | oneline 400)"
fi
# An allowed path socket made after this agent started (it never re-scans): allowed within
# ~200 ms.
start_gated "$UXALLOW" connect-unix /run/late2.sock
"$A" run-in-cgroup "$CG" -- "$A" serve-unix /run/late2.sock >/tmp/late2.out 2>&1 &
servers="$servers $!"
wait_bound /tmp/late2.out
usleep 200000
GATED=1 check_allowed unix-allowlist-made-later-without-rescan "$UXALLOW" connect-unix /run/late2.sock
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
