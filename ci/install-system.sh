#!/usr/bin/env bash
# System packages the test suite needs: Debian's chromium + chromedriver for the leaderboard's
# browser tests. Idempotent; skipped when chromium is already there or apt is unavailable.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install Chromium yourself for the browser tests (they skip without it)" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
