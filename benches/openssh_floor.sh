#!/bin/sh
# What OpenSSH itself costs per local node on this machine: the CPU time of
# an sshd started as nubo starts a node's (`-D -e -r`, the node's settings,
# an ed25519 host key) until it listens, and of one session as a launch
# makes it (curve25519 key exchange, ed25519 user key, a command run by
# root's login shell). nubo cannot make either cheaper, so together they
# bound how fast 50 local nodes can launch on this many cores.
#
# Run as root: benches/openssh_floor.sh (NUBO_FLOOR_ROUNDS, default 20).
# It runs in a private mount namespace with a fresh /root (as a node has:
# /etc/skel's files, so the host root's shell start-up files do not count)
# and an sshd on 127.0.0.1; CPU time comes from a cgroup holding sshd only.
# Prints a table and writes it to target/bench/openssh_floor.md.
# NUBO_BENCH_QUICK=1 (CI): 3 rounds, written to openssh_floor-quick.md; a
# failed start or session still fails it.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${NUBO_BENCH_QUICK:-}" = 1 ]; then
	rounds=${NUBO_FLOOR_ROUNDS:-3} report=openssh_floor-quick.md
	quick_note="quick mode (NUBO_BENCH_QUICK=1): $rounds rounds, to check that the benchmark works; the times say nothing about speed"
else
	rounds=${NUBO_FLOOR_ROUNDS:-20} report=openssh_floor.md quick_note=
fi
if [ "$(id -u)" != 0 ]; then
	if [ "${NUBO_REQUIRE_SYSTEM_TESTS:-}" = 1 ]; then
		echo "openssh_floor: needs root and NUBO_REQUIRE_SYSTEM_TESTS=1" >&2
		exit 1
	fi
	echo "SKIPPED: openssh_floor: needs root"
	if [ -n "${NUBO_SKIP_LOG:-}" ]; then echo "openssh_floor: needs root" >>"$NUBO_SKIP_LOG"; fi
	exit 0
fi
case $rounds in '' | *[!0-9]* | 0)
	echo "openssh_floor: NUBO_FLOOR_ROUNDS must be a positive integer" >&2
	exit 2
	;;
esac
mkdir -p "$here/target/bench"
exec unshare --mount --propagation private sh -s "$rounds" "$here/target/bench/$report" "$quick_note" <<'EOF'
set -eu
rounds=$1 out=$2 quick_note=$3
dir=$(mktemp -d /tmp/nubo-floor-XXXXXX)
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cg=/sys/fs/cgroup/nubo-floor-$$
	usage() { awk '$1 == "usage_usec" { print $2 * 1000 }' "$cg/cpu.stat"; }
else
	cg=/sys/fs/cgroup/cpuacct/nubo-floor-$$
	usage() { cat "$cg/cpuacct.usage"; }
fi
mkdir "$cg"
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || :; wait "$pid" 2>/dev/null || :; fi
	rmdir "$cg" 2>/dev/null || :
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount -t tmpfs -o mode=0700 tmpfs /root
cp /etc/skel/.bashrc /etc/skel/.profile /root/
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C host -f "$dir/host"
ssh-keygen -q -t ed25519 -N '' -C user -f "$dir/user"
port=$((40000 + $$ % 20000))
cat >"$dir/sshd_config" <<CFG
ListenAddress 127.0.0.1:$port
HostKey $dir/host
AuthorizedKeysFile $dir/user.pub
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/sshd.pid
PrintMotd no
CFG

# sshd in the cgroup, as a node runs it; returns once its pid file is there.
start() {
	rm -f "$dir/sshd.pid"
	sh -c 'echo $$ >"$1/cgroup.procs"; exec /usr/sbin/sshd -D -e -r -f "$2/sshd_config"' \
		sh "$cg" "$dir" 2>>"$dir/sshd.log" &
	pid=$!
	i=0
	until [ -s "$dir/sshd.pid" ]; do
		i=$((i + 1))
		if [ $i -gt 2000 ]; then echo "sshd did not start: $(cat "$dir/sshd.log")" >&2; exit 1; fi
		sleep 0.005
	done
}
stop() { kill "$pid"; wait "$pid" || :; pid=; }

u0=$(usage)
n=0
while [ $n -lt "$rounds" ]; do start; stop; n=$((n + 1)); done
u1=$(usage)
start_ns=$(((u1 - u0) / rounds))

start
u0=$(usage)
n=0
while [ $n -lt "$rounds" ]; do
	ssh -q -T -o BatchMode=yes -o KexAlgorithms=curve25519-sha256 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o UpdateHostKeys=no \
		-i "$dir/user" -p "$port" root@127.0.0.1 'sh -s' </dev/null
	n=$((n + 1))
done
u1=$(usage)
stop
session_ns=$(((u1 - u0) / rounds))

cores=$(nproc)
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f ms", ns / 1e6 }'; }
per=$((start_ns + session_ns))
{
	echo "| OpenSSH per local node ($(/usr/sbin/sshd -V 2>&1 | cut -d, -f1)), CPU of sshd and its children | |"
	echo "|---|---:|"
	echo "| start: \`sshd -D -e -r\` until its pid file is written, then stopped | $(ms $start_ns) |"
	echo "| one session: curve25519 key exchange, ed25519 host and user keys, \`sh -s\` run by root's login shell | $(ms $session_ns) |"
	echo "| together | $(ms $per) |"
	echo
	echo "each the mean of $rounds; on $cores cores, 49 more nodes need at least $(awk -v ns="$per" -v c="$cores" 'BEGIN { printf "%.2f s", ns * 49 / c / 1e9 }') of wall time for OpenSSH alone"
	if [ -n "$quick_note" ]; then echo "$quick_note"; fi
} | tee "$out"
echo "(written to $out)"
EOF
