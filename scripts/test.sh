#!/usr/bin/env bash
# The test command (README, .ci/run). On a fresh machine it installs and
# starts everything the tests talk to, runs every test, and stops it all:
#   - mailpit, a real SMTP server (Go module proxy, built once into the cache)
#   - a real single-node Elasticsearch (scripts/es-node.sh, Maven Central)
#   - staticcheck (pinned, Go module proxy), run beside go vet
# Extra arguments go to `go test` (e.g. scripts/test.sh -run E2E -v).
set -euo pipefail
cd "$(dirname "$0")/.."
export MIMAMORI_CACHE="${MIMAMORI_CACHE:-$HOME/.cache/mimamori}"
mkdir -p "$MIMAMORI_CACHE/bin"

# Debian packages the tests use for real: Chromium (screenshots, PDFs, the
# browser source kind), openssl (a real RFC 3161 TSA), poppler-utils (to
# open the PDFs), a CJK font (Japanese in screenshots), Java 17 and Maven
# (the Elasticsearch node), unzip.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
command -v pdfinfo >/dev/null || need+=(poppler-utils)
fc-list 2>/dev/null | grep -qi 'ipagothic\|noto sans cjk' || need+=(fonts-ipafont-gothic)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v unzip >/dev/null || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
		exit 1
	fi
	echo "test.sh: installing ${need[*]}" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
export CI="${CI:-1}" # tests that need the tools above fail instead of skipping

MAILPIT_VERSION=v1.33.1
if [ ! -x "$MIMAMORI_CACHE/bin/mailpit-$MAILPIT_VERSION" ]; then
	echo "test.sh: installing mailpit $MAILPIT_VERSION (real SMTP server for the tests)" >&2
	GOBIN="$MIMAMORI_CACHE/bin" go install "github.com/axllent/mailpit@$MAILPIT_VERSION"
	mv "$MIMAMORI_CACHE/bin/mailpit" "$MIMAMORI_CACHE/bin/mailpit-$MAILPIT_VERSION"
fi
export MIMAMORI_MAILPIT="$MIMAMORI_CACHE/bin/mailpit-$MAILPIT_VERSION"

STATICCHECK_VERSION=v0.8.2
if [ ! -x "$MIMAMORI_CACHE/bin/staticcheck-$STATICCHECK_VERSION" ]; then
	echo "test.sh: installing staticcheck $STATICCHECK_VERSION" >&2
	GOBIN="$MIMAMORI_CACHE/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
	mv "$MIMAMORI_CACHE/bin/staticcheck" "$MIMAMORI_CACHE/bin/staticcheck-$STATICCHECK_VERSION"
fi

echo "test.sh: go vet, staticcheck" >&2
go vet ./...
"$MIMAMORI_CACHE/bin/staticcheck-$STATICCHECK_VERSION" ./...

# The end-to-end tests stop and restart the shared Elasticsearch node (the
# outage test), so they run after the other packages, not beside them.
run_tests() {
	go test -count=1 -timeout 20m $(go list ./... | grep -v '/e2e$') "$@"
	go test -count=1 -timeout 20m ./e2e "$@"
}
export -f run_tests

if [ "${MIMAMORI_SKIP_ES:-}" = 1 ]; then
	echo "test.sh: MIMAMORI_SKIP_ES=1: Elasticsearch tests will skip" >&2
	run_tests "$@"
	exit
fi
exec scripts/es-node.sh run -- bash -c 'run_tests "$@"' run_tests "$@"
