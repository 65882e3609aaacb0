#!/usr/bin/env bash
# Smoke test of the RDMA device (run through run-in-guest): perftest's ib_read_bw,
# server and client on $PN_RDMA_ADDR, connected with rdma_cm (-R) as our backend is.
# Passes when both sides exit 0 and the client reports a result row for every size.
set -uo pipefail
dev=${PN_RDMA_DEV:?run me through tests/softroce/run-in-guest}
addr=${PN_RDMA_ADDR:?run me through tests/softroce/run-in-guest}
sizes=(8 65536 1048576)
iters=${PN_SMOKE_ITERS:-100}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for size in "${sizes[@]}"; do
	timeout 60 ib_read_bw -d "$dev" -R -s "$size" -n "$iters" -F > "$out/server" 2>&1 &
	server=$!
	ok=0
	# The server needs a moment to listen; the client fails fast until it does.
	for _ in $(seq 40); do
		if timeout 60 ib_read_bw -d "$dev" -R -s "$size" -n "$iters" -F "$addr" > "$out/client" 2>&1; then
			ok=1
			break
		fi
		kill -0 "$server" 2> /dev/null || break
		sleep 0.25
	done
	wait "$server"
	src=$?
	if [ $ok != 1 ] || [ $src != 0 ]; then
		echo "FAIL size $size: client ok=$ok server exit $src"
		echo "--- client"; cat "$out/client"; echo "--- server"; cat "$out/server"
		exit 1
	fi
	row=$(awk -v s="$size" '$1 == s && $2 ~ /^[0-9]+$/' "$out/client")
	if [ -z "$row" ]; then
		echo "FAIL size $size: no result row"; cat "$out/client"
		exit 1
	fi
	echo "ib_read_bw $dev size $size: $row"
done
echo "PASS ib_read_bw smoke on $dev ($addr)"
