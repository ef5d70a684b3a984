"""The heimdall-gen command end to end: start, watch, list, export, plot, pause, resume, cancel."""
import os
import shutil
import struct
import subprocess
import sys

import psycopg
import pytest

from conftest import SMALL, cli, cli_command, run_job, start_job_as


def test_help_and_usage(dsn):
    for c in ("start", "watch", "pause", "resume", "cancel", "list", "export", "plot"):
        r = cli(dsn, c, "--help")
        assert r.returncode == 0 and "usage: heimdall-gen " + c in r.stdout
    assert cli(dsn, "frobnicate").returncode == 2
    # --dsn after the command works as well as before it, and overrides a bad one given before
    exe = shutil.which("heimdall-gen")
    base = [exe] if exe else [sys.executable, "-m", "heimdall_gen.cli"]
    for args in (["list", "--dsn", dsn], ["--dsn", "host=/nonexistent", "list", "--dsn", dsn]):
        r = subprocess.run(base + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (args, r.stderr)
    assert cli(dsn, "watch", "999999", "-q").returncode == 1
    r = cli(dsn, "start", "pyt_too_many", "3000000000")
    assert r.returncode == 2 and "between 1 and 10000000" in r.stderr


def test_start_watch_list_export_plot(tmp_path, dsn):
    r = cli(dsn, "start", "pyt_cli", "25", "--seed", "3", "--params", SMALL)
    assert r.returncode == 0, r.stderr
    job = int(r.stdout.strip())
    r = cli(dsn, "watch", str(job))
    assert r.returncode == 0, r.stderr
    assert f"job {job} pyt_cli: completed 25/25" in r.stdout
    assert "25/25" in r.stderr                  # the progress bar
    r = cli(dsn, "list")
    assert r.returncode == 0 and f"{job:>5} pyt_cli" in r.stdout
    r = cli(dsn, "list", "--datasets")
    assert r.returncode == 0
    assert [line.split()[3] for line in r.stdout.splitlines() if line.startswith("pyt_cli ")] == ["stored"]
    quiet_dir = tmp_path / "quiet"
    r = cli(dsn, "export", "pyt_cli", "-o", str(quiet_dir), "--archive", "-q")
    assert r.returncode == 0 and r.stdout == "" and len(list(quiet_dir.glob("*.sigmf"))) == 25
    r = cli(dsn, "export", "pyt_cli", "-o", str(tmp_path), "--archive")
    assert r.returncode == 0 and len(r.stdout.split()) == 25
    assert cli(dsn, "export", "no_such", "-o", str(tmp_path)).returncode == 1
    png = tmp_path / "s.png"
    idx = os.path.basename(r.stdout.split()[0]).split("-s")[1].split(".")[0]
    r = cli(dsn, "plot", "pyt_cli", idx, "-o", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a name without a suffix is written as given, the name printed is the file's
    bare = tmp_path / "bare"
    r = cli(dsn, "plot", "pyt_cli", idx, "-o", str(bare))
    assert r.returncode == 0 and r.stdout.strip() == str(bare), r.stderr
    assert bare.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "bare.png").exists()
    # another format's suffix is a usage error, and nothing is written
    r = cli(dsn, "plot", "pyt_cli", idx, "-o", str(tmp_path / "s.jpg"))
    assert r.returncode == 2 and "plot writes PNG" in r.stderr and not (tmp_path / "s.jpg").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary left"


def test_pause_resume_cancel(dsn, conn):
    r = cli(dsn, "start", "pyt_cli_long", "100000", "--params", SMALL)
    job = int(r.stdout)
    assert cli(dsn, "pause", str(job)).returncode == 0
    assert conn.execute("SELECT status FROM heimdall_gen.jobs WHERE job_id = %s", (job,)).fetchone()[0] == "paused"
    assert cli(dsn, "watch", str(job), "--timeout", "1", "-q").returncode == 5
    # without a timeout too: a paused job waits for someone's resume, watch does not wait with it
    assert cli(dsn, "watch", str(job), "-q", timeout=30).returncode == 5
    assert cli(dsn, "resume", str(job)).returncode == 0
    r = cli(dsn, "cancel", str(job), "--wait")
    assert r.returncode == 0 and "cancelled" in r.stdout
    assert cli(dsn, "watch", str(job), "-q").returncode == 4
    assert cli(dsn, "cancel", str(job)).returncode == 6           # nothing left to cancel


def test_watch_running_job_until_cancelled(dsn, conn):
    r = cli(dsn, "start", "pyt_cli_w", "100000", "--params", SMALL)
    job = int(r.stdout)
    p = subprocess.Popen([shutil.which("heimdall-gen") or sys.executable] +
                         ([] if shutil.which("heimdall-gen") else ["-m", "heimdall_gen.cli"]) +
                         ["--dsn", dsn, "watch", str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn.execute("SELECT pg_sleep(1.5)")
    conn.execute("SELECT heimdall_gen.cancel_job(%s)", (job,))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 4, err
    assert f"job {job} pyt_cli_w: cancelled" in out


def test_watch_under_a_roles_own_isolation_and_encoding(dsn, conn):
    # a role's defaults: repeatable read (wait_job needs read committed) and
    # SQL_ASCII (psycopg then returns text as bytes); watch must still follow its job
    conn.execute("CREATE ROLE pyt_rr LOGIN")
    conn.execute("ALTER ROLE pyt_rr SET default_transaction_isolation = 'repeatable read'")
    conn.execute("ALTER ROLE pyt_rr SET client_encoding = 'SQL_ASCII'")
    job = start_job_as(conn, "pyt_rr", "pyt_rr_w", 100000)
    p = subprocess.Popen(cli_command(dsn.replace("user=postgres", "user=pyt_rr"), "watch", str(job)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn.execute("SELECT pg_sleep(1.5)")
    conn.execute("SELECT heimdall_gen.cancel_job(%s)", (job,))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 4, err
    assert f"job {job} pyt_rr_w: cancelled" in out


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_panels(tmp_path, dsn, conn):
    from heimdall_gen import Dataset
    from heimdall_gen.plot import FIG_SIZE_PX, plot_sample
    run_job(conn, "pyt_psk", 3, 8, '{"duration_ms": 40, "rx_count_min": 5, "rx_count_max": 5, "weight_fm": 0, "weight_qpsk": 1}')
    ds = Dataset(dsn, "pyt_psk")
    s = ds[0]
    assert s.labels["modulation"] == "qpsk"
    fig = plot_sample(s, ds.params)
    titles = [a.get_title() for a in fig.axes]
    assert any(t.startswith("map") for t in titles)
    assert any(t.startswith("cross-correlation") for t in titles)
    assert any(t.startswith("constellation") and "QPSK" in t for t in titles)
    assert sum(t.startswith("spectrogram rx") for t in titles) == 5
    assert all(f"SNR {r['snr_db']:.1f} dB" in " ".join(titles) for r in s.receptions)
    # the labelled TDOA lines are drawn: one dashed marker per receiver
    xc = next(a for a in fig.axes if a.get_title().startswith("cross-correlation"))
    assert sum(1 for ln in xc.get_lines() if ln.get_linestyle() == "--") == 5
    # power bars rise from the axis' floor: the strongest receiver has the tallest bar
    pw = next(a for a in fig.axes if a.get_title().startswith("received power"))
    floor = pw.get_ylim()[0]
    tops = [p.get_y() + p.get_height() for p in pw.patches[:5]]
    assert all(abs(p.get_y() - floor) < 1e-9 and p.get_height() > 0 for p in pw.patches)
    assert tops == pytest.approx([r["rx_power_dbm"] for r in s.receptions])
    assert max(range(5), key=lambda k: pw.patches[k].get_height()) == \
        max(range(5), key=lambda k: s.receptions[k]["rx_power_dbm"])
    png = tmp_path / "p.png"
    fig.savefig(png, dpi=100)
    assert png_size(png) == FIG_SIZE_PX == (1600, 1200)


def test_watch_in_a_database_without_a_launcher_says_so_without_sql_advice(dsn, conn):
    # a job restored into a database no launcher serves never ends: watch
    # says so, with or without --timeout, and its hint names the launcher's
    # setting, not the SQL function's timeout argument (a user's review)
    conn.execute("DROP DATABASE IF EXISTS pyt_nolauncher")
    conn.execute("CREATE DATABASE pyt_nolauncher")
    other = dsn.replace("dbname=postgres", "dbname=pyt_nolauncher")
    assert other != dsn
    try:
        with psycopg.connect(other, autocommit=True) as c:
            c.execute("CREATE EXTENSION heimdall_gen")
            # start_job refuses here: the rows as a dump's restore leaves them
            c.execute("INSERT INTO heimdall_gen.datasets (name, owner, seed, params, model_version) "
                      "VALUES ('pyt_nl', current_user::regrole, 1, '{}', heimdall_gen.model_version())")
            job = c.execute("INSERT INTO heimdall_gen.jobs (dataset_id, owner, num_samples, status, start_attempt, "
                            "next_attempt) SELECT dataset_id, owner, 3, 'running', 0, 0 FROM heimdall_gen.datasets "
                            "RETURNING job_id").fetchone()[0]
        r = cli(other, "watch", str(job), "-q", timeout=30)
        assert r.returncode == 1 and "has no heimdall_gen launcher" in r.stderr, r.stderr
        hint = [line for line in r.stderr.splitlines() if line.startswith("HINT: ")]
        assert len(hint) == 1 and "heimdall_gen.database" in hint[0] and "wait_job" not in hint[0], r.stderr
        # with --timeout too: said at once, not reported as running at the timeout (exit 5) as if alive
        r = cli(other, "watch", str(job), "--timeout", "60", "-q", timeout=30)
        assert r.returncode == 1 and "has no heimdall_gen launcher" in r.stderr, r.stderr
    finally:
        conn.execute("DROP DATABASE pyt_nolauncher WITH (FORCE)")


def test_list_datasets_shows_owners_and_no_counts_it_cannot_read(dsn, conn):
    # a member of heimdall_gen_admin sees every dataset, but row-level
    # security hides other roles' samples: their counts were 0 and '-' (a
    # user's review); now '?', with the owner named
    for role in ("pyt_lister", "pyt_admin"):
        conn.execute(f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    conn.execute("GRANT heimdall_gen_admin TO pyt_admin")
    job = start_job_as(conn, "pyt_lister", "pyt_listers", 2)
    assert conn.execute("SELECT heimdall_gen.wait_job(%s, '120 s')", (job,)).fetchone()[0] == "completed"
    n = conn.execute("SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                     "WHERE d.name = 'pyt_listers'").fetchone()[0]

    def row(user):
        r = cli(dsn.replace("user=postgres", f"user={user}"), "list", "--datasets")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0].split() == ["dataset", "seed", "model", "iq", "samples", "created", "owner"]
        lines = [line.split() for line in r.stdout.splitlines() if line.startswith("pyt_listers ")]
        assert len(lines) == 1, r.stdout
        return lines[0], r.stderr
    for user, iq, samples in (("pyt_admin", "?", "?"), ("pyt_lister", "stored", str(n)), ("postgres", "stored", str(n))):
        cols, err = row(user)
        assert (cols[3], cols[4], cols[-1]) == (iq, samples, "pyt_lister"), (user, cols)
        assert ("not yours to read" in err) == (iq == "?"), (user, err)
    # and an admin's export of that dataset says why it gets nothing, rather
    # than that the dataset has no sample (a user's review); so does the client
    r = cli(dsn.replace("user=postgres", "user=pyt_admin"), "export", "pyt_listers", "-o", "/nonexistent/never")
    assert r.returncode == 1, r.stderr
    assert 'dataset "pyt_listers" belongs to role "pyt_lister": row-level security shows' in r.stderr, r.stderr
    from heimdall_gen import Dataset
    with pytest.raises(PermissionError, match="belongs to role \"pyt_lister\""):
        Dataset(dsn.replace("user=postgres", "user=pyt_admin"), "pyt_listers")
    assert len(Dataset(dsn.replace("user=postgres", "user=pyt_lister"), "pyt_listers")) == n


def test_plot_draws_receiver_names_literally(tmp_path, dsn, conn):
    # receiver names are user input (1-31 bytes, any characters): drawn as
    # matplotlib mathtext, '$\foo{$' failed the plot ("Unknown symbol:
    # \foo", exit 1, no PNG) and '$x^{2}$' was drawn as a formula
    import json

    import matplotlib.text
    from heimdall_gen import Dataset
    from heimdall_gen.plot import plot_sample
    names = ["$\\foo{$", "$x^{2}$", "50% & #_ ~{}\\", "plain_Q"]
    fixed = [{"name": n, "lat": lat, "lon": lon}
             for n, (lat, lon) in zip(names, [(44.2, 7.3), (45.8, 7.5), (45.0, 9.8), (44.5, 8.9)])]
    params = json.loads(SMALL)
    params["fixed_receivers"] = fixed
    run_job(conn, "pyt_mathtext", 2, 4, json.dumps(params))
    ds = Dataset(dsn, "pyt_mathtext")
    s = ds[0]
    assert sorted(r["rx_name"] for r in s.receptions) == sorted(names)
    png = tmp_path / "m.png"
    r = cli(dsn, "plot", "pyt_mathtext", str(s.sample_idx), "-o", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every name is in the figure as given, and no text holding one is parsed as mathtext or TeX
    fig = plot_sample(s, ds.params)
    for n in names:
        holding = [t for t in fig.findobj(matplotlib.text.Text) if n in t.get_text()]
        assert len(holding) == 2, (n, [t.get_text() for t in holding])     # the map's label, the spectrogram's title
        assert all(not t.get_parse_math() and not t.get_usetex() for t in holding), n
    fig.savefig(tmp_path / "direct.png", dpi=100)
