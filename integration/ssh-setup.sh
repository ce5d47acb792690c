#!/usr/bin/env bash
# Sets up two OpenSSH servers on this machine for the bgjob SSH location's
# integration tests: sshd on 127.0.0.2:2222 and 127.0.0.3:2223 (loopback
# only), with host keys generated in a test directory, and a test user,
# bgjt-ssh, with a key of its own in ~/.ssh, an ~/.ssh/config with an alias
# for each server (bgjt-a, bgjt-b, and bgjt-unknown, which reaches the
# first under a host key alias known_hosts does not have) and a
# known_hosts that knows both servers' keys.
#
# Target: a Debian 12 container/VM, as root, no systemd: sshd is started by
# hand. Safe to re-run: when both servers already let the test user in it
# exits straight away.
#
# Usage: integration/ssh-setup.sh        (as root)
set -euo pipefail

DIR=/var/lib/bgjob-ssh-test
USER_NAME=bgjt-ssh
SERVERS=("a 127.0.0.2 2222" "b 127.0.0.3 2223")
SSHD=/usr/sbin/sshd

log() { echo "ssh-setup: $*" >&2; }

if [[ $EUID -ne 0 ]]; then
	log "must run as root"
	exit 1
fi

# Ready means the test user reaches both servers by their aliases.
ready() {
	id "$USER_NAME" >/dev/null 2>&1 || return 1
	local s
	for s in a b; do
		timeout 15 runuser -u "$USER_NAME" -- ssh -o BatchMode=yes "bgjt-$s" true </dev/null >/dev/null 2>&1 || return 1
	done
}
if ready; then
	echo "ssh ready: both servers answer"
	exit 0
fi

# --- packages --------------------------------------------------------------
pkgs=()
[[ -x $SSHD ]] || pkgs+=(openssh-server)
command -v ssh >/dev/null || pkgs+=(openssh-client)
command -v runuser >/dev/null || pkgs+=(util-linux)
if ((${#pkgs[@]})); then
	log "installing ${pkgs[*]}"
	own_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		# No service starts on install: the servers here are the tests' own.
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	[[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
fi

# --- the test user -----------------------------------------------------------
if ! id "$USER_NAME" >/dev/null 2>&1; then
	useradd -m -s /bin/sh "$USER_NAME"
fi
# No password, but not locked: sshd without PAM refuses a locked account
# ("!" in shadow) even for a key.
usermod -p '*' "$USER_NAME"
HOME_DIR=$(getent passwd "$USER_NAME" | cut -d: -f6)
chmod 755 "$HOME_DIR"
install -d -m 700 -o "$USER_NAME" -g "$USER_NAME" "$HOME_DIR/.ssh"
if [[ ! -f $HOME_DIR/.ssh/id_ed25519 ]]; then
	runuser -u "$USER_NAME" -- ssh-keygen -q -t ed25519 -N '' -C "$USER_NAME@bgjob-test" -f "$HOME_DIR/.ssh/id_ed25519"
fi
install -m 600 -o "$USER_NAME" -g "$USER_NAME" "$HOME_DIR/.ssh/id_ed25519.pub" "$HOME_DIR/.ssh/authorized_keys"

# --- the servers ---------------------------------------------------------------
install -d -m 755 "$DIR"
install -d -m 755 /run/sshd # sshd's privilege separation directory
known=$(mktemp)
config=$(mktemp)
for s in "${SERVERS[@]}"; do
	read -r name addr port <<<"$s"
	d=$DIR/$name
	install -d -m 755 "$d"
	[[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C "bgjob-test-$name" -f "$d/ssh_host_ed25519_key"
	cat >"$d/sshd_config" <<CONF
# bgjob's integration tests: loopback only, keys only, the test user only.
ListenAddress $addr
Port $port
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $USER_NAME
AuthorizedKeysFile .ssh/authorized_keys
# The tests and the bench open many connections at once.
MaxStartups 200:30:400
MaxSessions 100
LogLevel INFO
CONF
	# A server of this directory left running (with an older config) goes.
	if [[ -f $d/sshd.pid ]] && kill -0 "$(cat "$d/sshd.pid")" 2>/dev/null; then
		kill "$(cat "$d/sshd.pid")" || true
		sleep 0.5
	fi
	$SSHD -t -f "$d/sshd_config"
	$SSHD -f "$d/sshd_config" -E "$d/sshd.log"
	echo "[$addr]:$port $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$known"
	cat >>"$config" <<CONF
Host bgjt-$name
	HostName $addr
	Port $port
	User $USER_NAME
CONF
done
cat >>"$config" <<CONF
# The first server under a name known_hosts has no key for: refused.
Host bgjt-unknown
	HostName 127.0.0.2
	Port 2222
	User $USER_NAME
	HostKeyAlias bgjt-unknown-key
CONF
install -m 644 -o "$USER_NAME" -g "$USER_NAME" "$known" "$HOME_DIR/.ssh/known_hosts"
install -m 600 -o "$USER_NAME" -g "$USER_NAME" "$config" "$HOME_DIR/.ssh/config"
rm -f "$known" "$config"

for i in $(seq 50); do
	ready && break
	sleep 0.2
done
if ! ready; then
	log "FAILED: the test user cannot reach the servers"
	runuser -u "$USER_NAME" -- ssh -v -o BatchMode=yes bgjt-a true </dev/null || true
	tail -n 20 "$DIR"/*/sshd.log >&2 || true
	exit 1
fi
echo "ssh ready: bgjt-a (127.0.0.2:2222) and bgjt-b (127.0.0.3:2223) for $USER_NAME"
