#!/usr/bin/env bash
# ensure-deps.sh: installs, on a Debian machine, the packages heimdall_gen
# needs to build and test (and, with --demo, to run the Python client
# example). Does nothing for packages already there; needs root to install.
set -eu
# gdb: test/t/020_wal_room.pl holds its own cluster's WAL writer at a breakpoint
pkgs="build-essential git gdb postgresql-15 postgresql-server-dev-15 libipc-run-perl"
# the Python client and its tests (python/): psycopg 3, numpy, matplotlib, tqdm,
# pytest, pip to install it, and torch for its DataLoader adapter
pkgs="$pkgs python3-psycopg python3-numpy python3-matplotlib python3-tqdm python3-pytest python3-pip python3-setuptools python3-wheel python3-torch"
if [ "${1:-}" = "--demo" ]; then pkgs="$pkgs python3-psycopg2"; fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages:$missing (run as root, or install them)" >&2; exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
