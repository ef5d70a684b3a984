#!/usr/bin/env bash
# test.sh: the project's one test command (make test, .ci/run). Installs what
# it needs, builds, runs the model's unit tests, installs the extension, then
# runs pg_regress and the TAP tests against temporary clusters that run as an
# unprivileged OS user (postgres) on private ports and socket directories.
# The clusters are stopped by pg_regress / PostgreSQL::Test::Cluster
# themselves, pass or fail; the scratch copy of the tree is removed on exit.
set -eu
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
make -s -j2 PG_CONFIG="$PG_CONFIG"
make -s unit PG_CONFIG="$PG_CONFIG"

run_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then make -s install PG_CONFIG="$PG_CONFIG"; fi

# PostgreSQL refuses to run as root: run the cluster tests in a copy of the
# tree that the unprivileged user owns.
scratch=$(mktemp -d /tmp/heimdall_gen_test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cp -a . "$scratch/tree"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$scratch"

# test/t/008_full_disk.pl fills a small filesystem: a 40 MB tmpfs, mounted
# here (as root) and unmounted on exit, pass or fail.  Under make test the
# test fails, rather than skips, without it.
export HG_REQUIRE_FULL_DISK=1
mkdir "$scratch/full_disk"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=40m,mode=0700 heimdall_gen_full_disk "$scratch/full_disk"; then
  trap 'umount "$scratch/full_disk" 2>/dev/null; rm -rf "$scratch"' EXIT
  chown postgres: "$scratch/full_disk"
  export HG_FULL_DISK_DIR="$scratch/full_disk"
else
  echo "test.sh: could not mount a tmpfs (needs root): test/t/008_full_disk.pl will fail" >&2
fi
status=0
run_as_pg make -C "$scratch/tree" -s installcheck PG_CONFIG="$PG_CONFIG" \
  EXTRA_REGRESS_OPTS="--temp-instance=$scratch/tree/tmp_regress --temp-config=$scratch/tree/test/regress.conf" \
  || status=$?
if [ "$status" -ne 0 ]; then
  for f in "$scratch"/tree/regression.diffs "$scratch"/tree/tmp_check/log/regress_log_*; do
    [ -f "$f" ] && { echo "---- $f"; tail -n 80 "$f"; }
  done
fi

# The Python client (python/): installed with the README's one command, then
# pytest against a throwaway cluster of its own (scripts/tmp-cluster.sh).
# Any non-zero exit fails the run, 5 (no test collected) included.
if [ "$status" -eq 0 ]; then
  # the installed extension may have been replaced while the TAP tests ran
  # (a shared machine): install this tree's again just before
  if [ "$(id -u)" -eq 0 ]; then make -s install PG_CONFIG="$PG_CONFIG"; fi
  pip_user=""; [ "$(id -u)" -eq 0 ] || pip_user="--user"
  /usr/bin/python3 -m pip install -q --no-index --no-build-isolation --break-system-packages $pip_user ./python \
    || status=$?
  rm -rf python/build
fi
if [ "$status" -eq 0 ]; then
  (cd python && /usr/bin/python3 -m pytest -q -p no:cacheprovider tests) || status=$?
  [ "$status" -eq 5 ] && echo "pytest collected no test: failing" >&2
fi
exit "$status"
