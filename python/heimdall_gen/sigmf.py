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
import stat
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


# What read_export reads, which may come from anyone: bounded before it is
# read.  An export's collection and metadata are a few kB; its largest
# .sigmf-data is 262,144 cf32_le samples (2 MiB), and 3 to 15 receivers
# make as many streams.
MAX_COLLECTION_BYTES = 16 << 20
MAX_META_BYTES = 16 << 20
MAX_DATA_BYTES = 64 << 20
MAX_STREAMS = 64


def _check_size(name: str, size: int, limit: int, expected: Optional[int]) -> None:
    if expected is not None and size != expected:
        raise ValueError(f"{name}: {size} bytes, where its metadata says {expected}: refusing to read it")
    if size > limit:
        raise ValueError(f"{name}: {size} bytes, more than the {limit} read_export reads: refusing to read it")


def _open_regular(path: str):
    """path opened for reading if it is a regular file, else a ValueError.
    Checked before it is opened, and opened without blocking: a FIFO (or a
    device) under the name, or swapped in meanwhile, is never waited on."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path}: not a regular file: refusing to read it")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path}: not a regular file: refusing to read it")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_regular(path: str, limit: int, expected: Optional[int] = None) -> bytes:
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        _check_size(path, size, limit, expected)
        data = f.read(size + 1)
    if len(data) != size:
        raise ValueError(f"{path}: changed while it was read")
    return data


def _json(data: bytes, name: str):
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{name}: not JSON: {e}") from None


def _streams(data: bytes, name: str) -> List[str]:
    """The stream names of a collection file's bytes, each checked (_stream_name)."""
    doc = _json(data, name)
    coll = doc.get("collection") if isinstance(doc, dict) else None
    streams = coll.get("core:streams") if isinstance(coll, dict) else None
    if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
        raise ValueError(f"{name}: no collection with a list of core:streams")
    if len(streams) > MAX_STREAMS:
        raise ValueError(f"{name}: {len(streams)} streams, more than the {MAX_STREAMS} read_export reads")
    names = [_stream_name(s.get("name"), name) for s in streams]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: a stream named twice")
    return names


def _expected_data_size(meta) -> Optional[int]:
    """The bytes of a recording's .sigmf-data, if its metadata says them as
    export writes it (cf32_le, an annotation from sample 0 of every sample)."""
    g = meta.get("global") if isinstance(meta, dict) else None
    if not isinstance(g, dict) or g.get("core:datatype") != "cf32_le":
        return None
    annotations = meta.get("annotations")
    for a in annotations if isinstance(annotations, list) else []:
        if isinstance(a, dict) and a.get("core:sample_start") == 0 and type(a.get("core:sample_count")) is int \
                and a["core:sample_count"] >= 0:
            return 8 * a["core:sample_count"]
    return None


def _read_archive(path: str) -> Dict[str, bytes]:
    """The collection and the files its streams name, of a .sigmf archive:
    no other member is read, nor any member that is not a regular file."""
    with _open_regular(path) as f, tarfile.open(fileobj=f, mode="r:*") as tar:
        headers: Dict[str, tarfile.TarInfo] = {}
        collection: Optional[str] = None
        collection_data = b""
        wanted: Optional[set] = None
        streams: List[str] = []

        def check_member(name: str, m: tarfile.TarInfo, expected: Optional[int] = None) -> None:
            if not m.isfile():
                raise ValueError(f"{path}: member {m.name!r} is not a regular file: refusing to read it")
            limit = MAX_META_BYTES if name.endswith(".sigmf-meta") else MAX_DATA_BYTES
            _check_size(f"{path}: member {m.name!r}", m.size, limit, expected)

        # headers are read one by one, up to the last member wanted: what
        # follows is never looked at, and a member the collection does not
        # name is refused before its content is read (or skipped)
        while wanted is None or not wanted <= headers.keys():
            m = tar.next()
            if m is None:
                break
            name = os.path.basename(m.name)
            if name in headers:
                raise ValueError(f"{path}: two members named {name!r}")
            headers[name] = m
            if name.endswith(".sigmf-collection"):
                if collection is not None:
                    raise ValueError(f"{path}: 2 collection files")
                if not m.isfile():
                    raise ValueError(f"{path}: member {m.name!r} is not a regular file: refusing to read it")
                _check_size(f"{path}: member {m.name!r}", m.size, MAX_COLLECTION_BYTES, None)
                collection = name
                collection_data = tar.extractfile(m).read(m.size + 1)
                streams = _streams(collection_data, f"{path}: {name}")
                wanted = {collection} | {n + ext for n in streams for ext in (".sigmf-meta", ".sigmf-data")}
                for other, om in headers.items():
                    if other not in wanted:
                        raise ValueError(f"{path}: member {om.name!r} is not one its collection names")
            elif wanted is not None and name not in wanted:
                raise ValueError(f"{path}: member {m.name!r} is not one its collection names")
            elif not (name.endswith(".sigmf-meta") or name.endswith(".sigmf-data")) \
                    or len(headers) > 2 * MAX_STREAMS + 1:
                raise ValueError(f"{path}: member {m.name!r} is not one a collection could name")
            else:
                check_member(name, m)
        if collection is None:
            raise ValueError(f"{path}: 0 collection files")
        files = {collection: collection_data}
        for n in streams:
            meta = None
            for ext in (".sigmf-meta", ".sigmf-data"):
                m = headers.get(n + ext)
                if m is None:
                    raise ValueError(f"{path}: no member {n + ext!r}, which its collection names")
                check_member(n + ext, m, _expected_data_size(meta) if ext == ".sigmf-data" else None)
                data = tar.extractfile(m).read(m.size + 1)
                if len(data) != m.size:
                    raise ValueError(f"{path}: member {m.name!r} is shorter than its header says")
                files[n + ext] = data
                if ext == ".sigmf-meta":
                    meta = _json(data, f"{path}: {n}.sigmf-meta")
        return files


def read_export(path: str) -> dict:
    """Reads a sample's export back: a .sigmf-collection file (its recordings
    beside it) or a .sigmf archive.  Returns {"collection": dict, "files":
    {name: bytes}, "recordings": [{"name", "meta": dict, "iq": complex64 array}]}
    and checks every hash the metadata carries (raises ValueError if one differs).

    What it reads may come from anyone, and is bounded before it is read:
    the collection first, then only the files (or archive members) its
    streams name, each refused (ValueError naming it) unless it is a regular
    file (a FIFO or a device is never opened to be waited on, nor an archive
    member that is a link or a directory).  A collection file or a
    .sigmf-meta of more than 16 MiB is refused, as is a collection of more
    than 64 streams; a .sigmf-data whose size is not the one its metadata
    says (cf32_le: 8 bytes a sample, the core:sample_count of an annotation
    from sample 0) is refused, and one whose metadata says no size, or more
    than 64 MiB (an export's largest is 2 MiB), when over 64 MiB.  An
    archive member the collection does not name is refused, never read; what
    follows the last member named is not looked at."""
    if path.endswith(".sigmf"):
        files = _read_archive(path)
    elif path.endswith(".sigmf-collection"):
        d = os.path.dirname(path) or "."
        files = {os.path.basename(path): _read_regular(path, MAX_COLLECTION_BYTES)}
        for name in _streams(files[os.path.basename(path)], path):
            meta_path = os.path.join(d, name + ".sigmf-meta")
            meta = files[name + ".sigmf-meta"] = _read_regular(meta_path, MAX_META_BYTES)
            files[name + ".sigmf-data"] = _read_regular(os.path.join(d, name + ".sigmf-data"), MAX_DATA_BYTES,
                                                        _expected_data_size(_json(meta, meta_path)))
    else:
        raise ValueError(f"{path}: read_export reads a .sigmf-collection file or a .sigmf archive")
    cname = [n for n in files if n.endswith(".sigmf-collection")]
    if len(cname) != 1:
        raise ValueError(f"{path}: {len(cname)} collection files")
    coll = json.loads(files[cname[0]])["collection"]
    recs = []
    for s in coll["core:streams"]:
        _stream_name(s["name"], path)
        meta_bytes = files[s["name"] + ".sigmf-meta"]
        data = files[s["name"] + ".sigmf-data"]
        if hashlib.sha512(meta_bytes).hexdigest() != s.get("hash"):
            raise ValueError(f"{s['name']}.sigmf-meta: SHA-512 differs from the collection's")
        meta = json.loads(meta_bytes)
        if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict) or \
                hashlib.sha512(data).hexdigest() != meta["global"].get("core:sha512"):
            raise ValueError(f"{s['name']}.sigmf-data: SHA-512 differs from core:sha512")
        if len(data) % 8:
            raise ValueError(f"{s['name']}.sigmf-data: {len(data)} bytes, not a whole number of cf32_le samples")
        recs.append({"name": s["name"], "meta": meta, "iq": np.frombuffer(data, dtype="<c8")})
    return {"collection": coll, "files": files, "recordings": recs}
