#!/usr/bin/env bash
# Mutation testing with gremlins (github.com/go-gremlins/gremlins): each mutant is
# one small change to the code (a condition negated or its boundary moved, an
# arithmetic operator swapped, ++ for --, a sign dropped); the package's tests run
# against it, and a mutant they do not fail "lived". Prints each package's test
# efficacy, killed / (killed + lived), and every survivor. Survivors are either
# killed by a new test or listed in test/MUTATION.md as equivalent, with the reason.
#
# Then test/mutation/clauses does what gremlins' operators do not: each
# if-condition made true and false, each operand of && and || dropped.
#
# Slow (tcp alone is about 800 gremlins mutants and 1300 clause mutants) and
# not part of CI: run it on a quiet machine. A loaded machine turns mutants
# into time-outs, which count neither way.
#
#   test/mutation.sh                 # every package below, both tools
#   test/mutation.sh tcp arp         # some of them
#   COEFF=30 WORKERS=1 test/mutation.sh tcp
#   TOOLS=gremlins test/mutation.sh  # or TOOLS=clauses
#
# Results (gremlins' JSON and its text report) go to $OUT (default /tmp/tapstack-mutation).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"

version=v0.6.0
if ! command -v gremlins >/dev/null; then
	echo "installing gremlins $version" >&2
	go install "github.com/go-gremlins/gremlins/cmd/gremlins@$version"
fi

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(tcp tcp/buffer ipv4 arp udp stack)
out=${OUT:-/tmp/tapstack-mutation}
coeff=${COEFF:-20}
workers=${WORKERS:-0}
mkdir -p "$out"
# gremlins times each mutant's tests against its coverage run; a coverage
# run answered from the test cache would make that budget a fraction of a
# second and turn most mutants into time-outs. go vet is left to CI: per
# mutant it only adds time.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1 -vet=off"

# Warm the build cache so the first mutants are not timed against a cold build.
go test -count=1 -run '^$' "${pkgs[@]/#/./}" >/dev/null

tools=${TOOLS:-gremlins clauses}
summary=()
for p in "${pkgs[@]}"; do
	[[ " $tools " == *" gremlins "* ]] || break
	name=${p//\//_}
	echo "== $p" >&2
	# -E '/': only the package's own files (gremlins would also take its
	# subpackages', e.g. tcp/buffer's under tcp, and test them with their
	# own package's tests).
	gremlins unleash --timeout-coefficient "$coeff" --workers "$workers" -E / \
		-o "$out/$name.json" "./$p" >"$out/$name.txt" 2>&1 || true
	# "LIVED CONDITIONALS_NEGATION at input.go:12:3" -> "LIVED tcp/input.go:12:3 CONDITIONALS_NEGATION"
	sed -nE "s#^ *(LIVED|TIMED OUT|NOT VIABLE) ([A-Z_]+) at (.*)\$#  \1 $p/\3 \2#p" "$out/$name.txt"
	killed=$(sed -n 's/^Killed: \([0-9]*\), Lived: \([0-9]*\).*/\1/p' "$out/$name.txt")
	lived=$(sed -n 's/^Killed: \([0-9]*\), Lived: \([0-9]*\).*/\2/p' "$out/$name.txt")
	timedout=$(sed -n 's/^Timed out: \([0-9]*\).*/\1/p' "$out/$name.txt")
	eff=$(sed -n 's/^Test efficacy: \(.*\)$/\1/p' "$out/$name.txt")
	summary+=("$(printf '%-12s %7s  killed %4s  lived %3s  timed out %3s' "$p" "${eff:-?}" "${killed:-?}" "${lived:-?}" "${timedout:-?}")")
done

if [ ${#summary[@]} -gt 0 ]; then
	echo
	echo "test efficacy = killed / (killed + lived)   (reports in $out)"
	printf '%s\n' "${summary[@]}"
fi

if [[ " $tools " == *" clauses "* ]]; then
	echo
	echo "== clauses" >&2
	w=$workers
	[ "$w" != 0 ] || w=$(nproc)
	go run ./test/mutation/clauses -j "$w" -timeout-coefficient "$coeff" "${pkgs[@]/#/./}" | tee "$out/clauses.txt"
fi
