#!/usr/bin/env bash
# System packages the test suite needs: Debian's chromium + chromedriver for the leaderboard's
# browser tests, and PostgreSQL (the server binaries: the tests start a private cluster on loopback,
# no system service). Idempotent; skipped when everything is there or apt is unavailable.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install ${need[*]} yourself (the browser / PostgreSQL tests skip without them)" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
