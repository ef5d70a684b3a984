#!/usr/bin/env bash
# bench_cancel_latency.sh: cancel latency of heimdall_gen jobs generating at
# full speed (default configuration, 7 receivers), measured inside the server
# from the call to the stopped worker: ROUNDS cancels at random points for the
# fast path (cancel_job(id, wait => true): shared-memory flag + latch) and for
# the fallback alone (a hand UPDATE of the status row, committed, then waiting
# until the worker has left its slot). Prints p50/p99 of each and their ratio;
# the last line is the summary. A benchmark, not a test: it asserts nothing.
set -eu
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-100}
dir=$(mktemp -d /tmp/heimdall_gen_bench.XXXXXX)
trap 'scripts/tmp-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
scripts/tmp-cluster.sh start "$dir" "${BENCH_PORT:-5478}" ${BENCH_CONF:-}
sql() { scripts/tmp-cluster.sh psql "$dir" -Atq "$@"; }
sql <<'SQL'
CREATE EXTENSION heimdall_gen;
CREATE TABLE bench_latency (path text, ms double precision);
-- start a job, let it run a random 0.1-0.5 s at full speed, stop it, time it
CREATE PROCEDURE bench_round(path text, round int) LANGUAGE plpgsql AS $$
DECLARE
	job bigint;
	t0 timestamptz;
BEGIN
	job := heimdall_gen.start_job(format('%s_%s', path, round), 100000, round,
								  '{"rx_count_min": 7, "rx_count_max": 7}');
	COMMIT;
	WHILE NOT EXISTS (SELECT 1 FROM heimdall_gen.worker_slots() s WHERE s.job_id = job AND s.pid IS NOT NULL) LOOP
		PERFORM pg_sleep(0.001);
	END LOOP;
	PERFORM pg_sleep(0.1 + random() * 0.4);
	IF path = 'fast' THEN
		t0 := clock_timestamp();
		PERFORM heimdall_gen.cancel_job(job, wait => true);
	ELSE
		UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = job;
		COMMIT;
		t0 := clock_timestamp();
		WHILE EXISTS (SELECT 1 FROM heimdall_gen.worker_slots() s WHERE s.job_id = job) LOOP
			PERFORM pg_sleep(0.0002);
		END LOOP;
	END IF;
	INSERT INTO bench_latency VALUES (path, 1000 * extract(epoch FROM clock_timestamp() - t0));
	COMMIT;
	PERFORM heimdall_gen.drop_dataset(format('%s_%s', path, round));
	COMMIT;
END
$$;
SQL
for path in fast fallback; do
  for i in $(seq 1 "$rounds"); do sql -c "CALL bench_round('$path', $i)"; done
done
sql -F ' ' <<'SQL'
SELECT 'cancel ' || path || ': n=' || count(*) || ' p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
       || ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ms, max '
       || round(max(ms)::numeric, 2) || ' ms'
  FROM bench_latency GROUP BY path ORDER BY path DESC;
WITH p AS (SELECT path, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99 FROM bench_latency GROUP BY path)
SELECT format('bench_cancel_latency: fast path p50 %s ms p99 %s ms; fallback alone p50 %s ms p99 %s ms; fallback/fast p99 = %sx; replaced system: 1010 ms',
              round(f.p50::numeric, 2), round(f.p99::numeric, 2), round(b.p50::numeric, 1), round(b.p99::numeric, 1),
              round((b.p99 / nullif(f.p99, 0))::numeric, 1))
  FROM p f, p b WHERE f.path = 'fast' AND b.path = 'fallback';
SQL
