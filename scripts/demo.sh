#!/usr/bin/env bash
# demo.sh (make demo): on a fresh Debian machine, as root or not, installs what
# it needs, builds and installs heimdall_gen, starts a throwaway cluster as the
# unprivileged user postgres on a private port and socket directory, runs a
# real generation job with live progress, cancels another job and prints the
# result, reads one reception's IQ back from Python, and stops the cluster,
# pass or fail.
set -eu
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --demo
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
make -s -j2 PG_CONFIG="$PG_CONFIG"
if [ "$(id -u)" -eq 0 ]; then make -s install PG_CONFIG="$PG_CONFIG"; fi

# as root: the cluster's shared memory in huge pages if the kernel has them,
# which halves what a cancel waits for (README, "Server settings ...")
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then export HUGE_PAGES=${HUGE_PAGES:-try}; fi
dir=$(mktemp -d /tmp/heimdall_gen_demo.XXXXXX)
port=${DEMO_PORT:-5477}
trap 'scripts/tmp-cluster.sh stop "$dir"; rm -rf "$dir"' EXIT
scripts/tmp-cluster.sh start "$dir" "$port"
sql() { scripts/tmp-cluster.sh psql "$dir" -Atq "$@"; }

echo "== a cluster on port $port (socket $dir/sock), heimdall_gen preloaded"
sql -c "CREATE EXTENSION heimdall_gen"

echo "== start_job('demo', 40): 7 receivers x 10,000 complex samples each"
job=$(sql -c "SELECT heimdall_gen.start_job('demo', 40, 2024, '{\"rx_count_min\": 7, \"rx_count_max\": 7}')")
while :; do
  line=$(sql -F ' ' -c "SELECT status, bar, samples_done || '/' || num_samples, coalesce(samples_per_s::text, '-') || ' samples/s' FROM heimdall_gen.job_progress WHERE job_id = $job")
  printf '\r  job %s %s' "$job" "$line"
  case "$line" in completed*|failed*|cancelled*) break ;; esac
  sleep 0.3
done
echo
sql -F ' | ' -c "SELECT 'job ' || job_id, status, message FROM heimdall_gen.jobs WHERE job_id = $job"

echo "== a second job, cancelled mid-flight"
sql -c "ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 50" -c "SELECT pg_reload_conf()" >/dev/null
job2=$(sql -c "SELECT heimdall_gen.start_job('demo_cancelled', 100000, 7)")
# once it has committed a batch or two (a cancel keeps what is committed, drops the open batch)
until [ "$(sql -c "SELECT samples_done >= 15 FROM heimdall_gen.jobs WHERE job_id = $job2")" = t ]; do sleep 0.1; done
sql -c "\\timing on" -c "SELECT heimdall_gen.cancel_job($job2, wait => true)" | sed 's/^/  cancel_job: /'
sql -F ' | ' -c "SELECT 'job ' || job_id, status, samples_done || ' samples kept', (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = j.dataset_id) || ' rows' FROM heimdall_gen.jobs j WHERE job_id = $job2"

echo "== reading the IQ back with numpy.frombuffer(iq, '<c8')"
/usr/bin/python3 - "$dir/sock" "$port" <<'PY'
import sys, numpy, psycopg2
conn = psycopg2.connect(host=sys.argv[1], port=sys.argv[2], user="postgres", dbname="postgres")
cur = conn.cursor()
cur.execute("""SELECT r.sample_idx, r.rx_name, r.rx_power_dbm, r.snr_db, r.delay_s, r.iq
                 FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d USING (dataset_id)
                WHERE d.name = 'demo' ORDER BY r.sample_idx, r.rx_idx LIMIT 3""")
for idx, name, p_dbm, snr, delay, iq in cur.fetchall():
    x = numpy.frombuffer(iq, '<c8')
    measured = 10 * numpy.log10(numpy.mean(numpy.abs(x) ** 2))
    expected = 10 * numpy.log10(10 ** (p_dbm / 10) + 10 ** (-120 / 10))
    print(f"  sample {idx} {name}: {x.size} complex samples, delay {delay * 1e6:.1f} us, "
          f"power {measured:.2f} dBm measured vs {expected:.2f} dBm (rx {p_dbm:.2f} dBm + noise floor), SNR {snr:.1f} dB")
PY
echo "== the Python client: stream 'demo' into numpy, export a sample to SigMF, draw it"
/usr/bin/python3 -m pip install -q --no-index --no-build-isolation --break-system-packages \
  $([ "$(id -u)" -eq 0 ] || echo --user) ./python 2>/dev/null; rm -rf python/build
export HEIMDALL_GEN_DSN="host=$dir/sock port=$port user=postgres dbname=postgres"
# -P: not the current directory first on sys.path, where heimdall_gen.so (the
# server's module, not the Python package) would shadow the package
/usr/bin/python3 -P - <<'PY'
import time, heimdall_gen as hg
ds = hg.Dataset("", "demo")
t = time.perf_counter(); n = 0
for batch in ds.batches(8):
    n += sum(s.iq.nbytes for s in batch)
print(f"  streamed {len(ds)} samples ({n / 1e6:.1f} MB of complex64 IQ) in {time.perf_counter() - t:.2f} s;"
      f" splits: " + ", ".join(f"{sp} {len(hg.Dataset('', 'demo', sp))}" for sp in ("train", "val", "test")))
PY
first=$(sql -c "SELECT min(s.sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'demo'")
out=${DEMO_OUT:-/tmp/heimdall_gen_demo_out}
heimdall-gen export demo "$first" -o "$out" | sed 's/^/  SigMF: /'
heimdall-gen plot demo "$first" -o "$out/demo-$first.png" | sed 's/^/  picture: /'
echo "== done; stopping the cluster"
