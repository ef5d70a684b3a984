"""SigMF export of heimdall_gen samples, and reading an export back.

A sample becomes one SigMF Recording per reception (``<base>-rx<k>.sigmf-meta``
and ``.sigmf-data``) and a Collection (``<base>.sigmf-collection``) naming
them, with ``<base> = <dataset>-s<sample_idx>``; or all of these in one
``<base>.sigmf`` archive (POSIX.1-2001 tar, every file at the top level).

The metadata is the server's ``heimdall_gen.sigmf(dataset, sample_idx)``
written byte for byte as PostgreSQL prints the jsonb: the collection's
``core:streams`` hashes are the SHA-512 of exactly these bytes.  The data
files are the stored (or regenerated) cf32_le IQ, unchanged.

An export that stops half-way (Ctrl-C, a full disk, a lost connection)
leaves no file that looks complete but is not: each file is written under a
hidden temporary name in its directory and renamed into place once whole,
and a collection is written only after every recording it names; and a
sample's files appear all or none: every file of a sample is written under
its temporary name before the first is renamed into place, so that an
export that stops in a sample leaves that sample's files as they were
before (none, or an earlier export's), and no temporary file; a Ctrl-C,
SIGTERM or SIGHUP among the renames waits for the last of them.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import secrets
import signal
import tarfile
from typing import BinaryIO, Callable, Dict, Iterable, List, Optional

import numpy as np
import psycopg

from .client import Dataset, connect

# what an exported file may be called: a dataset name as start_job accepts
# it, with its suffixes.  Names come from the server's rows, which a dump
# restore or a dataset of 0.1.0 (which took any 1-200 characters) may fill
# with '../x' or '/etc/x': refused, so that an export never writes outside
# its directory, and an archive never holds such a member.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")


def _file_name(name: str) -> str:
    if not _FILE_NAME.match(name):
        raise ValueError(f"refusing to export to a file named {name!r}: an exported name is letters, digits, "
                         "'_', '.' and '-', not starting with '.' (rename the dataset first)")
    return name


def _stream_name(name, collection: str) -> str:
    """A stream name read from a collection file, which may come from anyone:
    only a name export could have written, so that reading it back opens no
    file outside the collection's directory."""
    if not isinstance(name, str) or not _FILE_NAME.match(name):
        raise ValueError(f"{collection}: refusing to read a stream named {name!r}: not a name export writes")
    return name

_SIGMF_SQL = """
SELECT (m.doc -> 'collection')::text,
       (SELECT pg_catalog.array_agg(e.rec::text ORDER BY e.ord)
          FROM pg_catalog.jsonb_array_elements(m.doc -> 'recordings') WITH ORDINALITY AS e(rec, ord))
  FROM (SELECT heimdall_gen.sigmf(%s, %s::bigint) AS doc) m
"""


def sample_files(conn_or_dsn, dataset: str, sample_idx: int, _ds: Optional[Dataset] = None) -> Dict[str, bytes]:
    """The files of one sample's SigMF export: {file name: bytes}, collection first."""
    sample_idx = int(sample_idx)       # numpy integers too (Dataset.sample_indices), which psycopg does not adapt
    conn = connect(conn_or_dsn)
    # the Dataset first: another role's dataset is then a PermissionError naming
    # its owner and a missing one a LookupError, as from Dataset() and
    # export_dataset (the server's sigmf() said "has no sample" of both; a
    # user's review).  It lists every sample index when made: an export of
    # many samples makes one (_ds)
    ds = _ds if _ds is not None else Dataset(conn, dataset)
    try:
        collection, recordings = conn.execute(_SIGMF_SQL, (dataset, sample_idx)).fetchone()
    except psycopg.errors.UndefinedObject:
        raise KeyError(f'dataset "{dataset}" has no sample with sample_idx {sample_idx}') from None
    coll = json.loads(collection)["collection"]
    base = coll["heimdall_gen:name"]
    iq_rows = conn.execute(
        f"SELECT r.rx_idx, {ds._iq_sql()} FROM heimdall_gen.receptions r "
        "WHERE r.dataset_id = %s AND r.sample_idx = %s ORDER BY r.rx_idx",
        (ds.dataset_id, sample_idx), binary=True).fetchall()
    files = {_file_name(f"{base}.sigmf-collection"): collection.encode("utf-8")}
    streams = coll["core:streams"]
    if len(streams) != len(iq_rows) or len(recordings) != len(iq_rows):
        raise RuntimeError(f"sample {sample_idx}: {len(streams)} streams for {len(iq_rows)} receptions")
    for stream, meta, (rx_idx, iq) in zip(streams, recordings, iq_rows):
        name = stream["name"]
        files[_file_name(f"{name}.sigmf-meta")] = meta.encode("utf-8")
        files[_file_name(f"{name}.sigmf-data")] = bytes(iq)
    return files


def _write_whole(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Writes the file at path with write(f), so that path is either its
    complete content or what was there before, never a truncated file: the
    content goes to a temporary file in the same directory, renamed over path
    once complete; removed instead on any error or interrupt (KeyboardInterrupt)."""
    temporary = _write_temporary(path, write)
    try:
        _rename_into_place(temporary, path)
    except BaseException:
        _remove_temporaries([temporary])
        raise


def _refuse_link(path: str) -> None:
    if os.path.islink(path):
        # the rename would replace the link itself, never write through it; but
        # a link planted under an exported name, in a shared output directory,
        # is someone's doing: refused, as export always has
        raise OSError(errno.ELOOP, "refusing to replace a symbolic link", path)


def _write_temporary(path: str, write: Callable[[BinaryIO], None]) -> str:
    """Writes what goes to path, with write(f), into a new temporary file
    beside it; returns the temporary's name, for _rename_into_place().  On
    any error or interrupt the temporary is removed, and an error is said
    of path."""
    _refuse_link(path)
    directory, name = os.path.split(path)
    temporary = None
    try:
        for attempt in range(100):
            # hidden and ending in .tmp; no exported name starts with '.'
            # (_FILE_NAME), so it never stands for, or replaces, an export;
            # name cut to stay within 255 bytes.  Named before it is made: a
            # Ctrl-C just after os.open still finds it to remove.
            temporary = os.path.join(directory or ".", f".{name[:200]}.{secrets.token_hex(4)}.tmp")
            try:
                # O_EXCL: a file or symbolic link someone planted under that name is never opened
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                break
            except FileExistsError:
                temporary = None        # someone else's: not ours to remove
                if attempt == 99:
                    raise
            except OSError as e:
                # (no such directory, no permission): said of the path asked for, not of the temporary name
                temporary = None
                raise OSError(e.errno, e.strerror, path) from None
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
        except OSError as e:
            if e.filename is not None or e.errno is None:
                raise           # named already, or no system error (a library's own OSError) to rename
            # a full disk, an I/O error: said of the file being written (a user's review)
            raise OSError(e.errno, e.strerror, path) from None
        return temporary
    except BaseException:
        if temporary is not None:
            _remove_temporaries([temporary])
        raise


def _rename_into_place(temporary: str, path: str) -> None:
    _refuse_link(path)
    try:
        os.replace(temporary, path)
    except OSError as e:
        # (path became a directory meanwhile ...): said of path alone, not
        # of the temporary name, which is ours, not the caller's (a review)
        raise OSError(e.errno, e.strerror, path) from None


def _remove_temporaries(temporaries: Iterable[str]) -> None:
    for temporary in temporaries:
        try:
            os.unlink(temporary)
        except FileNotFoundError:   # never made, or already renamed
            pass


def _write_archive(path: str, files: Dict[str, bytes]) -> None:
    def write_tar(f):
        # deterministic: fixed owner, mode and time, so an export is reproducible
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = 0
                tar.addfile(info, io.BytesIO(data))
    _write_whole(path, write_tar)


def export_sample(conn_or_dsn, dataset: str, sample_idx: int, outdir: str, archive: bool = False,
                  _ds: Optional[Dataset] = None) -> List[str]:
    """Writes one sample into outdir; returns the paths written."""
    files = sample_files(conn_or_dsn, dataset, sample_idx, _ds)
    os.makedirs(outdir, exist_ok=True)
    if archive:
        base = next(iter(files))[:-len(".sigmf-collection")]
        path = os.path.join(outdir, base + ".sigmf")
        _write_archive(path, files)
        return [path]
    # the data before its metadata, and the collection last: a .sigmf-meta
    # exists only beside its .sigmf-data, a .sigmf-collection only once
    # every recording it names does (files: the collection first)
    collection, recordings = next(iter(files)), list(files)[1:]
    order = [n for n in recordings if n.endswith(".sigmf-data")] + \
            [n for n in recordings if not n.endswith(".sigmf-data")] + [collection]
    # A sample's files appear all or none.  Each is written to a temporary
    # name first, and renamed into place only once every one of them is
    # written: a failure meanwhile (a full disk, an interrupt) leaves the
    # files there before, an earlier export's, as they were, and removes every
    # temporary.  Replaced one by one as they were written, a re-export that
    # failed at rx4 left rx0-3 new and the rest old, a collection whose
    # hashes no longer matched (a review).  What a rename would fail on (a
    # directory or a link under an exported name) is refused before the
    # first one; and should a rename fail all the same, the files this call
    # made are removed (never those that were there before, which are
    # someone's: replaced, but never removed).
    paths = [os.path.join(outdir, name) for name in order]
    for path in paths:
        _refuse_link(path)
        if os.path.isdir(path):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    from ._progress import _signals_deferred
    temporaries: List[str] = []
    made: List[str] = []
    caught: list = []
    try:
        for name, path in zip(order, paths):
            temporaries.append(_write_temporary(path, lambda f, data=files[name]: f.write(data)))
        # Ctrl-C, SIGTERM or SIGHUP (where they raise) wait for the renames
        # to end: one in the middle would leave an earlier export's files
        # half replaced, which nothing can put back
        with _signals_deferred(caught):
            for temporary, path in zip(temporaries, paths):
                existed = os.path.lexists(path)
                _rename_into_place(temporary, path)
                if not existed:
                    made.append(path)
    except BaseException:
        _remove_temporaries(temporaries)
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass            # gone already, or not ours to remove any more: the error said is the first
        if caught:
            signal.raise_signal(caught[0])      # (a rename failed meanwhile: the signal is not lost)
        raise
    if caught:
        signal.raise_signal(caught[0])          # the sample whole: nothing of it to remove
    return [os.path.join(outdir, name) for name in files]


def export_dataset(conn_or_dsn, dataset: str, outdir: str, split: Optional[str] = None,
                   archive: bool = False, sample_indices: Optional[Iterable[int]] = None,
                   progress: bool = False,
                   on_sample: Optional[Callable[[List[str]], None]] = None) -> List[str]:
    """Writes every sample (of a split, or those listed) into outdir; returns
    the paths written ([] if there is no such sample: outdir is not created).
    Listed samples that do not exist are a KeyError naming them, before
    anything is written.  on_sample(paths), if given, is called with each
    sample's paths once they are written: an exception it raises stops the
    export there."""
    if split is not None and sample_indices is not None:
        # which was meant, the listed samples or those of the split, is a guess: refused
        raise ValueError("export_dataset takes a split or sample_indices, not both")
    conn = connect(conn_or_dsn)
    ds = Dataset(conn, dataset, split)
    idx = [int(i) for i in sample_indices] if sample_indices is not None else list(ds.sample_indices)
    # every listed sample checked before the first is written: `export st 0 3
    # 13` without a sample 3 wrote s0, then stopped, and 13 was never
    # exported (a review)
    missing = sorted(set(idx) - set(int(i) for i in ds.sample_indices))
    if missing:
        raise KeyError(f'dataset "{dataset}" has no sample with sample_idx {", ".join(map(str, missing))}: '
                       "nothing exported")
    paths: List[str] = []
    if not idx:
        return paths
    from ._progress import progress_bar
    # a context manager, so that an interrupted export ends the bar's line
    # before the caller's message
    with progress_bar(total=len(idx), unit="sample", desc=f"export {dataset}", disable=not progress) as bar:
        for i in idx:
            written = export_sample(conn, dataset, int(i), outdir, archive, ds)
            paths += written
            bar.update(1)
            if on_sample is not None:
                # the bar cleared meanwhile and redrawn after: what on_sample
                # prints (to a terminal too) is not written over the bar's line
                with bar.external_write_mode():
                    on_sample(written)
    return paths


def read_export(path: str) -> dict:
    """Reads a sample's export back: a .sigmf-collection file (its recordings
    beside it) or a .sigmf archive.  Returns {"collection": dict, "files":
    {name: bytes}, "recordings": [{"name", "meta": dict, "iq": complex64 array}]}
    and checks every hash the metadata carries (raises ValueError if one differs)."""
    files: Dict[str, bytes] = {}
    if path.endswith(".sigmf"):
        with tarfile.open(path, "r") as tar:
            for m in tar.getmembers():
                if m.isfile():
                    files[os.path.basename(m.name)] = tar.extractfile(m).read()
    else:
        d = os.path.dirname(path) or "."
        if not path.endswith(".sigmf-collection"):
            raise ValueError(f"{path}: read_export reads a .sigmf-collection file or a .sigmf archive")
        with open(path, "rb") as f:
            files[os.path.basename(path)] = f.read()
        coll = json.loads(files[os.path.basename(path)])["collection"]
        for s in coll["core:streams"]:
            name = _stream_name(s["name"], path)
            for ext in (".sigmf-meta", ".sigmf-data"):
                with open(os.path.join(d, name + ext), "rb") as f:
                    files[name + ext] = f.read()
    cname = [n for n in files if n.endswith(".sigmf-collection")]
    if len(cname) != 1:
        raise ValueError(f"{path}: {len(cname)} collection files")
    coll = json.loads(files[cname[0]])["collection"]
    recs = []
    for s in coll["core:streams"]:
        _stream_name(s["name"], path)
        meta_bytes = files[s["name"] + ".sigmf-meta"]
        data = files[s["name"] + ".sigmf-data"]
        if hashlib.sha512(meta_bytes).hexdigest() != s["hash"]:
            raise ValueError(f"{s['name']}.sigmf-meta: SHA-512 differs from the collection's")
        meta = json.loads(meta_bytes)
        if hashlib.sha512(data).hexdigest() != meta["global"]["core:sha512"]:
            raise ValueError(f"{s['name']}.sigmf-data: SHA-512 differs from core:sha512")
        recs.append({"name": s["name"], "meta": meta, "iq": np.frombuffer(data, dtype="<c8")})
    return {"collection": coll, "files": files, "recordings": recs}
