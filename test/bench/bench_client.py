#!/usr/bin/python3
"""bench_client.py (make bench-client): the Python client's streaming rate
(MB/s of IQ decoded into numpy arrays, labels included) against psql's
COPY (SELECT iq ...) TO STDOUT (FORMAT binary) into /dev/null on the same
rows, in the same run, on a throwaway cluster.  Prints figures, asserts nothing.
    SAMPLES=200 RX=7 DURATION_MS=200 ROUNDS=3"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import psycopg  # noqa: E402

import heimdall_gen as hg  # noqa: E402

samples = int(os.environ.get("SAMPLES", 200))
rx = int(os.environ.get("RX", 7))
dur = int(os.environ.get("DURATION_MS", 200))
rounds = int(os.environ.get("ROUNDS", 3))
tc = os.path.join(ROOT, "scripts", "tmp-cluster.sh")
d = tempfile.mkdtemp(prefix="heimdall_gen_bench_client.")
port = os.environ.get("BENCH_PORT", "5493")
subprocess.run(["bash", tc, "start", d, port], check=True)
try:
    dsn = f"host={d}/sock port={port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION heimdall_gen")
        job = c.execute("SELECT heimdall_gen.start_job('bench', %s, 1, %s::jsonb)",
                        (samples, f'{{"duration_ms": {dur}, "rx_count_min": {rx}, "rx_count_max": {rx}}}')).fetchone()[0]
        assert c.execute("SELECT heimdall_gen.wait_job(%s)", (job,)).fetchone()[0] == "completed"
        ds_id, nbytes = c.execute("SELECT d.dataset_id, sum(octet_length(r.iq)) FROM heimdall_gen.receptions r "
                                  "JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'bench' "
                                  "GROUP BY 1").fetchone()
    mb = nbytes / 1e6
    copy_sql = (f"COPY (SELECT r.iq FROM heimdall_gen.receptions r WHERE r.dataset_id = {ds_id} "
                "ORDER BY r.sample_idx, r.rx_idx) TO STDOUT (FORMAT binary)")
    psql_rates, client_rates = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run(["bash", tc, "psql", d, "-c", copy_sql], stdout=null, check=True)
        psql_rates.append(mb / (time.perf_counter() - t))
        ds = hg.Dataset(dsn, "bench")
        t = time.perf_counter()
        got = 0
        for s in ds.stream():
            got += s.iq.nbytes
        client_rates.append(mb / (time.perf_counter() - t))
        assert got == nbytes
        ds.conn.close()
    p, q = statistics.median(psql_rates), statistics.median(client_rates)
    print(f"bench_client: {samples} samples x {rx} receivers, {mb:.0f} MB of IQ, median of {rounds}: "
          f"client {q:.0f} MB/s into numpy, psql COPY binary {p:.0f} MB/s to /dev/null, ratio {q / p:.2f} "
          f"(range {min(client_rates) / max(psql_rates):.2f}..{max(client_rates) / min(psql_rates):.2f}; target >= 0.8)")
finally:
    subprocess.run(["bash", tc, "stop", d])
    shutil.rmtree(d, ignore_errors=True)
