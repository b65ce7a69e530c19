#!/bin/sh
# Prints the tapstack-vs-gVisor table (README.md). Extra arguments go to the
# benchmark binary, e.g. ./test/bench/run.sh -mtu 9000, -only tapstack,
# -rounds 3, -perf. Needs root (network namespaces and TAPs).
set -eu
cd "$(dirname "$0")/../.."
exec go test ./test/bench -run '^$' -bench Table -benchtime 1x -timeout 30m -args "$@"
