"""heimdall-gen: start, watch, pause, resume, cancel and list jobs; export and plot samples.

Connection: --dsn, else $HEIMDALL_GEN_DSN, else libpq's PG* environment.

Exit codes (for scripts):
    0  done (watch: every job completed)
    1  error (the server refused, a connection failed, a dataset or job unknown)
    2  usage error
    3  watch: a job failed
    4  watch: a job was cancelled
    5  watch: timed out, or a job is paused
    6  nothing to do: pause / resume / cancel of a job already in a final state;
       export of a dataset (or split) with no sample
  130  interrupted (Ctrl-C); a watched job keeps running
  143  terminated (SIGTERM), 129 hung up (SIGHUP): as Ctrl-C, no partial file is left
  141  standard output closed early (e.g. | head): quiet, as a tool killed by SIGPIPE
"""
from __future__ import annotations

import os
import signal
import threading


def _interrupted_while_starting(signum, frame):
    # Ctrl-C while the modules load (psycopg and libpq: a sixth of a second):
    # the same one line as later, not a traceback from inside an import
    os.write(2, b"heimdall-gen: interrupted\n")
    os._exit(128 + signal.SIGINT)


# Python lets only the main thread set a handler: a program importing this
# module first from another thread got ValueError (a review); there the
# import sets none and the program keeps its own.
_in_main_thread = threading.current_thread() is threading.main_thread()
_sigint_handler = signal.signal(signal.SIGINT, _interrupted_while_starting) if _in_main_thread else None

import argparse  # noqa: E402 (after the handler above)
import json  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import closing  # noqa: E402
from typing import Optional  # noqa: E402

import psycopg  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

from ._connection import ConnectionFailed, ExtensionNotInstalled, connect, require_extension  # noqa: E402

_sigint_seen = False


def _interrupt(signum, frame):
    # Python's own KeyboardInterrupt, remembered: an import it lands in may
    # turn it into an ImportError (numpy does), which main() then tells apart
    global _sigint_seen
    _sigint_seen = True
    raise KeyboardInterrupt


# (a SIGINT ignored by whoever started us stays ignored)
if _in_main_thread:
    signal.signal(signal.SIGINT, _interrupt if _sigint_handler is signal.default_int_handler else _sigint_handler)


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the command is: a BaseException, as
    KeyboardInterrupt is, so that it unwinds through what cleans up (the
    temporary files of sigmf._write_temporary, a sample's files written so
    far) and is caught only by main() (and cmd_watch, to say which jobs go
    on).  Their default action killed the process on the spot, leaving a
    partial temporary file in an export's directory (a review)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_terminating: Optional[int] = None


def _terminate(signum, frame):
    global _terminating
    if _terminating is not None:
        return          # a second one (SIGHUP then SIGTERM) would cut the cleanup the first one started
    _terminating = signum
    raise Terminated(signum)


def _unwind_on_termination() -> dict:
    """SIGTERM and SIGHUP raise Terminated from now on: where they exist (no
    SIGHUP on Windows), and only if they would have killed us, so that one
    ignored by whoever started us (nohup) stays ignored.  Called by main(),
    not at import: a program importing this module keeps its own handling.
    Only in the main thread, the only one where Python lets a handler be set
    (main() called from another thread failed with ValueError, a review):
    elsewhere main() runs without them, as it did before.  Returns the
    handlers replaced, for _restore_termination()."""
    replaced = {}
    if threading.current_thread() is not threading.main_thread():
        return replaced
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, _terminate)
    return replaced


def _restore_termination(replaced: dict) -> None:
    """Puts back what _unwind_on_termination() replaced, and forgets a
    signal seen: a program that called main() as a function kept our
    handlers after it returned, so that a later SIGTERM raised Terminated
    in that program, and once one had, the next was ignored (a review).
    Nothing replaced (another thread, nohup): nothing of ours to forget."""
    global _terminating
    if not replaced:
        return
    for signum, handler in replaced.items():
        signal.signal(signum, handler)
    _terminating = None

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_CANCELLED, EXIT_TIMEOUT, EXIT_NOOP = range(7)
# what a shell reports for a process killed by these signals (128 + signal number)
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
FINAL = ("completed", "failed", "cancelled")


def _conn(args) -> psycopg.Connection:
    """A connection to a database where heimdall_gen is installed: checked
    first, so that every command says so, rather than 'relation
    heimdall_gen.jobs does not exist' or 'schema heimdall_gen does not exist'.
    In autocommit: used as closing(_conn(args)), since psycopg's own context
    would roll back on an exception, and a connection that Ctrl-C stopped in
    the middle of a query cannot: a warning under the one-line message.
    The client's connect() and require_extension() say what went wrong
    (ConnectionFailed, ExtensionNotInstalled), for the library as here."""
    conn = connect(args.dsn or "")
    try:
        require_extension(conn, way_out="give the --dsn of the database that has it")
    except BaseException:
        conn.close()
        raise
    return conn


# control characters (C0 but newline and tab, DEL, C1) as escapes: names and
# messages come from the server, and a role's name may hold a terminal's
# escape sequences, which printed raw set an admin's window title, cleared
# the screen or forged lines (an attacker's review)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text) -> str:
    """str(text) with its control characters (but newline and tab) shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _usage_error(message: str) -> int:
    print(f"heimdall-gen: {message}", file=sys.stderr)
    return EXIT_USAGE


# the ranges of the SQL functions' parameters: a value outside them is refused
# by argparse, naming the option (a user's review: --seed 99999999999999999999
# went to the server as numeric, which found no start_job(..., numeric, ...)
# and said so as a server error with exit 1, where --seed abc is a usage error)
INT32 = ("integer", -2**31, 2**31 - 1)
INT64 = ("bigint", -2**63, 2**63 - 1)


def _integer(sql_type, low=None, high=None):
    """An argparse type: an integer within [low, high], by default the range
    of sql_type (INT32 or INT64), the type of the SQL parameter it is passed
    as.  Not an integer: argparse's own 'invalid int value', as before."""
    name, type_low, type_high = sql_type
    low = type_low if low is None else low
    high = type_high if high is None else high

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            within = (f"a {name}, {low} to {high}" if (low, high) == (type_low, type_high)
                      else f"between {low} and {high}")
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {within}")
        return value
    return parse


def _seconds(text: str) -> float:
    """An argparse type for --timeout: seconds, 0 or more (NaN would never
    time out, a negative number would have stopped at once)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not value >= 0:          # also NaN
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds (0 or more)")
    return value


def _not_json_constant(name: str):
    # Python's json reads NaN and Infinity; PostgreSQL's jsonb does not
    raise ValueError(f"{name} is not a JSON value")


def _params_error(text: str) -> Optional[str]:
    """What is wrong with --params, or None: checked here, before any job is
    queued, because the server's error names only its query parameter $4."""
    try:
        value = json.loads(text, parse_constant=_not_json_constant)
    except ValueError as e:
        return f"--params is not valid JSON: {e}"
    if not isinstance(value, dict):
        return f"--params must be a JSON object ({{\"name\": value, ...}}), not {text.strip()[:40]}"
    return None


def cmd_start(args) -> int:
    if args.timeout is not None and not args.watch:
        # without --watch nothing waits, so there is nothing to time out
        return _usage_error("--timeout needs --watch (it limits how long the job is watched)")
    problem = _params_error(args.params)
    if problem:
        return _usage_error(problem)
    with closing(_conn(args)) as conn:
        # typed: psycopg passes a Python int as smallint, integer, bigint or
        # numeric by its value, and the function is looked up by those types
        job = conn.execute("SELECT heimdall_gen.start_job(%s::text, %s::integer, %s::bigint, %s::jsonb)",
                           (args.dataset, args.num_samples, args.seed, args.params)).fetchone()[0]
        print(job)
        sys.stdout.flush()
    if args.watch:
        args.job_ids = [job]
        return cmd_watch(args)
    return EXIT_OK


def _job_rows(conn, ids):
    return {r[0]: r for r in conn.execute(
        "SELECT job_id, dataset, status, samples_done, num_samples, message, error "
        "FROM heimdall_gen.job_progress WHERE job_id = ANY(%s::bigint[])", (list(ids),))}


def cmd_watch(args) -> int:
    """Progress bars fed by the role's NOTIFY channel: LISTEN first, then read
    the current state once, then only events (no polling; a silent minute
    re-reads the state in case a worker died without a word)."""
    bars, status = {}, {}
    try:
        return _watch(args, bars, status)
    except (KeyboardInterrupt, Terminated) as e:
        # SIGTERM and SIGHUP as Ctrl-C: their message went onto the bar's line,
        # with no word of the job going on (a review)
        what, code = ("interrupted", EXIT_INTERRUPTED) if isinstance(e, KeyboardInterrupt) else \
            (_signal_said(e.signum), 128 + e.signum)
        try:
            # ends the bars' lines before the message; none exist unless _watch
            # got as far as importing their module (tqdm is imported lazily)
            progress = sys.modules.get(f"{__package__}._progress")
            if progress is not None:
                progress.close_all_bars()
            # Ctrl-C stops the watching, not the jobs: say which go on and how to
            # stop them (of those read: an interrupt before that names none)
            going_on = [j for j, st in status.items() if st not in FINAL]
            if not going_on:
                print(f"heimdall-gen: {what}", file=sys.stderr)
            elif len(going_on) == 1:
                j = going_on[0]
                print(f"heimdall-gen: {what}; job {j} keeps running "
                      f"(heimdall-gen watch {j} to watch it again, heimdall-gen cancel {j} to cancel it)",
                      file=sys.stderr)
            else:
                ids = " ".join(map(str, going_on))
                print(f"heimdall-gen: {what}; jobs {ids} keep running "
                      f"(heimdall-gen watch {ids} to watch them again, heimdall-gen cancel JOB to cancel one)",
                      file=sys.stderr)
        except (OSError, ValueError):
            pass        # a terminal hung up (SIGHUP) takes no more output: the exit code says it
        return code


def _watch(args, bars, status) -> int:
    """cmd_watch's loop; bars and status (job id -> last known status) are
    filled in for cmd_watch's message if it is interrupted."""
    from ._progress import progress_bar
    # a job named twice is watched once (a user's review: two bars, two final lines)
    args.job_ids = list(dict.fromkeys(args.job_ids))
    conn = _conn(args)
    # Events that arrive while a query of ours runs (the state read, the
    # never-ends probe, the silent minute's re-read) are read by psycopg, not
    # by the loop below, and were dropped: a job that ended then was watched
    # for a silent minute (a short job under `start --watch`: 9 of 15 runs).
    # They are kept here, and handled before the loop waits.
    read_by_driver = []
    conn.add_notify_handler(lambda n: read_by_driver.append(n.payload))
    try:
        channel = conn.execute("SELECT heimdall_gen.event_channel()").fetchone()[0]
        conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
        rows = _job_rows(conn, args.job_ids)
        missing = [j for j in args.job_ids if j not in rows]
        if missing:
            print(f"heimdall-gen: job {missing[0]} does not exist", file=sys.stderr)
            return EXIT_ERROR
        status.update({j: rows[j][2] for j in args.job_ids})
        for j in args.job_ids:
            # (also with --timeout: a job no worker will ever run is said so at once, exit 1,
            # not reported as still running at the timeout, exit 5, as if it were alive)
            reason = None if status[j] in FINAL or status[j] == "paused" else _why_it_never_ends(conn, j)
            if reason:
                print(f"heimdall-gen: job {j} will not end: {reason}", file=sys.stderr)
                return EXIT_ERROR
        for pos, j in enumerate(args.job_ids):
            _, ds, st, done, total, _, _ = rows[j]
            bars[j] = progress_bar(total=total, initial=done, desc=f"job {j} {ds}", unit="sample", position=pos,
                                   file=sys.stderr, dynamic_ncols=True, disable=args.quiet)
            bars[j].set_postfix_str(st)
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        pgconn = conn.pgconn
        last_event = time.monotonic()

        def on_event(payload: str) -> None:
            ev = json.loads(payload)
            j = ev.get("job_id")
            if j not in bars:
                return
            if "samples_done" in ev:
                bars[j].n = ev["samples_done"]
            # (an event read during a query may be older than the state that query read: a final status stays)
            if ev.get("event") == "status" and status[j] not in FINAL:
                status[j] = ev["status"]
                bars[j].set_postfix_str(ev["status"], refresh=False)
            bars[j].refresh()

        def all_settled() -> bool:
            # a paused job waits for someone's resume_job: stop watching it (exit 5) rather than wait forever
            return all(status[j] in FINAL or status[j] == "paused" for j in args.job_ids)

        while True:
            while read_by_driver:
                last_event = time.monotonic()
                on_event(read_by_driver.pop(0))
            if all_settled():
                break
            wait = 60.0
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            ready, _, _ = select.select([conn.fileno()], [], [], wait)
            if ready:
                pgconn.consume_input()
                while True:
                    n = pgconn.notifies()
                    if n is None:
                        break
                    last_event = time.monotonic()
                    on_event(n.extra.decode())
            elif time.monotonic() - last_event >= 60.0:
                for j, r in _job_rows(conn, args.job_ids).items():
                    status[j] = r[2]
                    bars[j].n = r[3]
                    bars[j].set_postfix_str(r[2])
                last_event = time.monotonic()
        final = _job_rows(conn, args.job_ids)
        for j in args.job_ids:
            bars[j].n = final[j][3]
            bars[j].set_postfix_str(final[j][2])
            bars[j].close()
        for j in args.job_ids:
            _, ds, st, done, total, msg, err = final[j]
            print(printable(f"job {j} {ds}: {st} {done}/{total}" + (f": {err}" if err else f" ({msg})" if msg else "")))
        sts = [final[j][2] for j in args.job_ids]
        if "failed" in sts:
            return EXIT_FAILED
        if "cancelled" in sts:
            return EXIT_CANCELLED
        if any(s not in FINAL for s in sts):
            return EXIT_TIMEOUT
        return EXIT_OK
    finally:
        conn.close()


def _why_it_never_ends(conn, job_id) -> Optional[str]:
    """The server's reason why waiting for this job could never end, or None.
    A job restored into a database no launcher serves stays as it was
    dumped ('running', with no worker): watch waited for it forever (a
    user's review).  wait_job without a timeout refuses exactly such a wait
    (55000) and otherwise waits, so it is asked with a short statement
    timeout: a wait cut short by that timeout means the job is served.  Read
    committed, which wait_job needs, whatever the role's default isolation;
    any other error gives no verdict (an attacker's review: a role whose
    default was repeatable read was told its served job would never end)."""
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            conn.execute("SET LOCAL statement_timeout = '200ms'")
            conn.execute("SELECT heimdall_gen.wait_job(%s::bigint)", (job_id,))
    except psycopg.errors.ObjectNotInPrerequisiteState as e:
        # the server's hint ends with advice for SQL callers ('or give wait_job
        # a timeout'), which a command's user cannot follow (a user's review):
        # the way out for them is the launcher
        return re.sub(r",? or give wait_job a timeout\b", "", server_error_text(e))
    except psycopg.Error:
        pass                    # the timeout (served), or no verdict
    return None


def _job_call(fn):
    def run(args) -> int:
        with closing(_conn(args)) as conn:
            if fn == "cancel_job":
                ok = conn.execute("SELECT heimdall_gen.cancel_job(%s::bigint, %s::boolean)",
                                  (args.job_id, args.wait)).fetchone()[0]
            else:
                ok = conn.execute(f"SELECT heimdall_gen.{fn}(%s::bigint)", (args.job_id,)).fetchone()[0]
            st = conn.execute("SELECT status FROM heimdall_gen.jobs WHERE job_id = %s::bigint", (args.job_id,)).fetchone()
            print(f"job {args.job_id}: {st[0] if st else '?'}")
            return EXIT_OK if ok else EXIT_NOOP
    return run


def cmd_list(args) -> int:
    with closing(_conn(args)) as conn:
        if args.datasets:
            # row-level security shows a member of heimdall_gen_admin every
            # dataset but only its own samples and receptions: counted, those
            # of another role's dataset were 0 and '-' (a user's review).  So
            # the counts are NULL, shown '?', where the caller cannot read
            # them (the same test as the policies', unless row security does
            # not apply: a superuser, the tables' owner, BYPASSRLS); and the
            # owner is shown, so that whose dataset it is can be seen
            rows = conn.execute(
                "SELECT d.name, d.seed, d.model_version, "
                # where the IQ is now, not what the params asked for: materialize()
                # stores a virtual dataset's IQ, free_iq() drops a stored one's
                "CASE WHEN mine OR NOT pg_catalog.row_security_active('heimdall_gen.receptions') THEN "
                "(SELECT CASE WHEN count(*) = 0 THEN '-' WHEN bool_and(r.iq IS NOT NULL) THEN 'stored' "
                "             WHEN bool_or(r.iq IS NOT NULL) THEN 'partial' ELSE 'virtual' END "
                "   FROM heimdall_gen.receptions r WHERE r.dataset_id = d.dataset_id) END, "
                "CASE WHEN mine OR NOT pg_catalog.row_security_active('heimdall_gen.samples') THEN "
                "(SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id) END, "
                "d.created_at, d.owner::text "
                "FROM heimdall_gen.datasets d, "
                "LATERAL (SELECT d.owner::oid = heimdall_gen.current_role_id()::oid AS mine) m "
                "ORDER BY d.name").fetchall()
            print(f"{'dataset':24} {'seed':>20} {'model':>5} {'iq':8} {'samples':>8} {'created':16} owner")
            for name, seed, mv, iq, n, created, owner in rows:
                print(printable(f"{name:24} {seed:>20} {mv:>5} {iq or '?':8} {'?' if n is None else n:>8} "
                                f"{created:%Y-%m-%d %H:%M} {owner}"))
            if any(row[4] is None for row in rows):
                # said after the table, on stderr: what '?' means, not part of the listing
                print("heimdall-gen: ? where the samples are not yours to read: row-level security shows "
                      "a dataset's samples to its owner only", file=sys.stderr)
        else:
            rows = conn.execute(
                "SELECT job_id, dataset, status, samples_done, num_samples, percent, samples_per_s "
                "FROM heimdall_gen.job_progress ORDER BY job_id").fetchall()
            print(f"{'job':>5} {'dataset':24} {'status':10} {'done':>15} {'%':>6} {'samples/s':>9}")
            for j, ds, st, done, total, pct, rate in rows:
                print(printable(f"{j:>5} {ds:24} {st:10} {f'{done}/{total}':>15} {pct:>6} "
                                f"{rate if rate is not None else '-':>9}"))
    return EXIT_OK


def _print_written(paths) -> None:
    """Prints a sample's collection or archive as soon as it is written,
    flushed: a reader that went away (| head -1) shows as BrokenPipeError at
    the next sample, not once every file is written (a user's review: an
    export of a split wrote all its files, 11 s, and only then exited 141)."""
    for p in paths:
        if p.endswith((".sigmf-collection", ".sigmf")):
            print(p, flush=True)


def cmd_export(args) -> int:
    from . import sigmf
    if args.sample_idx and args.split:
        # exporting only those listed that are in the split, or all of the
        # split, or the listed ones: a guess either way, so refused
        return _usage_error("export takes sample indices or --split, not both")
    if args.output == "":
        return _usage_error("-o '' names no directory: export writes into a directory (made if missing)")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        return _usage_error(f"-o {args.output} is a file: export writes into a directory (made if missing)")
    on_sample = None if args.quiet else _print_written
    with closing(_conn(args)) as conn:
        if args.sample_idx:
            # (every index checked before anything is written: export_dataset)
            sigmf.export_dataset(conn, args.dataset, args.output, archive=args.archive,
                                 sample_indices=args.sample_idx, on_sample=on_sample)
        else:
            paths = sigmf.export_dataset(conn, args.dataset, args.output, args.split, args.archive,
                                         progress=not args.quiet, on_sample=on_sample)
            if not paths:
                # said even with -q: it explains the exit code, and that -o was not created
                where = f" in split {args.split}" if args.split else ""
                print(f'heimdall-gen: dataset "{args.dataset}" has no sample{where}: nothing exported',
                      file=sys.stderr)
                return EXIT_NOOP
    return EXIT_OK


def cmd_plot(args) -> int:
    # checked before anything is read: a directory given as the file made
    # the final rename fail, naming the hidden temporary file (a review)
    if args.output == "":
        return _usage_error("-o '' names no file: plot writes one PNG file")
    if args.output.endswith(os.sep) or os.path.isdir(args.output):
        return _usage_error(f"-o {args.output} is a directory: plot writes one PNG file (give its name)")
    # PNG under exactly the name given: matplotlib would add ".png" to a name
    # without a suffix, and write a JPEG or a PDF for those suffixes
    if os.path.splitext(args.output)[1].lower() not in ("", ".png"):
        return _usage_error(f"plot writes PNG: -o {args.output} names another format (give a .png name)")
    parent = os.path.dirname(args.output)
    if parent and os.path.exists(parent) and not os.path.isdir(parent):
        return _usage_error(f"-o {args.output}: {parent} is a file, not a directory")
    from .client import Dataset
    from .plot import DPI, plot_sample
    from .sigmf import _write_whole
    with closing(_conn(args)) as conn:
        ds = Dataset(conn, args.dataset)
        s = ds.sample(args.sample_idx)
        figure = plot_sample(s, ds.params)
    # a missing directory is made, as export makes its own: once there is a
    # figure to write, so that a refused plot leaves no empty directory
    if parent:
        os.makedirs(parent, exist_ok=True)
    # complete or not there, as export's files: an interrupt leaves no partial PNG
    _write_whole(args.output, lambda f: figure.savefig(f, dpi=DPI, format="png"))
    print(args.output)
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heimdall-gen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    dsn_help = "libpq connection string (default: $HEIMDALL_GEN_DSN or the PG* environment)"
    p.add_argument("--dsn", help=dsn_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --dsn is also accepted after the command; SUPPRESS keeps one given before it
    after_command = argparse.ArgumentParser(add_help=False)
    after_command.add_argument("--dsn", default=argparse.SUPPRESS, help=dsn_help)

    def command(name, **kwargs):
        return sub.add_parser(name, parents=[after_command], **kwargs)

    s = command("start", help="queue a job that generates samples into a dataset (created or extended)")
    s.add_argument("dataset")
    # the server's own limit on a job's num_samples, within start_job's integer
    s.add_argument("num_samples", type=_integer(INT32, 1, 10_000_000))
    s.add_argument("--seed", type=_integer(INT64), help="dataset seed (new datasets; default random)")
    s.add_argument("--params", default="{}", help="generator parameters as a JSON object")
    s.add_argument("--watch", action="store_true", help="then watch the job until it ends (exit code as watch; "
                                                        "Ctrl-C stops watching, not the job)")
    s.add_argument("--timeout", type=_seconds,
                   help="with --watch (refused without): stop watching after this many seconds (exit 5; "
                        "the job keeps running)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_start)

    w = command("watch", help="live progress bars of jobs (NOTIFY events) until they end; "
                              "Ctrl-C stops watching, not the jobs")
    w.add_argument("job_ids", type=_integer(INT64), nargs="+", metavar="JOB_ID")
    w.add_argument("--timeout", type=_seconds, help="give up after this many seconds (exit 5)")
    w.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the final lines")
    w.set_defaults(func=cmd_watch)

    for name, fn, hlp in (("pause", "pause_job", "pause a job (frees its worker slot)"),
                          ("resume", "resume_job", "resume a paused job"),
                          ("cancel", "cancel_job", "cancel a job; committed samples are kept")):
        c = command(name, help=hlp)
        c.add_argument("job_id", type=_integer(INT64))
        if name == "cancel":
            c.add_argument("--wait", action="store_true", help="return once the worker has stopped")
        c.set_defaults(func=_job_call(fn))

    li = command("list", help="list jobs (default) or datasets")
    li.add_argument("--datasets", action="store_true", help="list datasets instead of jobs")
    li.set_defaults(func=cmd_list)

    e = command("export", help="SigMF export: per sample a .sigmf-collection and per reception "
                                      ".sigmf-meta + .sigmf-data, or one .sigmf archive per sample",
                description="Each file is written under a temporary name and renamed once complete, a "
                            ".sigmf-collection after its recordings: an interrupted export leaves no "
                            "partial file, and none of the files of the sample it stopped in. No sample "
                            "to export: exit 6, nothing written.")
    e.add_argument("dataset")
    e.add_argument("sample_idx", type=_integer(INT64), nargs="*",
                   help="samples to export (default: all, or all of --split; not with --split)")
    e.add_argument("-o", "--output", required=True, help="output directory")
    e.add_argument("--split", choices=("train", "val", "test"),
                   help="export the samples of this split (not with sample indices)")
    e.add_argument("--archive", action="store_true", help="one .sigmf archive (tar) per sample")
    e.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing but errors (no progress bar, no list of the files written)")
    e.set_defaults(func=cmd_export)

    pl = command("plot", help="one PNG of a sample: map, spectrograms, cross-correlations, constellation")
    pl.add_argument("dataset")
    pl.add_argument("sample_idx", type=_integer(INT64))
    pl.add_argument("-o", "--output", required=True, help="PNG file to write")
    pl.set_defaults(func=cmd_plot)
    return p


def _quiet_stdout() -> None:
    """Standard output's reader is gone (| head): point it at /dev/null, so
    that Python's own flush at exit does not fail again with a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def server_error_text(e) -> str:
    """A server's error as a user reads it: the message and its SQLSTATE,
    then DETAIL and HINT; not the CONTEXT lines, which name the extension's
    internal functions and statements and say nothing to the caller."""
    diag = getattr(e, "diag", None)
    if diag is None or not diag.message_primary:
        return str(e).strip()
    lines = [diag.message_primary + (f" [{diag.sqlstate}]" if diag.sqlstate else "")]
    if diag.message_detail:
        lines.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        lines.append(f"HINT: {diag.message_hint}")
    return "\n".join(lines)


def _parse(argv):
    """parse_args, except that arguments no parser took are reported by the
    command's own parser, with its usage: argparse leaves them to the top
    parser, which printed heimdall-gen's usage for `list --bogus` (a user's
    review)."""
    p = parser()
    args, extra = p.parse_known_args(argv)
    commands = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    if extra and args.command == "export":
        # argparse gives sample_idx (nargs='*') only what follows the dataset
        # at once: an index after an option (export DS --split test 3, export
        # DS -o DIR 3) was left over as 'unrecognized arguments: 3' (a user's
        # review).  Such indices are the command's too: taken here, so that
        # cmd_export says that indices and --split do not go together
        export = commands.choices["export"]
        idx = next(a for a in export._actions if a.dest == "sample_idx")
        left = []
        for e in extra:
            if not re.fullmatch(r"\s*[+-]?\d+\s*", e):
                left.append(e)
                continue
            try:
                args.sample_idx.append(idx.type(e))
            except argparse.ArgumentTypeError as err:
                export.error(f"argument sample_idx: {err}")
        extra = left
    if extra:
        commands.choices[args.command].error("unrecognized arguments: " + " ".join(extra))
    return args


def _signal_said(signum: int) -> str:
    return "hung up" if signum == getattr(signal, "SIGHUP", None) else "terminated"


def _terminated(signum: int) -> int:
    """SIGTERM or SIGHUP, unwound: one line, and the exit code of a process
    killed by it (what a shell reports), 128 + its number."""
    try:
        print(f"heimdall-gen: {_signal_said(signum)}", file=sys.stderr)
    except (OSError, ValueError):
        pass        # a terminal hung up (SIGHUP) takes no more output: the exit code says it
    return 128 + signum


def main(argv=None) -> int:
    replaced = _unwind_on_termination()
    try:
        return _main(argv)
    finally:
        _restore_termination(replaced)


def _main(argv) -> int:
    try:
        # parsing too: a Ctrl-C in the first instants lands in argparse or in an import
        args = _parse(argv)
        code = args.func(args)
        # a reader that went away shows here, while it can still be handled
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback (export leaves no partial file: sigmf._write_whole)
        print("heimdall-gen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as e:
        return _terminated(e.signum)
    except ImportError:
        # numpy turns a Ctrl-C (or SIGTERM) during its own import into an ImportError
        if _terminating is not None:
            return _terminated(_terminating)
        if not _sigint_seen:
            raise
        print("heimdall-gen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # before OSError: as head or grep's producer would, stop without a word
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except (ExtensionNotInstalled, ConnectionFailed) as e:
        print(f"heimdall-gen: {printable(e)}", file=sys.stderr)
        return EXIT_ERROR
    except psycopg.Error as e:
        print(f"heimdall-gen: {printable(server_error_text(e))}", file=sys.stderr)
        return EXIT_ERROR
    except (LookupError, KeyError, OSError, ValueError) as e:
        # a KeyError's str() is the repr of its argument: print the message itself
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        if isinstance(e, OSError) and e.strerror and e.filename is not None:
            # a system error on the user's path, as other commands say it: no '[Errno 2]'
            message = f"{e.filename}: {e.strerror}"
        print(f"heimdall-gen: {printable(message)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
