#!/bin/sh
# How long SSH takes to notice a cut peer, with the sync role's former
# options and its current ones (agentbin/sync/rsync.go: connectTimeoutS,
# aliveIntervalS, aliveCountMax; keep the "new" line in step with them).
# In a private network namespace of its own (unshare --net: only lo, no
# name, nothing to collide with): sshd on 127.0.0.1, a client running a
# long command (a run in flight) or connecting (a new run), and every
# packet to sshd dropped by nftables. Run as root: sh bench/sync/cut-detection.sh
set -eu
if [ "${IN_NS:-}" != 1 ]; then
	exec env IN_NS=1 unshare --net sh "$0"
fi
for p in sshd ssh nft; do
	command -v $p >/dev/null 2>&1 || [ -x /usr/sbin/$p ] || { echo "needs $p (Debian: openssh-server, openssh-client, nftables)" >&2; exit 1; }
done
dir=$(mktemp -d)
trap 'kill $(cat $dir/sshd.pid) 2>/dev/null; rm -rf $dir' EXIT
ip link set lo up
ssh-keygen -q -t ed25519 -N '' -f $dir/hostkey
ssh-keygen -q -t ed25519 -N '' -f $dir/userkey
cp $dir/userkey.pub $dir/authorized_keys
cat > $dir/sshd_config <<E
Port 2299
ListenAddress 127.0.0.1
HostKey $dir/hostkey
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
PermitRootLogin prohibit-password
E
/usr/sbin/sshd -f $dir/sshd_config
echo "[127.0.0.1]:2299 $(cut -d' ' -f1,2 $dir/hostkey.pub)" > $dir/known_hosts

# client COMMAND runs COMMAND over SSH with the options in $opts.
client() {
	# shellcheck disable=SC2086 # $opts is a list of options
	ssh -i $dir/userkey -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile=$dir/known_hosts $opts -p 2299 root@127.0.0.1 "$@"
}
cutoff() {
	nft add table inet cut
	nft add chain inet cut in '{ type filter hook input priority 0; }'
	nft add rule inet cut in tcp dport 2299 drop
}
heal() { nft delete table inet cut; }
now() { date +%s.%N; }
secs() { echo "scale=1; ($2 - $1) / 1" | bc; }

# measure OPTIONS…: prints "IN_FLIGHT NEW", the seconds each takes to give up.
measure() {
	opts="$*"
	client 'sleep 60' 2>/dev/null &
	pid=$!
	sleep 1
	cutoff
	t0=$(now); wait $pid || true; t1=$(now)
	inflight=$(secs $t0 $t1)
	t0=$(now); client true 2>/dev/null || true; t1=$(now)
	heal
	echo "$inflight $(secs $t0 $t1)"
}
old=$(measure -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=2)
new=$(measure -o ConnectTimeout=3 -o ServerAliveInterval=1 -o ServerAliveCountMax=3)
set -- $old $new
echo "a run in flight gives up after ${1}s before, ${3}s now; a new connection after ${2}s before, ${4}s now"
echo "result: inflight_before_s=$1 inflight_now_s=$3 connect_before_s=$2 connect_now_s=$4 inflight_ratio=$(echo "scale=2; $3 / $1" | bc)"
