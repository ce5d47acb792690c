#!/usr/bin/env bash
# Sets up a single-node Slurm cluster (slurmctld + slurmd + munge on this
# machine) for the bgjob Slurm integration tests.
#
# Target: Debian 12 container/VM, running as root, no systemd, so every
# daemon is started by hand. Safe to re-run: when the cluster already answers
# with a usable node it exits straight away.
#
# Usage: integration/slurm-setup.sh        (as root)
#        SLURM_SETUP_FORCE=1 integration/slurm-setup.sh
#            skips the early exit, e.g. to apply an edited slurm.conf to a
#            running cluster and re-run the end-to-end check.
set -euo pipefail

SLURM_CONF=/etc/slurm/slurm.conf
SLURM_LOG_DIR=/var/log/slurm
SLURM_SPOOL=/var/spool/slurm
MUNGE_KEY=/etc/munge/munge.key
NODE=$(hostname -s)
START=$(date +%s)

log() { echo "slurm-setup: $*" >&2; }

# Everything runs on this one machine, so a daemon is up iff a process of
# that name exists (pid files go stale when a container is restarted).
# Reads /proc directly: minimal images have no procps (pgrep).
running() { grep -qx -- "$1" /proc/[0-9]*/comm 2>/dev/null; }

# Usable means the controller answers and the node can take work. A node
# that is down/drained/not responding ("idle*") does not count.
node_state() { timeout 15 sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
node_usable() {
	# Without a local slurmctld, sinfo would spend ~10 s retrying to connect.
	running slurmctld && running slurmd || return 1
	[[ $(node_state) =~ ^(idle|mixed|allocated|planned|completing)$ ]]
}

if [[ -z ${SLURM_SETUP_FORCE:-} ]] && node_usable; then
	echo "slurm ready: already running (node $NODE $(node_state), $(($(date +%s) - START))s)"
	exit 0
fi

if [[ $EUID -ne 0 ]]; then
	log "must run as root"
	exit 1
fi

# On any failure, show the daemon logs: the error printed by a client
# ("Unable to contact slurm controller") almost never says why.
dump_logs() {
	local rc=$?
	[[ $rc -eq 0 ]] && return
	log "FAILED (exit $rc); daemon log tails follow"
	for f in /var/log/munge/munged.log "$SLURM_LOG_DIR/slurmctld.log" "$SLURM_LOG_DIR/slurmd.log"; do
		[[ -f $f ]] || continue
		echo "----- $f -----" >&2
		tail -n 30 "$f" >&2
	done
}
trap dump_logs EXIT

# --- packages --------------------------------------------------------------

pkgs=()
for p in munge slurmctld slurmd slurm-client; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || pkgs+=("$p")
done
if ((${#pkgs[@]})); then
	log "installing ${pkgs[*]}"
	# Without systemd the maintainer scripts would try (and fail, or start an
	# unconfigured daemon) via init.d; a policy-rc.d returning 101 stops that.
	# Docker-style images usually ship one already; only add ours temporarily.
	own_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt_log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$apt_log" 2>&1; then
		tail -n 40 "$apt_log" >&2
		[[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
		exit 1
	fi
	rm -f "$apt_log"
	[[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
fi

# --- munge -----------------------------------------------------------------

# munged refuses to start if the key or its directories are too permissive,
# and the package may not have created the runtime dir (no systemd/tmpfiles).
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s $MUNGE_KEY ]]; then
	log "creating munge key"
	if command -v mungekey >/dev/null 2>&1; then
		mungekey --create --keyfile="$MUNGE_KEY" --force
	else
		dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
	fi
fi
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
	# A stale pid/socket from a previous container run makes munged think it
	# is already running.
	if ! running munged; then
		rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
	fi
	runuser -u munge -- /usr/sbin/munged
	for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
	munge_ok || { log "munge -n | unmunge does not work"; exit 1; }
fi

# --- slurm.conf ------------------------------------------------------------

# RealMemory must not exceed what slurmd detects (total memory), or the node
# is drained as "Low RealMemory". Memory is not a consumable resource here
# (CR_CPU), so 80% of the total, rounded to 100 MB so the generated file stays
# identical between runs, costs nothing.
mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mem=$((mem_total_mb * 8 / 10 / 100 * 100))
((real_mem >= 100)) || real_mem=100

# The daemons find each other by this machine's name; a container's name
# need not resolve (no DNS knows it): make it resolve to this machine.
if ! getent hosts "$NODE" >/dev/null; then
	log "$NODE does not resolve; adding it to /etc/hosts"
	echo "127.0.0.1 $NODE" >>/etc/hosts
fi

install -d -m 0755 /etc/slurm "$SLURM_LOG_DIR" "$SLURM_SPOOL" "$SLURM_SPOOL/ctld" "$SLURM_SPOOL/d"

new_conf=$(mktemp)
cat >"$new_conf" <<EOF
# Generated by bgjob integration/slurm-setup.sh; rerunning overwrites it.
ClusterName=bgjob
SlurmctldHost=$NODE

# root everywhere: single-node test cluster in a container, and the tests
# submit as root (so no DisableRootJobs either).
SlurmUser=root
SlurmdUser=root

SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$SLURM_LOG_DIR/slurmctld.log
SlurmdLogFile=$SLURM_LOG_DIR/slurmd.log
StateSaveLocation=$SLURM_SPOOL/ctld
SlurmdSpoolDir=$SLURM_SPOOL/d

AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
# The default mail program is not installed; slurmctld logs an error without.
MailProg=/bin/true

# No systemd and no delegated cgroup tree in a container: track processes
# through /proc and do no task binding, so nothing needs cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none

# Allocate single CPUs (not whole nodes) so several 1-CPU jobs share the
# node concurrently. CR_CPU rather than CR_Core so this holds even when the
# hardware reports hyperthreads (CR_Core would hand out both threads).
SchedulerType=sched/backfill
# Batch jobs otherwise wait up to 3 s (batch_sched_delay) after submission or
# after a CPU frees up before they start; tests want them started at once.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU

# A node that was down because slurmd stopped rejoins on its own when it
# registers again (e.g. after this script restarts it).
ReturnToService=2
# Finished jobs stay visible to "scontrol show job" for 10 minutes; there is
# no slurmdbd, so this is the only record of their final state.
MinJobAge=600
# Short timeouts so tests see cancellations, timeouts and failures quickly.
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MessageTimeout=10
Waittime=0

NodeName=$NODE CPUs=$(nproc) RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

conf_changed=
if ! cmp -s "$new_conf" "$SLURM_CONF"; then
	install -m 0644 "$new_conf" "$SLURM_CONF"
	conf_changed=1
fi
rm -f "$new_conf"

# --- daemons ---------------------------------------------------------------

# Both daemons fork into the background before they open their ports, so a
# zero exit status proves nothing: wait for the "started" line in the log
# instead, and fail fast if the process is gone (port in use, bad config).
start_daemon() {
	local name=$1 ready=$2 logfile=$SLURM_LOG_DIR/$1.log offset
	log "starting $name"
	offset=$(($(stat -c %s "$logfile" 2>/dev/null || echo 0) + 1))
	"$name"
	for _ in $(seq 100); do
		tail -c +"$offset" "$logfile" 2>/dev/null | grep -q "$ready" && return 0
		running "$name" || break
		sleep 0.1
	done
	log "$name did not start"
	return 1
}

if running slurmctld; then
	# A running controller with an outdated config would keep the node in a
	# bad state; it re-reads the file and tells slurmd to do the same.
	[[ -n $conf_changed ]] && scontrol reconfigure
else
	start_daemon slurmctld 'Running as primary controller'
fi
running slurmd || start_daemon slurmd 'slurmd started on'

# The node comes up "unknown"/"down" first and turns idle once slurmd has
# registered. A node that was drained (e.g. "Low RealMemory" under an older
# config) stays so until resumed.
resumed=
for _ in $(seq 60); do
	state=$(node_state || true)
	case $state in
	idle | mixed | allocated | planned) break ;;
	down* | drain* | fail*)
		if [[ -z $resumed ]]; then
			log "node $NODE is $state; resuming"
			scontrol update nodename="$NODE" state=resume || true
			resumed=1
		fi
		;;
	esac
	sleep 0.5
done
if ! node_usable; then
	log "node $NODE did not become idle (state: '${state:-no answer}')"
	timeout 10 scontrol show node "$NODE" >&2 || true
	exit 1
fi

# --- prove it --------------------------------------------------------------

srun_out=$(timeout 60 srun -N1 -n2 hostname)
if [[ $(wc -l <<<"$srun_out") -ne 2 ]]; then
	log "srun -n2 printed: $srun_out"
	exit 1
fi

out=$(mktemp /tmp/slurm-setup.XXXXXX.out)
jobid=$(sbatch --parsable --wrap 'echo hi' --output="$out")
jobid=${jobid%%;*}
jobstate=
for _ in $(seq 60); do
	jobstate=$(scontrol show job -o "$jobid" | grep -o 'JobState=[A-Z_]*' || true)
	case $jobstate in
	JobState=COMPLETED) break ;;
	JobState=PENDING | JobState=CONFIGURING | JobState=RUNNING | JobState=COMPLETING | '') sleep 0.5 ;;
	*) break ;;
	esac
done
# The output file may appear a moment after the state flips.
for _ in $(seq 10); do [[ -s $out ]] && break; sleep 0.2; done
if [[ $jobstate != JobState=COMPLETED || $(<"$out") != hi ]]; then
	log "sbatch job $jobid: $jobstate, output: '$(cat "$out" 2>/dev/null)'"
	scontrol show job -o "$jobid" >&2 || true
	exit 1
fi
rm -f "$out"

echo "slurm ready: cluster bgjob, node $NODE ($(nproc) CPUs, RealMemory=${real_mem}M), partition debug;" \
	"srun -n2 ok, sbatch job $jobid COMPLETED ($(($(date +%s) - START))s)"
