#!/usr/bin/env bash
# bench_throughput.sh: how fast a job stores samples, against the fastest way
# PostgreSQL takes the same bytes. Each of ROUNDS rounds runs a SAMPLES-sample
# job (7 receivers x 10,000 complex samples, default physics) and then, in the
# same cluster, a binary COPY of exactly its rows into identical empty tables;
# prints samples/s and MB/s of each and their ratio per round, the median
# ratio, and the worker's peak memory (private RSS peak polled from /proc, and
# VmHWM, which also counts shared buffers it touched). Rounds, because this
# machine's disk varies by tens of percent from one minute to the next: a
# single pair can land on a fast and a slow minute. The last line is the
# summary. A benchmark, not a test: it asserts nothing.
set -eu
cd "$(dirname "$0")/../.."
samples=${SAMPLES:-2000}
rounds=${ROUNDS:-3}
dir=$(mktemp -d /tmp/heimdall_gen_bench.XXXXXX)
trap 'scripts/tmp-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
scripts/tmp-cluster.sh start "$dir" "${BENCH_PORT:-5480}" "max_wal_size = 4GB" "checkpoint_timeout = 30min" ${BENCH_CONF:-}
sql() { scripts/tmp-cluster.sh psql "$dir" -Atq "$@"; }
sql -c "CREATE EXTENSION heimdall_gen"
sql -c "CREATE TABLE copy_samples (LIKE heimdall_gen.samples INCLUDING ALL)" \
    -c "CREATE TABLE copy_receptions (LIKE heimdall_gen.receptions INCLUDING ALL)" \
    -c "ALTER TABLE copy_receptions ADD FOREIGN KEY (dataset_id, sample_idx) REFERENCES copy_samples"

# An untimed warm-up job of the same size: the first writer after a server
# start pays for the first touch of every page of shared buffers and creates
# the WAL segments that later writers recycle; the COPYs run after a job, so
# the timed jobs should too, as on a server that has been up for a while.
job=$(sql -c "SELECT heimdall_gen.start_job('warm_up', $samples, 1, '{\"rx_count_min\": 7, \"rx_count_max\": 7}')")
sql -c "SELECT heimdall_gen.wait_job($job)" >/dev/null
sql -c "TRUNCATE heimdall_gen.receptions, heimdall_gen.samples" -c "SELECT heimdall_gen.drop_dataset('warm_up')" >/dev/null

peak_anon=0; hwm=0
for round in $(seq 1 "$rounds"); do
  # both timed runs start from a checkpoint with nothing dirty in the page cache
  sql -c "CHECKPOINT"; sync
  job=$(sql -c "SELECT heimdall_gen.start_job('throughput_$round', $samples, 1, '{\"rx_count_min\": 7, \"rx_count_max\": 7}')")
  # Watch the worker through /proc only: a psql connection per poll would take
  # CPU from the job on a small machine, and the COPY baseline has no watcher.
  pid=""
  for _ in $(seq 1 500); do
    pid=$(pgrep -f "heimdall_gen worker for job $job( |$)" || true)
    [ -n "$pid" ] && break
    sleep 0.01
  done
  while [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; do
    a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$peak_anon" ] && peak_anon=$a
    [ "${h:-0}" -gt "$hwm" ] && hwm=$h
    sleep 0.5
  done
  sql -c "SELECT heimdall_gen.wait_job($job)" >/dev/null
  job_s=$(sql -c "SELECT extract(epoch FROM finished_at - started_at) FROM heimdall_gen.jobs WHERE job_id = $job")
  kept=$(sql -c "SELECT samples_done FROM heimdall_gen.jobs WHERE job_id = $job")
  dataset_id=$(sql -c "SELECT dataset_id FROM heimdall_gen.jobs WHERE job_id = $job")
  bytes=$(sql -c "SELECT sum(pg_column_size(r.*)) FROM heimdall_gen.receptions r WHERE dataset_id = $dataset_id")

  # the baseline: the same rows, binary COPY into identical tables (same indexes, same storage)
  sql -c "COPY (SELECT * FROM heimdall_gen.samples WHERE dataset_id = $dataset_id ORDER BY sample_idx)
          TO '$dir/samples.bin' WITH (FORMAT binary)"
  sql -c "COPY (SELECT * FROM heimdall_gen.receptions WHERE dataset_id = $dataset_id ORDER BY sample_idx, rx_idx)
          TO '$dir/receptions.bin' WITH (FORMAT binary)"
  # empty tables for every timed run: rows deleted by drop_dataset alone would
  # leave the next job autovacuum's work and free space the COPY never gets
  sql -c "TRUNCATE heimdall_gen.receptions, heimdall_gen.samples" \
      -c "SELECT heimdall_gen.drop_dataset('throughput_$round')" -c "TRUNCATE copy_receptions, copy_samples" >/dev/null
  sql -c "CHECKPOINT"; sync   # the exported files too: their writeback must not run into the COPY
  copy_s=$(sql -c "\\timing on" -c "COPY copy_samples FROM '$dir/samples.bin' WITH (FORMAT binary)" \
               -c "COPY copy_receptions FROM '$dir/receptions.bin' WITH (FORMAT binary)" \
           | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{s += $1} END {printf "%.3f", s / 1000}')
  sql -c "TRUNCATE copy_receptions, copy_samples"

  awk -v n="$kept" -v js="$job_s" -v cs="$copy_s" -v b="$bytes" -v r="$round" -v out="$dir/ratios" 'BEGIN {
    printf "round %d: job %d samples in %.2f s: %.1f samples/s, %.1f MB/s; COPY of the same %.0f MB in %.2f s: %.1f MB/s; ratio %.2f\n",
           r, n, js, n / js, b / js / 1e6, b / 1e6, cs, b / cs / 1e6, cs / js
    printf "%.3f %.1f %.1f %.1f\n", cs / js, n / js, b / js / 1e6, b / cs / 1e6 >> out }'
done

# the round with the median ratio stands for the run
sort -n "$dir/ratios" | awk -v anon="$peak_anon" -v hwm="$hwm" -v rounds="$rounds" '
  { line[NR] = $0 }
  END {
    split(line[int((NR + 1) / 2)], m, " ")
    split(line[1], lo, " "); split(line[NR], hi, " ")
    printf "bench_throughput: %.1f samples/s (%.1f MB/s), binary COPY of the same bytes %.1f MB/s, median ratio %.2f of %d rounds (min %.2f, max %.2f); worker peak private RSS %.1f MB (VmHWM %.1f MB incl. shared buffers)\n",
           m[2], m[3], m[4], m[1], rounds, lo[1], hi[1], anon / 1024, hwm / 1024
  }'
