#!/usr/bin/env bash
# bench_cancel_latency.sh: cancel latency of heimdall_gen jobs generating at
# full speed (default configuration, 7 receivers), measured inside the server
# from the call until the worker's process no longer exists:
#   normal     ROUNDS cancels at random points (0.1-0.5 s into a job) for the
#              fast path (cancel_job(id, wait => true): shared-memory flag +
#              latch) and for the fallback alone (a hand UPDATE of the status
#              row, committed, then waiting until the worker has left its
#              slot); the fallback rounds also time the worker's exit, from
#              leaving its slot until its process is gone;
#   saturated  the disk kept busy: a load job writes at full speed all along,
#              and after SATURATE_S (30) seconds of it, SAT_ROUNDS (50) fast-path
#              cancels of a second job at random points, each with the
#              machine's Dirty and Writeback (/proc/meminfo) at that moment;
#              SAT_LOAD=writer: the load is a writer outside PostgreSQL
#              instead (dd into the page cache, one file of 8 GB rewritten in
#              place), which holds the kernel's dirty pages at its throttling
#              limit, as a backup or a file copy on a shared server does;
#   long       LONG_ROUNDS (10) fast-path cancels of jobs that have each
#              written at full speed for LONG_S (30) to LONG_S + 5 seconds,
#              as a user cancels a job that has been running for a while;
#              between rounds the bench empties the sample tables (TRUNCATE:
#              its own throwaway cluster) so that it does not fill the disk;
#   baseline   what any PostgreSQL process pays on this machine to go away:
#              ROUNDS plain backends (an idle session opened through dblink)
#              ended by pg_terminate_backend(), timed from the call until the
#              process no longer exists.  The cancel figures are also given as a
#              ratio to its median.
# MODE=normal|saturated|long|both|all (default all; both = normal and
# saturated).  PARAMS: the jobs' params
# (default '{"rx_count_min": 7, "rx_count_max": 7}'), e.g. a large
# configuration: PARAMS='{"rx_count_min": 15, "rx_count_max": 15,
# "sample_rate_hz": 1000000, "duration_ms": 262}' MODE=normal (the load job
# of the saturated mode keeps the default). HUGE_PAGES=on|try|off (default
# try when run as root: the cluster's shared memory in huge pages, reserved
# for the run and given back, or in 4 kB pages if the kernel cannot find
# enough free ones; the summary says which; see scripts/tmp-cluster.sh).  Prints p50/p99/max
# of each; the last line is the summary. A benchmark, not a test: it asserts
# nothing.
set -eu
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-100}
sat_rounds=${SAT_ROUNDS:-50}
saturate_s=${SATURATE_S:-30}
long_rounds=${LONG_ROUNDS:-10}
long_s=${LONG_S:-30}
mode=${MODE:-all}
case "$mode" in normal | saturated | long | both | all) ;; *) echo "MODE must be normal, saturated, long, both or all, not '$mode'" >&2; exit 2 ;; esac
runs() { [ "$mode" = all ] || [ "$mode" = "$1" ] || { [ "$mode" = both ] && [ "$1" != long ]; }; }
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then export HUGE_PAGES=${HUGE_PAGES:-try}; else export HUGE_PAGES=off; fi
dir=$(mktemp -d /tmp/heimdall_gen_bench.XXXXXX)
sat_load=${SAT_LOAD:-job}
case "$sat_load" in job | writer) ;; *) echo "SAT_LOAD must be job or writer, not '$sat_load'" >&2; exit 2 ;; esac
writer=
stop_writer() { if [ -n "$writer" ]; then pkill -P "$writer" 2>/dev/null || true; kill "$writer" 2>/dev/null || true; wait "$writer" 2>/dev/null || true; writer=; fi; }
trap 'stop_writer; scripts/tmp-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
# shellcheck disable=SC2086
scripts/tmp-cluster.sh start "$dir" "${BENCH_PORT:-5478}" "heimdall_gen.max_workers = 2" ${BENCH_CONF:-}
# what the server got: its main shared memory shows as /anon_hugepage in huge pages
huge_pages=off
if grep -q anon_hugepage "/proc/$(head -n 1 "$dir/data/postmaster.pid")/maps" 2>/dev/null; then huge_pages=on; fi
[ "$HUGE_PAGES" != off ] && [ "$huge_pages" = off ] && huge_pages="off (the kernel had too few free huge pages)"
params=${PARAMS:-'{"rx_count_min": 7, "rx_count_max": 7}'}
sql() { scripts/tmp-cluster.sh psql "$dir" -Atq "$@"; }
sql -v params="$params" <<'SQL'
CREATE EXTENSION heimdall_gen;
CREATE TABLE bench_params AS SELECT :'params'::jsonb AS params;
CREATE TABLE bench_latency (path text, ms double precision, dirty_mb double precision, writeback_mb double precision);
CREATE FUNCTION meminfo_mb(field text) RETURNS double precision LANGUAGE sql AS $$
	SELECT (regexp_match(pg_read_file('/proc/meminfo'), field || ':\s+(\d+) kB'))[1]::double precision / 1024 $$;
-- a process exists until the postmaster has reaped it: /proc/<pid>/stat is
-- readable until then, zombie included, and a read that the reap overtakes
-- fails with "No such process" (a stat() of /proc/<pid> said "no such file"
-- while the process still tore down its memory: 2-8 ms too early, measured
-- by a poller of /proc running beside it)
CREATE FUNCTION process_exists(p int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RETURN pg_read_file('/proc/' || p || '/stat', 0, 64, true) IS NOT NULL;
EXCEPTION WHEN others THEN
	IF SQLERRM LIKE '%No such process%' THEN
		RETURN false;
	END IF;
	RAISE;
END
$$;
-- the probe, called once before each timing (pid 0: no such process) so that
-- its statements are prepared by then: their first planning is not the cancel's
CREATE FUNCTION wait_gone(p int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	WHILE process_exists(p) LOOP
		PERFORM pg_sleep(0.0002);
	END LOOP;
END
$$;
-- start a job, let it run a random 0.1-0.5 s at full speed (by default), stop it, time it
CREATE PROCEDURE bench_round(path text, round int, run_s double precision DEFAULT 0.1,
							 spread_s double precision DEFAULT 0.4) LANGUAGE plpgsql AS $$
DECLARE
	job bigint;
	worker int;
	t0 timestamptz;
	t1 timestamptz;
	dirty double precision;
	writeback double precision;
BEGIN
	job := heimdall_gen.start_job(format('%s_%s', path, round), 100000, round,
								  (SELECT params FROM bench_params));
	COMMIT;
	LOOP
		SELECT s.pid INTO worker FROM heimdall_gen.worker_slots() s WHERE s.job_id = job AND s.pid IS NOT NULL;
		EXIT WHEN worker IS NOT NULL;
		PERFORM pg_sleep(0.001);
	END LOOP;
	PERFORM pg_sleep(run_s + random() * spread_s);
	PERFORM wait_gone(0);
	IF path IN ('fast', 'saturated', 'long') THEN
		dirty := meminfo_mb('Dirty');
		writeback := meminfo_mb('Writeback');
		t0 := clock_timestamp();
		PERFORM heimdall_gen.cancel_job(job, wait => true);
		-- it returns once the postmaster reaped the worker: the process is gone
		PERFORM wait_gone(worker);
	ELSE
		UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = job;
		COMMIT;
		t0 := clock_timestamp();
		WHILE EXISTS (SELECT 1 FROM heimdall_gen.worker_slots() s WHERE s.job_id = job) LOOP
			PERFORM pg_sleep(0.0002);
		END LOOP;
		t1 := clock_timestamp();
		PERFORM wait_gone(worker);
		INSERT INTO bench_latency VALUES ('exit', 1000 * extract(epoch FROM clock_timestamp() - t1));
	END IF;
	INSERT INTO bench_latency VALUES (path, 1000 * extract(epoch FROM clock_timestamp() - t0), dirty, writeback);
	COMMIT;
	IF path = 'long' THEN
		-- gigabytes of rows: deleting them would take longer than the job ran
		TRUNCATE heimdall_gen.receptions, heimdall_gen.samples;
	END IF;
	PERFORM heimdall_gen.drop_dataset(format('%s_%s', path, round));
	COMMIT;
END
$$;
SQL
if runs normal; then
  for path in fast fallback; do
    for i in $(seq 1 "$rounds"); do sql -c "CALL bench_round('$path', $i)"; done
  done
fi
# the baseline: a plain backend (an idle session, opened through dblink) ended by pg_terminate_backend
port=$(sed -n 's/^port = //p' "$dir/data/postgresql.conf" | tail -n 1)
sql -v conn="host=$dir/sock port=$port user=postgres dbname=postgres" <<'SQL'
CREATE EXTENSION dblink;
CREATE TABLE bench_conn AS SELECT :'conn'::text AS conn;
CREATE PROCEDURE baseline_round() LANGUAGE plpgsql AS $$
DECLARE
	victim int;
	t0 timestamptz;
BEGIN
	PERFORM dblink_connect('victim', (SELECT conn FROM bench_conn));
	SELECT pid INTO victim FROM dblink('victim', 'SELECT pg_backend_pid()') AS t(pid int);
	PERFORM pg_sleep(0.05);
	PERFORM wait_gone(0);
	t0 := clock_timestamp();
	PERFORM pg_terminate_backend(victim);
	PERFORM wait_gone(victim);
	INSERT INTO bench_latency VALUES ('baseline', 1000 * extract(epoch FROM clock_timestamp() - t0));
	PERFORM dblink_disconnect('victim');
END
$$;
SQL
for i in $(seq 1 "$rounds"); do sql -c "CALL baseline_round()"; done
if runs saturated; then
  if [ "$sat_load" = writer ]; then
    ( while :; do dd if=/dev/zero of="$dir/load.bin" bs=1M count=8192 conv=notrunc status=none || exit 1; done ) &
    writer=$!
  else
    load=$(sql -c "SELECT heimdall_gen.start_job('load', 1000000, 7, '{\"rx_count_min\": 7, \"rx_count_max\": 7}')")
  fi
  sleep "$saturate_s"
  echo "saturated: load ($sat_load) writing for ${saturate_s} s; Dirty $(sql -c "SELECT round(meminfo_mb('Dirty'))") MB, Writeback $(sql -c "SELECT round(meminfo_mb('Writeback'))") MB"
  for i in $(seq 1 "$sat_rounds"); do sql -c "CALL bench_round('saturated', $i)"; done
  if [ "$sat_load" = writer ]; then
    stop_writer
    rm -f "$dir/load.bin"
  else
    sql -c "SELECT heimdall_gen.cancel_job($load, wait => true)" >/dev/null
  fi
fi
if runs long; then
  for i in $(seq 1 "$long_rounds"); do sql -c "CALL bench_round('long', $i, $long_s, 5)"; done
fi
sql -F ' ' -v huge_pages="$huge_pages" -v sat_load="$sat_load" -v long_s="$long_s" -v params_note="${PARAMS:+; params of the cancelled jobs $PARAMS}" <<'SQL'
SELECT CASE path WHEN 'exit' THEN 'worker exit (slot left -> process gone)'
                 WHEN 'baseline' THEN 'baseline: a plain backend, pg_terminate_backend -> process gone'
                 ELSE 'cancel ' || path END
       || ': n=' || count(*) || ' p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
       || ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ms, max '
       || round(max(ms)::numeric, 2) || ' ms'
       || coalesce('; Dirty at the cancels median ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY dirty_mb)::numeric)
                   || ' MB max ' || round(max(dirty_mb)::numeric) || ' MB, Writeback median '
                   || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY writeback_mb)::numeric) || ' MB max '
                   || round(max(writeback_mb)::numeric) || ' MB', '')
  FROM bench_latency GROUP BY path ORDER BY path DESC;
WITH p AS (SELECT path, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max, count(*) AS n
             FROM bench_latency GROUP BY path)
SELECT 'bench_cancel_latency:'
       -- format() prints a NULL as nothing: a mode that did not run is left out with CASE
       || CASE WHEN f.p50 IS NOT NULL THEN format(' fast path p50 %s ms p99 %s ms max %s ms;', round(f.p50::numeric, 2), round(f.p99::numeric, 2), round(f.max::numeric, 1)) ELSE '' END
       || CASE WHEN s.p50 IS NOT NULL THEN format(' saturated (load: %s) p50 %s ms p99 %s ms max %s ms;', :'sat_load', round(s.p50::numeric, 2), round(s.p99::numeric, 2), round(s.max::numeric, 1)) ELSE '' END
       || CASE WHEN l.p50 IS NOT NULL THEN format(' after %s s of writing p50 %s ms p99 %s ms max %s ms (n=%s);', :'long_s', round(l.p50::numeric, 2), round(l.p99::numeric, 2), round(l.max::numeric, 1), l.n) ELSE '' END
       || CASE WHEN b.p50 IS NOT NULL THEN format(' fallback alone p50 %s ms p99 %s ms;', round(b.p50::numeric, 1), round(b.p99::numeric, 1)) ELSE '' END
       || CASE WHEN e.p50 IS NOT NULL THEN format(' worker exit p50 %s ms p99 %s ms;', round(e.p50::numeric, 2), round(e.p99::numeric, 2)) ELSE '' END
       || format(' baseline (a plain backend''s exit) p50 %s ms p99 %s ms, fast path p50 %sx it, saturated %sx;',
                 round(z.p50::numeric, 2), round(z.p99::numeric, 2), coalesce(round((f.p50 / z.p50)::numeric, 1)::text, '-'),
                 coalesce(round((s.p50 / z.p50)::numeric, 1)::text, '-'))
       || ' huge pages ' || :'huge_pages' || '; replaced system: 1010 ms' || :'params_note'
  FROM (SELECT 1) one
  LEFT JOIN p f ON f.path = 'fast' LEFT JOIN p s ON s.path = 'saturated' LEFT JOIN p l ON l.path = 'long'
  LEFT JOIN p b ON b.path = 'fallback' LEFT JOIN p e ON e.path = 'exit' LEFT JOIN p z ON z.path = 'baseline';
SQL
