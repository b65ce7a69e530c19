#!/bin/sh
# Prints the tapstack-vs-gVisor table (README.md). Extra arguments go to the
# benchmark binary, e.g. ./test/bench/run.sh -mtu 9000, -only tapstack,
# -rounds 3, -perf, -phases idle,short,loss. Needs root (network namespaces
# and TAPs). One round takes about 5 minutes (3 rounds about 20 on a loaded
# machine), hence the timeout.
set -eu
cd "$(dirname "$0")/../.."
exec go test ./test/bench -run '^$' -bench Table -benchtime 1x -timeout 60m -args "$@"
