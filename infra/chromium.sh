#!/usr/bin/env bash
# Installs Debian's Chromium at the pinned version (the live page's browser tests drive it
# headless). Nothing to do when that version is installed. Needs apt-get (root or sudo).
# Debian's security updates replace Chromium often and the mirror keeps only the newest
# build: when the pin is gone, this says so; update CHROMIUM_VERSION to the candidate.
set -euo pipefail

CHROMIUM_VERSION=156.0.8078.129-1~deb12u1

installed=$(dpkg-query -W -f='${Version}' chromium 2>/dev/null || true)
[ "$installed" = "$CHROMIUM_VERSION" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "==> installing Chromium $CHROMIUM_VERSION from Debian (pinned in infra/chromium.sh)"
$sudo apt-get update -qq
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "chromium=$CHROMIUM_VERSION" >/dev/null; then
  candidate=$(apt-cache policy chromium | awk '/Candidate:/ {print $2}')
  echo "Chromium $CHROMIUM_VERSION is no longer on the Debian mirror (its candidate: $candidate)." >&2
  echo "Set CHROMIUM_VERSION in infra/chromium.sh to it." >&2
  exit 1
fi
