"""Connecting to a database with heimdall_gen, and saying clearly why not.

One implementation for the library (Dataset, sigmf) and the heimdall-gen
command: a server that cannot be reached, or a database without the
extension, is said the same way by both.  Kept apart from client.py, which
imports numpy: the command's job control needs none.
"""
from __future__ import annotations

import os

import psycopg
import psycopg.conninfo


class ConnectionFailed(psycopg.OperationalError):
    """No connection could be made: said with the database, host and port it
    tried, and libpq's advice as a HINT line.  A psycopg.OperationalError, as
    psycopg's own failure to connect is, so that code catching that goes on
    catching it."""


class ExtensionNotInstalled(psycopg.ProgrammingError):
    """The database connected to has no heimdall_gen extension.  A
    psycopg.ProgrammingError, as the 'relation heimdall_gen.datasets does not
    exist' said before it was, so that code catching that goes on catching it."""


def _where_tried(dsn: str) -> str:
    """dbname=... host=... port=... of a DSN, as libpq would fill them in."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        given = {}
    return " ".join(f"{k}={given.get(k) or os.environ.get(env) or default}"
                    for k, env, default in (("dbname", "PGDATABASE", "(your user name)"),
                                            ("host", "PGHOST", "(the default socket)"),
                                            ("port", "PGPORT", "5432")))


def connect(conn_or_dsn, **kw) -> psycopg.Connection:
    """A psycopg 3 connection from a DSN ('' means $HEIMDALL_GEN_DSN, else the PG*
    environment, as for the heimdall-gen command), or the connection given.
    In UTF8 whatever the server's settings: with a database's client_encoding
    at SQL_ASCII psycopg returns text as bytes, and names broke.

    A connection that cannot be made raises ConnectionFailed naming the
    database, host and port tried: libpq's own message may name none
    ('connection is bad: No such file or directory')."""
    if isinstance(conn_or_dsn, psycopg.Connection):
        return conn_or_dsn
    kw.setdefault("client_encoding", "UTF8")
    dsn = conn_or_dsn or os.environ.get("HEIMDALL_GEN_DSN", "")
    try:
        return psycopg.connect(dsn, autocommit=True, **kw)
    except psycopg.OperationalError as e:
        said = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        message = f"could not connect ({_where_tried(dsn)}): {said[0] if said else 'no reason given'}"
        if len(said) > 1:
            message += "\nHINT: " + " ".join(said[1:])
        raise ConnectionFailed(message) from None


def require_extension(conn: psycopg.Connection, way_out: str = "connect to the database that has it") -> None:
    """Raises ExtensionNotInstalled unless heimdall_gen is installed in conn's
    database: said so, rather than 'relation heimdall_gen.datasets does not
    exist' with a LINE 1 snippet, or 'schema heimdall_gen does not exist'.
    way_out ends the message: the heimdall-gen command names its --dsn."""
    installed = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'heimdall_gen')").fetchone()[0]
    if not installed:
        raise ExtensionNotInstalled(
            f'the extension heimdall_gen is not installed in database "{conn.info.dbname}" '
            f"(CREATE EXTENSION heimdall_gen installs it; or {way_out})")
