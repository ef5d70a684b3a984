"""A throwaway cluster for the client tests (scripts/tmp-cluster.sh: runs as
the OS user postgres on a private port and socket directory), or the one
named by $HEIMDALL_GEN_TEST_DSN.  Datasets are small (10 ms receptions, 4-5
receivers) so that the suite stays short on 2 cores."""
import os
import shutil
import subprocess
import sys
import tempfile

import psycopg
import psycopg.sql
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SMALL = '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 5, "weight_qpsk": 1, "weight_bpsk": 0.5}'


@pytest.fixture(scope="session")
def dsn():
    if os.environ.get("HEIMDALL_GEN_TEST_DSN"):
        yield os.environ["HEIMDALL_GEN_TEST_DSN"]
        return
    d = tempfile.mkdtemp(prefix="heimdall_gen_pytest.")
    port = str(5700 + os.getpid() % 200)
    tc = os.path.join(ROOT, "scripts", "tmp-cluster.sh")
    subprocess.run(["bash", tc, "start", d, port, "heimdall_gen.max_workers = 2"], check=True)
    try:
        dsn = f"host={d}/sock port={port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE EXTENSION heimdall_gen")
        yield dsn
    finally:
        subprocess.run(["bash", tc, "stop", d])
        shutil.rmtree(d, ignore_errors=True)


def cli_command(dsn, *args):
    """The heimdall-gen command line: the installed command, else the module."""
    exe = shutil.which("heimdall-gen")
    return ([exe] if exe else [sys.executable, "-m", "heimdall_gen.cli"]) + ["--dsn", dsn] + list(args)


def cli(dsn, *args, timeout=120):
    return subprocess.run(cli_command(dsn, *args), capture_output=True, text=True, timeout=timeout)


def start_job_as(conn, role, dataset, n, seed=1, params=SMALL):
    """Queue a job as another role (SET ROLE on the superuser's connection, then back)."""
    conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role)))
    try:
        return conn.execute("SELECT heimdall_gen.start_job(%s, %s, %s, %s::jsonb)",
                            (dataset, n, seed, params)).fetchone()[0]
    finally:
        conn.execute("RESET ROLE")


def run_job(conn, dataset, n, seed=None, params=SMALL, timeout="120 s"):
    job = conn.execute("SELECT heimdall_gen.start_job(%s, %s, %s, %s::jsonb)", (dataset, n, seed, params)).fetchone()[0]
    st = conn.execute("SELECT heimdall_gen.wait_job(%s, %s::interval)", (job, timeout)).fetchone()[0]
    assert st == "completed", conn.execute("SELECT error FROM heimdall_gen.jobs WHERE job_id = %s", (job,)).fetchone()
    return job


@pytest.fixture(scope="session")
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def stored(conn):
    """'pyt': 30 stored samples, seed 5."""
    run_job(conn, "pyt", 30, 5)
    return "pyt"


@pytest.fixture(scope="session")
def virtual(conn):
    """'pyt_virtual': the same seed and parameters as 'pyt', IQ regenerated on read."""
    run_job(conn, "pyt_virtual", 30, 5, SMALL[:-1] + ', "iq_storage": "virtual"}')
    return "pyt_virtual"
