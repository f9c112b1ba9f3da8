#!/usr/bin/env bash
# Slurm smoke test for `lbounds sweep slurm`: installs Slurm and munge from Debian packages,
# starts a single-node cluster on this machine (slurmctld + slurmd), submits a 4-shard job
# array for a small sweep plus its dependent merge job, waits, and checks that the merged
# records are byte-identical to a one-process run. Stops every daemon it started.
#
# Needs root and apt-get (Debian 12: slurm-wlm 22.05, munge). Where they are missing or the
# install fails it prints a loud SKIPPED line with the reason and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "SKIPPED: slurm smoke test: $*" >&2
    echo "SKIPPED: slurm smoke test: $*"
    exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root to install and start slurm and munge"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || skip "slurm is not installed and there is no apt-get"
    echo "== installing slurm-wlm and munge (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >/tmp/lbounds-slurm-apt.log 2>&1; then
        skip "apt-get install slurm-wlm munge failed (see /tmp/lbounds-slurm-apt.log): $(tail -n 1 /tmp/lbounds-slurm-apt.log)"
    fi
fi

# LBOUNDS_BIN: a binary already built (CI passes the one its tests ran); else build one.
if [ -n "${LBOUNDS_BIN:-}" ]; then
    BIN="$LBOUNDS_BIN"
    [ -x "$BIN" ] || { echo "FAIL: LBOUNDS_BIN=$BIN is not an executable"; exit 1; }
else
    echo "== building lbounds"
    cargo build --release --bin lbounds -q
    BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/lbounds"
fi
BIN="$(realpath "$BIN")"

WORK="$(mktemp -d /tmp/lbounds-slurm-XXXXXX)"
STARTED_MUNGE=""
cleanup() {
    set +e
    for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    if [ -n "$STARTED_MUNGE" ] && [ -f /run/munge/munged.pid ]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null
    fi
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

# munge: key, folders, daemon (reuse one that already answers).
if ! (munge -n 2>/dev/null | unmunge >/dev/null 2>&1); then
    echo "== starting munged"
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 400 /etc/munge/munge.key
    chmod 700 /etc/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    runuser -u munge -- munged
    STARTED_MUNGE=1
    sleep 1
fi
munge -n | unmunge | grep -q "STATUS: *Success" || skip "munge does not authenticate (munge -n | unmunge)"

# A single-node cluster whose files all live in $WORK.
HOST="$(hostname)"
MEM_MB="$(free -m | awk '/^Mem:/ {print $2}')"
REAL_MEM=$(( MEM_MB > 1024 ? MEM_MB - 512 : MEM_MB / 2 ))
mkdir -p "$WORK/state" "$WORK/spool"
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=lbounds-smoke
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
NodeName=$HOST CPUs=$(nproc) RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=smoke Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

echo "== starting slurmctld and slurmd"
slurmctld -f "$SLURM_CONF" || skip "slurmctld does not start: $(tail -n 3 "$WORK/slurmctld.log" 2>/dev/null)"
sleep 1
slurmd -f "$SLURM_CONF" || skip "slurmd does not start: $(tail -n 3 "$WORK/slurmd.log" 2>/dev/null)"
for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -q idle; then break; fi
    sleep 1
done
sinfo -h -o '%t' | grep -q idle || { sinfo; tail -n 20 "$WORK/slurmctld.log" "$WORK/slurmd.log"; echo "FAIL: the node never became idle"; exit 1; }

# A small sweep: 24 points x 2 replicates.
CONFIG="$WORK/smoke.toml"
cat >"$CONFIG" <<'TOML'
name = "slurm_smoke"
experiment = "robust"
seed = 7
replicates = 2

[grid]
rule = ["median", "trmean", "geometric_median", "krum"]
attack = ["sign_flipping", "a_little_is_enough"]
byzantine_fraction = [0.0, 0.2, 0.4]
n = 20
d = 5
TOML

echo "== submitting a 4-shard array and its merge"
"$BIN" sweep slurm "$CONFIG" --shards 4 --out "$WORK/job" --time 00:05:00 --cpus 1
sh "$WORK/job/slurm/submit.sh"
for _ in $(seq 150); do
    if [ -z "$(squeue -h 2>/dev/null)" ] && [ -f "$WORK/job/records.jsonl" ]; then break; fi
    sleep 1
done
if [ ! -f "$WORK/job/records.jsonl" ]; then
    squeue || true
    tail -n 5 "$WORK"/job/slurm/*.log "$WORK/slurmctld.log" 2>/dev/null || true
    echo "FAIL: the merged records never appeared"
    exit 1
fi
cat "$WORK/job/slurm/merge.log"

echo "== one-process run for comparison"
"$BIN" sweep run "$CONFIG" --out "$WORK/single" --threads 2
if cmp -s "$WORK/single/records.jsonl" "$WORK/job/records.jsonl"; then
    echo "PASS: slurm array (4 shards) + merge == one-process run ($(wc -l <"$WORK/job/records.jsonl") records, byte-identical)"
else
    echo "FAIL: merged slurm records differ from the one-process run"
    exit 1
fi
