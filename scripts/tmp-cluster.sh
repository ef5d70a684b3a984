#!/usr/bin/env bash
# tmp-cluster.sh: a throwaway PostgreSQL cluster with heimdall_gen preloaded,
# run as the unprivileged OS user postgres (PostgreSQL refuses root) on a
# private port and socket directory.
#   tmp-cluster.sh start DIR PORT [extra postgresql.conf lines...]
#   tmp-cluster.sh stop DIR          (fast shutdown; safe to call twice)
# HUGE_PAGES=on (as root): shared memory in 2 MB huge pages, reserved for the
# cluster (vm.nr_hugepages raised by what it needs, given back at stop); the
# server refuses to start if the kernel cannot find them.  HUGE_PAGES=try:
# the same reservation, but the server (huge_pages = try, PostgreSQL's
# default) falls back to 4 kB pages if the kernel found too few.
#   tmp-cluster.sh psql DIR [psql args...]
set -eu
# PG_BINDIR: another (relocated) installation, e.g. one holding your own build
bindir=${PG_BINDIR:-$(/usr/lib/postgresql/15/bin/pg_config --bindir)}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cmd=$1; dir=$2; shift 2
case "$cmd" in
  start)
    port=$1; shift
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log"
    mkdir -p "$dir/sock"; [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/sock"
    {
      echo "port = $port"
      echo "unix_socket_directories = '$dir/sock'"
      echo "listen_addresses = ''"
      echo "shared_preload_libraries = 'heimdall_gen'"
      echo "heimdall_gen.database = 'postgres'"
      echo "max_worker_processes = 16"
      # writing at the disk's limit: leave the writes to the WAL writer and the
      # background writer, so that a worker's insert rarely waits in the kernel
      # (README, "Server settings for writing at the disk's limit")
      echo "wal_buffers = 64MB"
      echo "wal_writer_delay = 10ms"
      echo "bgwriter_delay = 10ms"
      echo "bgwriter_lru_maxpages = 1000"
      echo "bgwriter_lru_multiplier = 10"
      for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    if [ "${HUGE_PAGES:-off}" = on ] || [ "${HUGE_PAGES:-off}" = try ]; then
      need=$(as_pg "$bindir/postgres" -D "$dir/data" -C shared_memory_size_in_huge_pages)
      cat /proc/sys/vm/nr_hugepages >"$dir/nr_hugepages.before"
      echo $(( $(cat "$dir/nr_hugepages.before") + need )) >/proc/sys/vm/nr_hugepages
      if [ "$HUGE_PAGES" = on ]; then echo "huge_pages = on" >>"$dir/data/postgresql.conf"; fi
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    if [ -f "$dir/nr_hugepages.before" ]; then
      cat "$dir/nr_hugepages.before" >/proc/sys/vm/nr_hugepages || true
      rm -f "$dir/nr_hugepages.before"
    fi
    ;;
  psql)
    port=$(sed -n 's/^port = //p' "$dir/data/postgresql.conf" | tail -n 1)
    as_pg "$bindir/psql" -h "$dir/sock" -p "$port" -U postgres -X -v ON_ERROR_STOP=1 "$@"
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR | psql DIR ..." >&2; exit 2 ;;
esac
