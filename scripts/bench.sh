#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: StreamSync's TURN relay against coturn on
# this machine, same loads, alternately, and coturn's own client against
# StreamSync (interop). Loopback only (127.0.0.0/8). Never run by `make test`.
#
#   make bench                  3 rounds, 1/100/1000 allocations × 100/1200 B,
#                               saturation and a fixed rate; then the even
#                               loads; writes BENCHMARKS.md
#   BENCH_QUICK=1 make bench    1 round, fewer loads, shorter; prints only
#   BENCH_EVEN=only make bench  only the even loads (BENCH_EVEN=0: none)
#
# Installs coturn 4.6.1 (turnserver, turnutils_uclient, turnutils_peer) with
# apt-get when missing (root on Debian) and builds coturn 4.17.1 from
# ../shared/thirdparty once (scripts/coturn-build.sh, cached in .cache/).
# The even loads: turnutils_uclient (4.17.1's, which works with every server)
# with 100 sessions × 1000 B every 5 ms and 50 × 160 B every 20 ms, and
# turnbench paced at the same rates, against StreamSync, coturn 4.6.1,
# coturn 4.17.1 with --udp-recvmmsg off and on, and (turnbench only) a bare
# Go forwarder, the floor. Takes about 30 minutes, 8 in quick mode.
# Then the signaling load (cmd/sigbench): 1k and 10k WebSocket clients.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
EVEN=${BENCH_EVEN:-1}
if [ "$QUICK" = 1 ]; then
	ROUNDS=1 WARMUP=500ms DURATION=2s
	LOADS="1:100 1000:1200"
	EVEN_ROUNDS=1 EVEN_DURATION=4s
else
	ROUNDS=3 WARMUP=700ms DURATION=2500ms
	LOADS="1:100 1:1200 100:100 100:1200 1000:100 1000:1200"
	EVEN_ROUNDS=3 EVEN_DURATION=6s
fi
EVEN_ROUNDS=${BENCH_EVEN_ROUNDS:-$EVEN_ROUNDS}
# Even loads: sessions:payload bytes:ms between two datagrams of a session.
EVEN_LOADS=${BENCH_EVEN_LOADS:-"100:1000:5 50:160:20"}
EVEN_SERVERS=${BENCH_EVEN_SERVERS:-"streamsync coturn-4.6.1 coturn-4.17.1 coturn-4.17.1-recvmmsg forwarder"}
RATE=${BENCH_RATE:-10000} # fixed-rate load: round trips/s over all allocations (2× that relayed)
SECRET=bench-secret-0123456789abcdef
REALM=bench
# Relay ports below the kernel's ephemeral range (32768+), one range per
# server, so that neither collides with client sockets or the other.
SS_PORT=34780 SS_RELAY_MIN=20000 SS_RELAY_MAX=24999
CT_PORT=34790 CT_RELAY_MIN=25000 CT_RELAY_MAX=29999
PEER_PORT=34800
FW_PORT=34810 FW_PEER_PORT=34820 # the bare forwarder and its echo peer
UC_PEER_PORT=34830                # turnbench uclient's echo peer

log() { printf '\n== %s\n' "$*" >&2; }

if ! command -v turnserver >/dev/null || ! command -v turnutils_uclient >/dev/null; then
	log "installing coturn"
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "bench: coturn is missing; install it (Debian: apt-get install -y coturn) or run as root" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y coturn >/dev/null
fi
CT17=
if [ "$EVEN" != 0 ]; then
	log "coturn 4.17.1 (built once, cached in .cache/)"
	CT17=$(./scripts/coturn-build.sh)
fi

WORK=$(mktemp -d /tmp/streamsync-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

log "building"
make -s build
go build -trimpath -o "$WORK/turnbench" ./cmd/turnbench
SS_BIN=$PWD/bin/streamsync
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

cat >"$WORK/streamsync.toml" <<EOF
[http]
listen = "127.0.0.1:0"
[turn]
realm = "$REALM"
listen_udp = ["127.0.0.1:$SS_PORT"]
listen_tcp = []
relay_bind = "127.0.0.1"
relay_port_min = $SS_RELAY_MIN
relay_port_max = $SS_RELAY_MAX
secrets = ["$SECRET"]
# The echo peers are on loopback, which the peer policy denies by default.
allowed_peer_ranges = ["127.0.0.0/8"]
allow_loopback_peers = true
# Quotas, the unauthenticated-request limit and the policy stay at their
# defaults: turnbench spreads its clients over 64 loopback IPs, one REST
# user per allocation.
[metrics]
listen = ""
[log]
level = "warn"
EOF

wait_udp() { # port: wait until something listens on 127.0.0.1:port
	for _ in $(seq 100); do
		ss -Hlun "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "bench: nothing listens on udp port $1" >&2
	return 1
}

SERVER_PID=
start_server() { # streamsync|coturn
	: >"$WORK/coturn.log"
	case $1 in
	streamsync)
		"$SS_BIN" serve -config "$WORK/streamsync.toml" >>"$WORK/streamsync.log" 2>&1 &
		SERVER_PID=$!
		wait_udp "$SS_PORT"
		;;
	coturn | coturn-4.6.1 | coturn-4.17.1 | coturn-4.17.1-recvmmsg)
		# Debian's defaults otherwise; loopback peers need allow-loopback-peers,
		# which coturn only accepts with a CLI password.
		local bin=turnserver extra=()
		case $1 in
		coturn-4.17.1) bin=$CT17/turnserver extra=(--udp-recvmmsg=0) ;;
		coturn-4.17.1-recvmmsg) bin=$CT17/turnserver extra=(--udp-recvmmsg) ;;
		esac
		"$bin" "${extra[@]}" -n --listening-ip=127.0.0.1 --listening-port="$CT_PORT" \
			--relay-ip=127.0.0.1 --min-port="$CT_RELAY_MIN" --max-port="$CT_RELAY_MAX" \
			--use-auth-secret --static-auth-secret="$SECRET" --realm="$REALM" \
			--allow-loopback-peers --cli-password=bench-cli --no-tcp --no-tls --no-dtls \
			--log-file="$WORK/coturn.log" --simple-log --no-stdout-log \
			--pidfile="$WORK/coturn.pid" >>"$WORK/coturn.out" 2>&1 &
		SERVER_PID=$!
		wait_udp "$CT_PORT"
		;;
	forwarder)
		"$WORK/turnbench" forward -listen "127.0.0.1:$FW_PORT" -peer "127.0.0.2:$FW_PEER_PORT" >>"$WORK/forwarder.log" 2>&1 &
		SERVER_PID=$!
		wait_udp "$FW_PORT"
		;;
	esac
	PIDS+=("$SERVER_PID")
}
stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
}

bench() { # label port allocs size rate
	local t0=$SECONDS
	"$WORK/turnbench" -json -label "$1" -server "127.0.0.1:$2" -secret "$SECRET" -realm "$REALM" \
		-allocs "$3" -size "$4" -rate "$5" -warmup "$WARMUP" -duration "$DURATION" -pid "$SERVER_PID" \
		>>"$RESULTS" 2>>"$WORK/turnbench.err" ||
		echo "bench: turnbench $1 allocs=$3 size=$4 rate=$5 failed (see $WORK/turnbench.err)" >&2
	echo "  $1 allocs=$3 size=$4 rate=$5: $((SECONDS - t0))s, $(tail -n 1 "$RESULTS" | grep -o '"relayed_pps":[0-9]*')" >&2
}

server_port() { # server: its UDP port
	case $1 in
	streamsync) echo "$SS_PORT" ;;
	forwarder) echo "$FW_PORT" ;;
	*) echo "$CT_PORT" ;;
	esac
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$EVEN" = only ] && ROUNDS=0
for round in $(seq "$ROUNDS"); do
	for l in $LOADS; do
		allocs=${l%%:*} size=${l##*:}
		for server in streamsync coturn; do
			port=$SS_PORT
			[ "$server" = coturn ] && port=$CT_PORT
			log "round $round/$ROUNDS: $server, $allocs allocations × $size B"
			# A fresh server per run: RSS per allocation starts from an idle
			# process, and no allocation of the previous run lingers (pion's
			# client deallocates without waiting for the answer).
			for rate in 0 "$RATE"; do
				start_server "$server"
				bench "$server" "$port" "$allocs" "$size" "$rate"
				stop_server
			done
		done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Even loads: every server in turn for each load and round, a fresh server
# per run; turnbench paced at the sessions' rate (the forwarder too), then
# turnutils_uclient (not the forwarder, which speaks no TURN).
EVENRESULTS=$WORK/even.jsonl
: >"$EVENRESULTS"
EVEN_START=$(date -u '+%Y-%m-%d %H:%M UTC')
EVEN_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$EVEN" != 0 ]; then
	for round in $(seq "$EVEN_ROUNDS"); do
		for l in $EVEN_LOADS; do
			IFS=: read -r sessions size ms <<<"$l"
			rate=$((sessions * 1000 / ms))
			for server in $EVEN_SERVERS; do
				port=$(server_port "$server")
				log "even round $round/$EVEN_ROUNDS: $server, $sessions × $size B every $ms ms"
				start_server "$server"
				raw=()
				[ "$server" = forwarder ] && raw=(-raw -peers 1 -peer-port "$FW_PEER_PORT")
				"$WORK/turnbench" -json -label "$server" -server "127.0.0.1:$port" -secret "$SECRET" -realm "$REALM" \
					"${raw[@]}" -allocs "$sessions" -size "$size" -rate "$rate" -warmup "$WARMUP" -duration "$EVEN_DURATION" \
					-pid "$SERVER_PID" >>"$EVENRESULTS" 2>>"$WORK/turnbench.err" ||
					echo "bench: turnbench $server even $l failed (see $WORK/turnbench.err)" >&2
				stop_server
				if [ "$server" = forwarder ]; then
					tail -n 1 "$EVENRESULTS" | grep -o '"label":"[^"]*"\|"server_cpu_us_per_pkt":[0-9.]*\|"loss_pct":[0-9.]*' | tr '\n' ' ' >&2
					echo >&2
					continue
				fi
				start_server "$server"
				"$WORK/turnbench" uclient -json -uclient "$CT17/turnutils_uclient" -label "$server" \
					-server "127.0.0.1:$port" -secret "$SECRET" -clients "$sessions" -size "$size" -interval "${ms}ms" \
					-peer "127.0.0.2:$UC_PEER_PORT" -duration "$EVEN_DURATION" -pid "$SERVER_PID" \
					>>"$EVENRESULTS" 2>>"$WORK/uclient-load.err" ||
					echo "bench: uclient $server $l failed (see $WORK/uclient-load.err)" >&2
				stop_server
				tail -n 2 "$EVENRESULTS" | grep -o '"label":"[^"]*"\|"load":"[^"]*"\|"server_cpu_us_per_pkt":[0-9.]*\|"loss_pct":[0-9.]*' | tr '\n' ' ' >&2
				echo >&2
			done
		done
	done
fi
EVEN_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
EVENTABLE=
[ "$EVEN" != 0 ] && EVENTABLE=$("$WORK/turnbench" report-even "$EVENRESULTS" streamsync coturn-4.17.1 forwarder)
if [ "$EVEN" = only ]; then
	printf '\n- date: %s; commit %s; load average before: %s, after: %s\n\n%s\n' "$EVEN_START" \
		"$(git describe --always --dirty 2>/dev/null)" "$EVEN_LOAD_BEFORE" "$EVEN_LOAD_AFTER" "$EVENTABLE"
	echo "raw results: $EVENRESULTS" >&2
	exit 0
fi

log "interop: coturn's turnutils_uclient (REST, -W secret) against StreamSync"
start_server streamsync
turnutils_peer -L 127.0.0.2 -p "$PEER_PORT" >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
PIDS+=("$PEER_PID")
sleep 0.3
timeout 60 turnutils_uclient -W "$SECRET" -u interop -p "$SS_PORT" -e 127.0.0.2 -r "$PEER_PORT" \
	-L 127.0.0.3 -m 10 -n 200 -l 120 -z 5 127.0.0.1 >"$WORK/uclient.log" 2>&1 || true
kill "$PEER_PID" 2>/dev/null || true
stop_server
INTEROP=$(grep -E 'start_mclient: tot_send_msgs|Total lost packets' "$WORK/uclient.log" | sed 's/^[0-9]*: : //' | tr '\n' ' ')
if grep -q 'Total lost packets 0 ' "$WORK/uclient.log" && grep -q 'tot_recv_msgs=[1-9]' "$WORK/uclient.log"; then
	INTEROP="PASS — $INTEROP"
else
	INTEROP="FAIL — ${INTEROP:-no summary} (log: $WORK/uclient.log)"
fi
echo "$INTEROP" >&2

log "signaling: idle connections and candidate bursts (rooms of 4)"
SIG_PORT=34880
SIGCONNS="1000 10000"
[ "$QUICK" = 1 ] && SIGCONNS="1000"
cat >"$WORK/signaling.toml" <<EOF
[http]
listen = "127.0.0.1:$SIG_PORT"
[turn]
listen_udp = ["127.0.0.1:$SS_PORT"]
listen_tcp = []
relay_bind = "127.0.0.1"
[signaling]
# Sized for the load: sigbench spreads clients over 200 loopback IPs.
max_rooms = 3000
max_rooms_per_ip = 100
max_conns_per_ip = 100
max_connections = 20000
join_rate = 1000.0
join_burst = 1000
[metrics]
listen = ""
[log]
level = "warn"
EOF
SIGRESULTS=$WORK/signaling.jsonl
: >"$SIGRESULTS"
go build -trimpath -o "$WORK/sigbench" ./cmd/sigbench
for conns in $SIGCONNS; do
	"$SS_BIN" serve -config "$WORK/signaling.toml" >>"$WORK/signaling.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for _ in $(seq 100); do ss -Hltn "sport = :$SIG_PORT" | grep -q . && break; sleep 0.05; done
	"$WORK/sigbench" -json -url "ws://127.0.0.1:$SIG_PORT/ws" -pid "$SERVER_PID" -conns "$conns" -rate 2000 -duration 3s \
		>>"$SIGRESULTS" 2>>"$WORK/sigbench.err" || echo "bench: sigbench $conns failed (see $WORK/sigbench.err)" >&2
	stop_server
	tail -n 1 "$SIGRESULTS" | cut -c1-200 >&2
done
# Goroutines can only be told apart in process: the signaling package
# served inside sigbench, counted by stack.
"$WORK/sigbench" -json -inprocess -conns 1000 -rate 0 >>"$SIGRESULTS" 2>>"$WORK/sigbench.err" ||
	echo "bench: sigbench -inprocess failed (see $WORK/sigbench.err)" >&2
SIGTABLE=$("$WORK/sigbench" report "$SIGRESULTS")

TABLE=$("$WORK/turnbench" report "$RESULTS" streamsync coturn)
EVEN_DESC=$(echo "$EVEN_LOADS" | sed -E 's/ /, /g; s/([0-9]+):([0-9]+):([0-9]+)/\1 × \2 B every \3 ms/g')
CMD="make bench"
[ "$QUICK" = 1 ] && CMD="BENCH_QUICK=1 make bench"
SECTION=$(
	cat <<EOF
<!-- bench:begin (written by scripts/bench.sh; edit outside the markers) -->
## Latest \`$CMD\`

- date: $START; commit $(git describe --always --dirty 2>/dev/null || echo unknown)
- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2/1048576}' /proc/meminfo)
- load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER
- coturn $(turnserver --version 2>&1 | head -1) (Debian package, defaults plus the flags in scripts/bench.sh); StreamSync $(git describe --always --dirty 2>/dev/null)
- loads: $ROUNDS round(s) of $(echo "$LOADS" | sed 's/:/×/g; s/ /, /g') (allocations × payload bytes), each run ${WARMUP} warm-up + ${DURATION} measured; servers alternate and restart for every load; fixed rate $RATE round trips/s
- interop (turnutils_uclient -W against StreamSync, 10 clients × 200 messages): $INTEROP

$TABLE

### Even loads

- date: $EVEN_START; load average (1, 5, 15 min) before: $EVEN_LOAD_BEFORE, after: $EVEN_LOAD_AFTER
- $EVEN_ROUNDS round(s) of $EVEN_DESC; servers in turn for each load and round ($EVEN_SERVERS), each run on a fresh server, ${EVEN_DURATION} measured; coturn 4.17.1 built from ../shared/thirdparty by scripts/coturn-build.sh, the same flags as 4.6.1 plus --udp-recvmmsg=0 or --udp-recvmmsg
- turnutils_uclient: coturn 4.17.1's, legacy pacing (\`--sender-threads 0 -K 0\`), channels, no RTCP (\`-c\`), 10 sessions per process (own REST user and local IP); the echo peer in \`turnbench uclient\` counts the relayed datagrams; measured once every session sends
- forwarder: \`turnbench forward\`, plain UDP, one socket per client towards the peer, one receive and one send per datagram and direction: the floor without batching (turnbench \`-raw\`)

$EVENTABLE

**Signaling** (StreamSync only: K WebSocket clients in rooms of 4; idle figures after join, then
candidate bursts of 8 at 2000 messages/s for 3 s; delivery = sender to receiver through the
server; goroutines from the in-process run, which counts goroutines by stack)

$SIGTABLE
<!-- bench:end -->
EOF
)
printf '\n%s\n' "$SECTION"
echo "raw results: $RESULTS" >&2

if [ "$QUICK" != 1 ]; then
	if [ -f BENCHMARKS.md ] && grep -q '<!-- bench:begin' BENCHMARKS.md; then
		SECTION=$SECTION awk '
			/<!-- bench:begin/ { print ENVIRON["SECTION"]; skip = 1; next }
			/<!-- bench:end/ { skip = 0; next }
			!skip { print }' BENCHMARKS.md >"$WORK/BENCHMARKS.md"
		cp "$WORK/BENCHMARKS.md" BENCHMARKS.md
	else
		printf '# Benchmarks\n\n%s\n' "$SECTION" >>BENCHMARKS.md
	fi
	echo "wrote BENCHMARKS.md" >&2
fi
