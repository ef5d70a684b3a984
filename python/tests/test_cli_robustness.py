"""heimdall-gen where a user's session goes wrong: Ctrl-C during an export or
a watch, a reader that closes the pipe, a database without the extension,
arguments that contradict each other or say nothing to do.  Each command
must say what happened in one line, with its documented exit code, and
leave no export file that looks complete but is not."""
import os
import signal
import subprocess
import time

import psycopg
import psycopg.sql
import pytest

from conftest import SMALL, cli, cli_command, run_job, start_job_as

from heimdall_gen import sigmf as hs


def dataset_exists(conn, name):
    return conn.execute("SELECT EXISTS (SELECT 1 FROM heimdall_gen.datasets WHERE name = %s)", (name,)).fetchone()[0]


def job_status(conn, job):
    return conn.execute("SELECT status FROM heimdall_gen.jobs WHERE job_id = %s", (job,)).fetchone()[0]


def assert_export_is_whole(outdir):
    """Every collection and archive in outdir reads back with every hash
    right, and no temporary file is left."""
    names = os.listdir(outdir)
    assert [n for n in names if n.startswith(".")] == []
    for n in names:
        if n.endswith((".sigmf-collection", ".sigmf")):
            hs.read_export(os.path.join(outdir, n))


def sigint_once_files_appear(cmd, outdir, timeout=60):
    """Runs cmd, sends it SIGINT once outdir holds a file, returns (rc, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not (os.path.isdir(outdir) and os.listdir(outdir)):
        assert p.poll() is None and time.monotonic() < deadline, "the export ended before it wrote a file"
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    return p.returncode, err


@pytest.fixture(scope="module")
def export_400(conn):
    """'pyt_int': 400 stored samples, a couple of seconds to export."""
    run_job(conn, "pyt_int", 400, 11)
    return "pyt_int"


@pytest.mark.parametrize("archive", [False, True], ids=["files", "archive"])
def test_ctrl_c_during_export_is_one_line_exit_130_and_leaves_whole_files(tmp_path, dsn, export_400, archive):
    out = str(tmp_path / "out")
    rc, err = sigint_once_files_appear(cli_command(dsn, "export", export_400, "-o", out, "-q")
                                       + (["--archive"] if archive else []), out)
    assert rc == 130 and err == "heimdall-gen: interrupted\n", err
    assert_export_is_whole(out)
    # interrupted, so not every sample is there
    assert len([n for n in os.listdir(out) if n.endswith(".sigmf" if archive else ".sigmf-collection")]) < 400


# heimdall-gen, sent `signal` by itself just before its `at`-th rename of a
# temporary file into place (deterministic: one of that file's moments of
# being partial); argv: signal, at, then the command's arguments
SIGNAL_AT_A_RENAME = """
import os, signal, sys
from heimdall_gen.cli import main
sig, at = int(sys.argv[1]), int(sys.argv[2])
real, renames = os.replace, []
def replace(src, dst, *args, **kwargs):
    if os.path.basename(str(src)).startswith(".") and str(src).endswith(".tmp"):
        renames.append(src)
        if len(renames) == at:
            os.kill(os.getpid(), sig)
    return real(src, dst, *args, **kwargs)
os.replace = replace
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("command", ["export", "export --archive", "plot"])
def test_sigterm_and_sighup_unwind_as_ctrl_c_does(tmp_path, dsn, conn, stored, sig, command):
    # a review: killed by SIGTERM (or SIGHUP), an export left its partial
    # temporary file (.big-s2-rx0.sigmf-data.642adc18.tmp) in the directory:
    # only SIGINT ran its cleanup
    import sys
    signum = getattr(signal, sig)
    idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                       "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    out = tmp_path / "out"
    if command == "plot":
        args, at = ["plot", stored, str(idx), "-o", str(out / "s.png")], 1
    else:
        # files: at the third file of the sample, so that two of its files are written already
        args, at = command.split() + [stored, str(idx), "-o", str(out)], 1 if "--archive" in command else 3
    r = subprocess.run([sys.executable, "-c", SIGNAL_AT_A_RENAME, str(int(signum)), str(at), "--dsn", dsn] + args,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 128 + signum, (r.returncode, r.stderr)
    assert r.stderr.splitlines()[-1] == ("heimdall-gen: hung up" if sig == "SIGHUP" else "heimdall-gen: terminated")
    assert "Traceback" not in r.stderr, r.stderr
    if command == "export":
        # a signal among a sample's renames waits for the last of them: the
        # sample whole (one in the middle would leave an earlier export's
        # files half replaced), and no temporary file
        assert_export_is_whole(str(out))
        assert [p.name for p in out.iterdir() if p.name.endswith(".sigmf-collection")] == [
            f"{stored}-s{idx}.sigmf-collection"]
    else:
        # no temporary file, and no partial archive or PNG
        assert list(out.iterdir()) == []


def test_export_takes_sample_indices_after_its_options(tmp_path, dsn, conn, stored):
    idx = [r[0] for r in conn.execute("SELECT sample_idx FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                                      "USING (dataset_id) WHERE d.name = %s ORDER BY 1 LIMIT 2", (stored,))]
    out = str(tmp_path / "out")
    r = cli(dsn, "export", stored, str(idx[0]), "-o", out, str(idx[1]))
    assert r.returncode == 0 and r.stdout.split() == [os.path.join(out, f"{stored}-s{i}.sigmf-collection")
                                                      for i in idx], r.stderr
    r = cli(dsn, "export", stored, "-o", out, "99999999999999999999")
    assert r.returncode == 2 and r.stderr.rstrip().split("\n")[-1].startswith(
        "heimdall-gen export: error: argument sample_idx: 99999999999999999999 is out of range"), r.stderr


def test_failed_export_writes_no_collection_before_its_recordings(tmp_path, conn, stored):
    idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                       "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    out = tmp_path / "out"
    out.mkdir()
    # a directory where the second recording's data goes: that file cannot be
    # written, and the sample's first one, written already, is removed (a
    # review: it stayed, with no metadata beside it): a sample appears all or none
    (out / f"{stored}-s{idx}-rx1.sigmf-data").mkdir()
    with pytest.raises(OSError):
        hs.export_sample(conn, stored, idx, str(out))
    assert sorted(p.name for p in out.iterdir()) == [f"{stored}-s{idx}-rx1.sigmf-data"]
    assert_export_is_whole(str(out))


def test_a_sample_that_fails_half_way_leaves_none_of_its_files_but_those_there_before(tmp_path, dsn, conn, stored):
    idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                       "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    out = tmp_path / "out"
    out.mkdir()
    before = out / f"{stored}-s{idx}-rx0.sigmf-data"       # an older export's: replaced, not removed
    before.write_bytes(b"older")
    (out / f"{stored}-s{idx}-rx2.sigmf-data").mkdir()
    r = cli(dsn, "export", stored, str(idx), "-o", str(out))
    assert r.returncode == 1 and r.stdout == "" and r.stderr == (
        f"heimdall-gen: {out}/{stored}-s{idx}-rx2.sigmf-data: Is a directory\n"), r.stderr
    # nothing of this export's is left, and rx0's, there before, stays as it was
    assert sorted(p.name for p in out.iterdir()) == [before.name, f"{stored}-s{idx}-rx2.sigmf-data"]
    assert before.read_bytes() == b"older"


def test_a_re_export_that_fails_leaves_the_earlier_export_as_it_was(tmp_path, conn, monkeypatch):
    # a review: re-exporting over an earlier export replaced its files one by
    # one, so that a full disk at rx4 left rx0-3 new, the rest and the
    # collection old: read_export then found a hash that differs
    import errno
    out = tmp_path / "out"
    four = '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 4}'       # the same files, other bytes
    run_job(conn, "pyt_reexport", 1, 1, four)
    try:
        hs.export_sample(conn, "pyt_reexport", 0, str(out))
        earlier = {p.name: p.read_bytes() for p in out.iterdir()}
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_reexport')")
        run_job(conn, "pyt_reexport", 1, 2, four)       # another seed: every data file differs
        fdopen, opened = os.fdopen, []

        def disk_full_at_the_fourth_file(fd, *args, **kwargs):
            opened.append(fd)
            if len(opened) == 4:
                os.close(fd)
                raise OSError(errno.ENOSPC, "No space left on device")
            return fdopen(fd, *args, **kwargs)
        monkeypatch.setattr(os, "fdopen", disk_full_at_the_fourth_file)
        with pytest.raises(OSError, match="No space left on device"):
            hs.export_sample(conn, "pyt_reexport", 0, str(out))
        monkeypatch.setattr(os, "fdopen", fdopen)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier     # no temporary either
        assert_export_is_whole(str(out))
        hs.export_sample(conn, "pyt_reexport", 0, str(out))
        again = {p.name: p.read_bytes() for p in out.iterdir()}
        assert again.keys() == earlier.keys() and all(again[n] != earlier[n] for n in earlier
                                                       if n.endswith(".sigmf-data"))
        assert_export_is_whole(str(out))
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset(name) FROM heimdall_gen.datasets WHERE name = 'pyt_reexport'")


def test_interrupted_archive_leaves_no_truncated_archive(tmp_path, conn, stored, monkeypatch):
    import tarfile
    idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                       "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    addfile, added = tarfile.TarFile.addfile, []

    def ctrl_c_at_the_third_member(tar, info, fileobj=None):
        if len(added) == 2:
            raise KeyboardInterrupt
        added.append(info.name)
        return addfile(tar, info, fileobj)
    monkeypatch.setattr(tarfile.TarFile, "addfile", ctrl_c_at_the_third_member)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        hs.export_sample(conn, stored, idx, str(out), archive=True)
    assert list(out.iterdir()) == []


def ctrl_c_once_watching(cmd, sig=signal.SIGINT):
    """Runs cmd (it watches a job), sends SIGINT (or sig) once its progress bar shows;
    returns (rc, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.read(p.stderr.fileno(), 1)       # the progress bar's first byte: watching has begun
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    return p.returncode, out.decode(), err.decode()


def test_ctrl_c_while_the_command_starts_is_one_line(dsn, conn):
    # Ctrl-C while heimdall-gen is still importing psycopg (libpq mapped, the
    # import not done): one line and 130, as later, not a traceback
    job = conn.execute("SELECT heimdall_gen.start_job('pyt_cli_start_int', 100000, 1, %s::jsonb)",
                       (SMALL,)).fetchone()[0]
    try:
        for _ in range(3):
            p = subprocess.Popen(cli_command(dsn, "watch", str(job)), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with open(f"/proc/{p.pid}/maps") as maps:
                    if "libpq" in maps.read():
                        break
                time.sleep(0.0002)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
            assert p.returncode == 130 and "Traceback" not in err, err
            assert err.replace("\r", "\n").strip().splitlines()[-1].startswith("heimdall-gen: interrupted"), err
    finally:
        conn.execute("SELECT heimdall_gen.cancel_job(%s, true)", (job,))


def test_ctrl_c_during_watch_says_the_job_keeps_running(dsn, conn):
    # start --watch, then watch: both stop watching on Ctrl-C, not the job, and say how to cancel it
    rc, out, err = ctrl_c_once_watching(cli_command(dsn, "start", "pyt_cli_int", "100000", "--params", SMALL,
                                                    "--watch"))
    job = int(out.split()[0])
    try:
        for rc, out, err in ((rc, out, err), ctrl_c_once_watching(cli_command(dsn, "watch", str(job)))):
            assert rc == 130 and "Traceback" not in err, err
            last = err.replace("\r", "\n").strip().splitlines()[-1]
            assert last == (f"heimdall-gen: interrupted; job {job} keeps running (heimdall-gen watch {job} "
                            f"to watch it again, heimdall-gen cancel {job} to cancel it)"), err
            assert job_status(conn, job) in ("queued", "running")
    finally:
        conn.execute("SELECT heimdall_gen.cancel_job(%s, true)", (job,))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_during_watch_ends_the_bar_line_and_says_the_job_keeps_running(dsn, conn, sig):
    # a review: 'heimdall-gen: terminated' was written onto the bar's line,
    # and said nothing of the job, which goes on as after Ctrl-C
    signum = getattr(signal, sig)
    job = conn.execute("SELECT heimdall_gen.start_job('pyt_cli_term', 100000, 1, %s::jsonb)", (SMALL,)).fetchone()[0]
    try:
        rc, out, err = ctrl_c_once_watching(cli_command(dsn, "watch", str(job)), signum)
        assert rc == 128 + signum and "Traceback" not in err, err
        said = "hung up" if sig == "SIGHUP" else "terminated"
        assert err.endswith(f"\nheimdall-gen: {said}; job {job} keeps running (heimdall-gen watch {job} "
                            f"to watch it again, heimdall-gen cancel {job} to cancel it)\n"), err
        assert job_status(conn, job) in ("queued", "running")
    finally:
        conn.execute("SELECT heimdall_gen.cancel_job(%s, true)", (job,))


def test_export_refuses_indices_with_split(tmp_path, dsn, stored):
    # indices before or after --split (after: 'unrecognized arguments: 3', a user's review)
    for args in (("0", "--split", "val"), ("--split", "test", "3"), ("--split", "test", "-o", str(tmp_path / "out"), "3")):
        r = cli(dsn, "export", stored, *args, "-o", str(tmp_path / "out"))
        assert r.returncode == 2 and r.stderr == "heimdall-gen: export takes sample indices or --split, not both\n", \
            (args, r.stderr)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="a split or sample_indices, not both"):
        hs.export_dataset(dsn, stored, str(tmp_path / "out"), split="val", sample_indices=[0])


def test_output_paths_that_cannot_be_written_are_named_as_given(tmp_path, dsn, stored):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    r = cli(dsn, "export", stored, "0", "-o", str(a_file))
    assert r.returncode == 2 and "is a file: export writes into a directory" in r.stderr, r.stderr
    assert a_file.read_text() == "mine"
    import heimdall_gen as hg
    idx = str(int(hg.Dataset(dsn, stored).sample_indices[0]))
    # a missing directory is made by plot as by export (it was an error with errno for plot)
    missing = tmp_path / "no_such_dir" / "deeper" / "x.png"
    r = cli(dsn, "plot", stored, idx, "-o", str(missing))
    assert r.returncode == 0 and r.stdout == f"{missing}\n" and missing.read_bytes()[:4] == b"\x89PNG", r.stderr
    r = cli(dsn, "export", stored, idx, "-o", str(tmp_path / "made" / "for_export"))
    assert r.returncode == 0 and (tmp_path / "made" / "for_export").is_dir(), r.stderr
    # an outside review: a directory given to plot failed at the final rename,
    # naming the hidden temporary file ('[Errno 21] Is a directory:
    # .../.out.4969d253.tmp -> .../out'); now usage errors naming -o as given
    a_dir = tmp_path / "a_dir"
    a_dir.mkdir()
    for given in (str(a_dir), str(a_dir) + "/", str(tmp_path / "not_yet") + "/"):
        r = cli(dsn, "plot", stored, idx, "-o", given)
        assert r.returncode == 2 and r.stderr == f"heimdall-gen: -o {given} is a directory: plot writes one PNG " \
            "file (give its name)\n", r.stderr
    r = cli(dsn, "plot", stored, idx, "-o", "")
    assert r.returncode == 2 and r.stderr == "heimdall-gen: -o '' names no file: plot writes one PNG file\n", r.stderr
    r = cli(dsn, "export", stored, idx, "-o", "")
    assert r.returncode == 2 and "-o '' names no directory" in r.stderr, r.stderr
    r = cli(dsn, "plot", stored, idx, "-o", str(a_file / "x.png"))
    assert r.returncode == 2 and r.stderr == f"heimdall-gen: -o {a_file}/x.png: {a_file} is a file, not a " \
        "directory\n", r.stderr
    # deeper, where makedirs finds it: the path and the system's reason, no errno, no temporary name
    r = cli(dsn, "plot", stored, idx, "-o", str(a_file / "sub" / "x.png"))
    assert r.returncode == 1 and r.stderr == f"heimdall-gen: {a_file}/sub: Not a directory\n", r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_dir", "a_file", "made", "no_such_dir"]
    assert list(a_dir.iterdir()) == [] and a_file.read_text() == "mine"


def test_a_rename_that_fails_names_the_path_not_the_temporary(tmp_path):
    """_write_whole's rename onto a directory named its hidden temporary
    file too; the caller's path alone now."""
    import errno
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(OSError) as caught:
        hs._write_whole(str(target), lambda f: f.write(b"png"))
    assert caught.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
    assert caught.value.filename == str(target) and caught.value.filename2 is None
    assert os.listdir(tmp_path) == ["out"]


def test_unknown_arguments_get_the_commands_usage(tmp_path, dsn, stored):
    for args, command in ((("list", "--bogus"), "list"),
                          (("export", stored, "--split", "train", "--bogus", "-o", str(tmp_path / "out")), "export")):
        r = cli(dsn, *args)
        assert r.returncode == 2 and r.stderr.startswith(f"usage: heimdall-gen {command} "), r.stderr
        assert r.stderr.rstrip().split("\n")[-1].startswith(f"heimdall-gen {command}: error: unrecognized arguments:"), \
            r.stderr
    assert not (tmp_path / "out").exists()


def test_export_of_no_sample_says_so_and_exits_6(tmp_path, dsn, conn):
    # a dataset whose only job was cancelled before it wrote a sample
    with conn.transaction():
        job = conn.execute("SELECT heimdall_gen.start_job('pyt_empty', 5, 1, %s::jsonb)", (SMALL,)).fetchone()[0]
        conn.execute("SELECT heimdall_gen.cancel_job(%s)", (job,))
    # and one whose samples are all in train
    run_job(conn, "pyt_train_only", 3, 1, SMALL[:-1] + ', "split_ratios": [1, 0, 0]}')
    out = tmp_path / "out"
    for args, said in ((("pyt_empty",), 'dataset "pyt_empty" has no sample: nothing exported'),
                       (("pyt_train_only", "--split", "val"),
                        'dataset "pyt_train_only" has no sample in split val: nothing exported')):
        for quiet in ((), ("-q",)):
            r = cli(dsn, "export", *args, "-o", str(out), *quiet)
            assert r.returncode == 6 and r.stderr == f"heimdall-gen: {said}\n" and r.stdout == "", r.stderr
            assert not out.exists()


def test_export_of_indices_checks_them_all_before_writing(tmp_path, dsn, conn, stored):
    # a review: `export st 0 3 13` without a sample 3 wrote s0, then exited 1, and never exported 13
    have = [r[0] for r in conn.execute("SELECT sample_idx FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                                       "USING (dataset_id) WHERE d.name = %s ORDER BY 1", (stored,))]
    absent = [i for i in range(max(have) + 3) if i not in have][:2]
    if len(absent) < 2:
        absent = [max(have) + 1, max(have) + 2]
    out = tmp_path / "out"
    for archive in ((), ("--archive",)):
        r = cli(dsn, "export", stored, str(have[0]), str(absent[1]), str(have[1]), str(absent[0]), "-o", str(out),
                *archive)
        assert r.returncode == 1 and r.stdout == "" and r.stderr == (
            f'heimdall-gen: dataset "{stored}" has no sample with sample_idx {absent[0]}, {absent[1]}: '
            "nothing exported\n"), r.stderr
        assert not out.exists()
    with pytest.raises(KeyError, match=f"no sample with sample_idx {absent[0]}: nothing exported"):
        hs.export_dataset(conn, stored, str(out), sample_indices=[have[0], absent[0]])
    assert not out.exists()


def test_params_that_are_not_json_are_refused_before_a_job(dsn, conn):
    for params, said in (("{bad", "--params is not valid JSON: Expecting property name enclosed in double quotes"),
                         ('{"duration_ms": NaN}', "--params is not valid JSON: NaN is not a JSON value"),
                         ("[1, 2]", "--params must be a JSON object")):
        r = cli(dsn, "start", "pyt_badparams", "3", "--params", params)
        assert r.returncode == 2 and r.stderr.startswith(f"heimdall-gen: {said}"), r.stderr
        assert "$4" not in r.stderr
    assert not dataset_exists(conn, "pyt_badparams")


def test_server_errors_say_message_detail_and_hint_without_internal_context(dsn, conn):
    run_job(conn, "pyt_context", 2, seed=5)
    r = cli(dsn, "start", "pyt_context", "2", "--seed", "6")
    assert r.returncode == 1, r.stderr
    assert r.stderr == ('heimdall-gen: dataset "pyt_context" exists with seed 5, not 6 [22023]\n'
                        "HINT: Omit the seed to extend the dataset, or choose another dataset name.\n"), r.stderr


def test_a_server_that_cannot_be_reached_is_named(tmp_path):
    r = cli(f"host={tmp_path}/nosock port=5999 user=postgres dbname=postgres", "list")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"heimdall-gen: could not connect (dbname=postgres host={tmp_path}/nosock port=5999): "), \
        r.stderr


def test_start_refuses_timeout_without_watch(dsn, conn):
    r = cli(dsn, "start", "pyt_timeout", "3", "--timeout", "5")
    assert r.returncode == 2 and "--timeout needs --watch" in r.stderr
    assert not dataset_exists(conn, "pyt_timeout")


def test_database_without_the_extension_is_named(dsn, conn):
    conn.execute("DROP DATABASE IF EXISTS pyt_noext")
    conn.execute("CREATE DATABASE pyt_noext")
    try:
        other = dsn.replace("dbname=postgres", "dbname=pyt_noext")
        assert other != dsn
        for args in (("list",), ("list", "--datasets"), ("start", "x", "3"), ("watch", "1"), ("pause", "1"),
                     ("resume", "1"), ("cancel", "1"), ("export", "x", "-o", "/nonexistent/out"),
                     ("plot", "x", "0", "-o", "/nonexistent/x.png")):
            r = cli(other, *args)
            assert r.returncode == 1, (args, r.stderr)
            assert r.stderr == ('heimdall-gen: the extension heimdall_gen is not installed in database "pyt_noext" '
                                "(CREATE EXTENSION heimdall_gen installs it; or give the --dsn of the database "
                                "that has it)\n"), (args, r.stderr)
    finally:
        conn.execute("DROP DATABASE pyt_noext")


def test_closed_stdout_is_a_quiet_exit(dsn, stored):
    # as `heimdall-gen list --datasets | head -1` once head has exited
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        for args in (("list", "--datasets"), ("list",)):
            r = subprocess.run(cli_command(dsn, *args), stdout=write_end, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            assert r.returncode == 141 and r.stderr == "", (args, r.returncode, r.stderr)
    finally:
        os.close(write_end)


BIGINT = "a bigint, -9223372036854775808 to 9223372036854775807"


@pytest.mark.parametrize("args, option, said", [
    (("start", "pyt_big", "5", "--seed", "99999999999999999999"), "--seed", BIGINT),
    (("start", "pyt_big", "5", "--seed", "-9223372036854775809"), "--seed", BIGINT),
    (("start", "pyt_big", "99999999999999999999"), "num_samples", "between 1 and 10000000"),
    (("start", "pyt_big", "3", "--watch", "--timeout", "nan"), "--timeout", "(0 or more)"),
    (("watch", "1", "99999999999999999999"), "JOB_ID", BIGINT),
    (("watch", "1", "--timeout", "-1"), "--timeout", "(0 or more)"),
    (("pause", "9223372036854775808"), "job_id", BIGINT),
    (("resume", "9223372036854775808"), "job_id", BIGINT),
    (("cancel", "--wait", "9223372036854775808"), "job_id", BIGINT),
    (("export", "pyt_big", "1", "99999999999999999999", "-o", "OUT"), "sample_idx", BIGINT),
    (("plot", "pyt_big", "99999999999999999999", "-o", "OUT.png"), "sample_idx", BIGINT),
], ids=["seed", "negative-seed", "num_samples", "start-timeout", "watch-job", "watch-timeout", "pause", "resume",
        "cancel", "export-idx", "plot-idx"])
def test_integers_out_of_their_sql_range_are_usage_errors(tmp_path, dsn, conn, args, option, said):
    # as --seed abc: argparse's error naming the argument, exit 2, nothing
    # sent to the server (which said 'function start_job(unknown, smallint,
    # numeric, jsonb) does not exist', exit 1)
    out = str(tmp_path / "out")
    r = cli(dsn, *(a.replace("OUT", out) for a in args))
    last = r.stderr.rstrip().split("\n")[-1]
    assert r.returncode == 2 and last.startswith(f"heimdall-gen {args[0]}: error: argument {option}") \
        and said in last, r.stderr
    assert not dataset_exists(conn, "pyt_big") and not os.path.exists(out) and not os.path.exists(out + ".png")


def test_integers_at_the_ends_of_their_sql_range_are_taken(tmp_path, dsn, conn):
    r = cli(dsn, "start", "pyt_seed_max", "1", "--seed", "9223372036854775807", "--params", SMALL, "--watch", "-q")
    assert r.returncode == 0, r.stderr
    assert conn.execute("SELECT seed FROM heimdall_gen.datasets WHERE name = 'pyt_seed_max'").fetchone()[0] == 2**63 - 1
    for args in (("watch", "9223372036854775807"), ("pause", "-9223372036854775808")):
        r = cli(dsn, *args)
        assert r.returncode == 1 and "does not exist" in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("archive", [False, True], ids=["files", "archive"])
def test_export_stops_at_a_reader_that_closed_after_one_line(tmp_path, dsn, conn, export_400, archive):
    # as `heimdall-gen export DS -o DIR | head -1`: each file's line is printed
    # once it is written, so the closed pipe stops the export at the next
    # sample, not after every file was written (a user's review)
    out = str(tmp_path / "out")
    p = subprocess.Popen(cli_command(dsn, "export", export_400, "-o", out) + (["--archive"] if archive else []),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert first.decode().startswith(os.path.join(out, export_400 + "-s")), first
    assert p.returncode == 141 and "Traceback" not in err and "heimdall-gen:" not in err, (p.returncode, err)
    assert_export_is_whole(out)
    written = [n for n in os.listdir(out) if n.endswith(".sigmf" if archive else ".sigmf-collection")]
    samples = conn.execute("SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                           "USING (dataset_id) WHERE d.name = %s", (export_400,)).fetchone()[0]
    assert 1 <= len(written) < samples


def test_start_watch_of_a_short_job_hears_its_end(dsn, conn):
    # The end of a job that completed while watch ran a query of its own (the
    # state read, the probe of whether the job can end) was read by psycopg
    # and dropped: watch then waited a silent minute before it re-read the
    # state (9 of 15 runs of a one-sample job).  Each run here must end well
    # before that minute.
    for k in range(6):
        try:
            r = cli(dsn, "start", f"pyt_short_{os.getpid()}_{k}", "1", "--params", SMALL, "--watch", "-q", timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {k}: start --watch of a one-sample job was still watching after 30 s")
        assert r.returncode == 0, r.stderr
        assert ": completed 1/1" in r.stdout, r.stdout


def test_watch_of_a_job_named_twice_watches_it_once(dsn, conn):
    job = run_job(conn, f"pyt_twice_{os.getpid()}", 1)
    r = cli(dsn, "watch", str(job), str(job), "-q", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"job {job} pyt_twice_{os.getpid()}: completed 1/1 (1 sample in 1 attempt)"] \
        or (len(r.stdout.splitlines()) == 1 and ": completed 1/1 (1 sample in " in r.stdout), r.stdout


def test_list_prints_a_role_names_control_characters_escaped(conn, dsn):
    """A role's name may hold a terminal's escape sequences (a role with
    CREATEROLE can make one): heimdall-gen prints server text with control
    characters escaped, never raw (an attacker's review: raw, they set an
    admin's window title and cleared the screen)."""
    role = "ev\x1b]0;PWNED\x07\x1b[2J"
    ident = psycopg.sql.Identifier(role)
    conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    try:
        job = start_job_as(conn, role, "pyt_escape", 1)
        assert conn.execute("SELECT heimdall_gen.wait_job(%s, '120 s')", (job,)).fetchone()[0] == "completed"
        r = cli(dsn, "list", "--datasets")
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout
        line = next(row for row in r.stdout.splitlines() if row.startswith("pyt_escape"))
        assert line.endswith('"ev\\x1b]0;PWNED\\x07\\x1b[2J"'), line  # a regrole's text, quoted
    finally:
        conn.execute(psycopg.sql.SQL("SET ROLE {}").format(ident))
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_escape')")
        conn.execute("RESET ROLE")
        conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(ident))


def test_a_sighup_ignored_by_whoever_started_the_command_stays_ignored(tmp_path, dsn, conn, stored):
    # nohup heimdall-gen export ...: the hang-up neither stops nor unwinds it
    import sys
    idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                       "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", SIGNAL_AT_A_RENAME, str(int(signal.SIGHUP)), "1", "--dsn", dsn,
                        "export", stored, str(idx), "-o", str(out)], capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert r.returncode == 0 and r.stdout == f"{out}/{stored}-s{idx}.sigmf-collection\n", r.stderr
    assert_export_is_whole(str(out))


def test_main_runs_in_a_thread_other_than_the_main_one(dsn, conn, capsys):
    # a review: main() from a worker thread failed with ValueError ('signal
    # only works in main thread'), setting its SIGTERM handler; it runs there
    # without one, as it did before
    import threading
    from heimdall_gen.cli import main
    result = []
    t = threading.Thread(target=lambda: result.append(main(["--dsn", dsn, "list"])))
    t.start()
    t.join(120)
    assert result == [0], capsys.readouterr().err


IMPORTED_FIRST_IN_A_THREAD = r"""
import signal, sys, threading
mine = lambda signum, frame: None
signal.signal(signal.SIGINT, mine)
result = []
def run():
    from heimdall_gen.cli import main       # the first import of the module, here
    result.append(main(sys.argv[1:]))
t = threading.Thread(target=run)
t.start()
t.join(120)
print(result, signal.getsignal(signal.SIGINT) is mine, flush=True)
"""


def test_the_module_imported_first_in_another_thread(dsn, conn):
    # a review: importing heimdall_gen.cli first from a thread other than the
    # main one failed with ValueError (its SIGINT handler, set at import);
    # it now sets none there, and the program's own handler stays
    import sys
    r = subprocess.run([sys.executable, "-c", IMPORTED_FIRST_IN_A_THREAD, "--dsn", dsn, "list"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "[0] True", (r.stdout, r.stderr)


MAIN_THEN_SIGTERM = r"""
import os, signal, sys
from heimdall_gen import cli
real = cli._parse
def parse(argv):
    if os.environ.get("TERM_IN_MAIN"):
        os.kill(os.getpid(), signal.SIGTERM)        # unwinds main(): exit code 143
    return real(argv)
cli._parse = parse
code = cli.main(sys.argv[1:])
print(code, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, signal.getsignal(signal.SIGHUP) is signal.SIG_DFL,
      flush=True)
os.kill(os.getpid(), signal.SIGTERM)
print("still alive", flush=True)
"""


@pytest.mark.parametrize("term_in_main", [False, True])
def test_main_puts_back_the_sigterm_handling_it_found(dsn, conn, term_in_main):
    # a review: a program that called main() kept its handlers after it
    # returned: a later SIGTERM raised Terminated in that program, and after
    # one SIGTERM seen by main(), the next was ignored.  The default is back,
    # and kills the process.
    import sys
    env = dict(os.environ, TERM_IN_MAIN="1" if term_in_main else "")
    r = subprocess.run([sys.executable, "-c", MAIN_THEN_SIGTERM, "--dsn", dsn, "list"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == -signal.SIGTERM, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.splitlines()[-1] == f"{143 if term_in_main else 0} True True", r.stdout


SIGTERM_IN_A_BAR = r"""
import os, signal, sys
from heimdall_gen import _progress, cli
real = _progress._Bar.__init__
def init(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)        # while tqdm() makes the bar
    real(self, *args, **kwargs)
_progress._Bar.__init__ = init
replaced = cli._unwind_on_termination()
try:
    _progress.progress_bar(total=3, file=sys.stderr)
except cli.Terminated:
    print("Terminated", flush=True)
"""


def test_a_sigterm_while_a_bar_is_made_leaves_no_half_made_bar():
    # SIGTERM in tqdm() left a bar without the attributes its __del__ reads:
    # 'Exception ignored in tqdm.__del__' and a traceback at exit (seen as
    # the watch test above failed once in three); deferred as SIGINT is
    import sys
    r = subprocess.run([sys.executable, "-c", SIGTERM_IN_A_BAR], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "Terminated\n", (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert r.stderr.endswith("\n"), r.stderr        # the bar's line ended


INTERRUPTED_AS_A_BAR_IS_HANDED_OVER = r"""
import sys
from heimdall_gen import _progress, cli
real = _progress.progress_bar
def handed_over(**kwargs):
    bar = real(**kwargs)            # made, drawn, and not yet the caller's (the traceback
    raise KeyboardInterrupt         # keeps it): a Ctrl-C just as progress_bar() returns
_progress.progress_bar = handed_over
sys.exit(cli.main(sys.argv[1:]))
"""


def test_ctrl_c_as_a_bar_is_handed_over_still_ends_with_the_message(dsn, conn):
    # CI once saw the bar drawn again after the message: a Ctrl-C between the
    # bar's making and the caller holding it left a bar no one closed until
    # it was collected, after the message was printed
    import sys
    job = conn.execute("SELECT heimdall_gen.start_job('pyt_cli_handed_over', 100000, 1, %s::jsonb)",
                       (SMALL,)).fetchone()[0]
    try:
        r = subprocess.run([sys.executable, "-c", INTERRUPTED_AS_A_BAR_IS_HANDED_OVER, "--dsn", dsn, "watch",
                            str(job)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
        last = r.stderr.replace("\r", "\n").strip().splitlines()[-1]
        assert last == (f"heimdall-gen: interrupted; job {job} keeps running (heimdall-gen watch {job} "
                        f"to watch it again, heimdall-gen cancel {job} to cancel it)"), r.stderr
    finally:
        conn.execute("SELECT heimdall_gen.cancel_job(%s, true)", (job,))
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_cli_handed_over')")


def test_a_sigterm_among_the_renames_of_a_re_export_leaves_no_mix(tmp_path, dsn, conn):
    # once the renames of a sample's files begin, a signal waits for the last:
    # in their middle it left an earlier export's files half replaced
    import sys
    out = tmp_path / "out"
    four = '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 4}'
    run_job(conn, "pyt_reexport_term", 1, 1, four)
    try:
        hs.export_sample(conn, "pyt_reexport_term", 0, str(out))
        earlier = {p.name: p.read_bytes() for p in out.iterdir()}
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_reexport_term')")
        run_job(conn, "pyt_reexport_term", 1, 2, four)
        r = subprocess.run([sys.executable, "-c", SIGNAL_AT_A_RENAME, str(int(signal.SIGTERM)), "3", "--dsn", dsn,
                            "export", "pyt_reexport_term", "-q", "-o", str(out)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 143 and r.stderr == "heimdall-gen: terminated\n", r.stderr
        assert_export_is_whole(str(out))
        now = {p.name: p.read_bytes() for p in out.iterdir()}
        assert now.keys() == earlier.keys() and all(now[n] != earlier[n] for n in now if n.endswith(".sigmf-data"))
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset(name) FROM heimdall_gen.datasets "
                     "WHERE name = 'pyt_reexport_term'")
