"""SigMF: every required field and type of the core specification (1.2) and
of the spatial (1.1.0), signal (1.0.0) and heimdall_gen extensions, checked
here field by field; the export read back bit for bit."""
import hashlib
import io
import json
import os
import re

import psycopg
import pytest

from conftest import run_job

from heimdall_gen import sigmf as hs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATATYPE = re.compile(r"^(c|r)(f32|f64|i32|i16|u32|u16|i8|u8)(_le|_be)?$")
VERSION = re.compile(r"^\d+\.\d+\.\d")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:[A-Za-z][A-Za-z0-9_]*$")
num = (int, float)


def ext_fields():
    """{(section, name): type} of docs/heimdall_gen.sigmf-ext.md's tables."""
    out, section = {}, None
    for line in open(os.path.join(ROOT, "docs", "heimdall_gen.sigmf-ext.md")):
        m = re.match(r"^## \d+ (\w+)", line)
        if m:
            section = m.group(1).lower()
        m = re.match(r"^\|`(\w+)`\|(true|false)\|(\w+)\|", line)
        if m and section:
            out[(section, m.group(1))] = m.group(3)
    return out


TYPES = {"string": str, "int": int, "double": num, "bool": bool, "object": dict, "GeoJSON": dict}


def geojson_point(p):
    assert set(p) <= {"type", "coordinates", "bbox"} and p["type"] == "Point"
    c = p["coordinates"]
    assert isinstance(c, list) and 2 <= len(c) <= 3 and all(isinstance(x, num) for x in c)
    assert -180 <= c[0] <= 180 and -90 <= c[1] <= 90


def check_extensions(exts):
    assert isinstance(exts, list)
    for e in exts:
        assert set(e) == {"name", "version", "optional"}
        assert isinstance(e["name"], str) and isinstance(e["version"], str) and isinstance(e["optional"], bool)
    return {e["name"] for e in exts}


def check_keys(obj, declared, section, fields):
    for k, v in obj.items():
        assert KEY.match(k), k
        ns, name = k.split(":")
        assert ns == "core" or ns in declared, k
        if ns == "heimdall_gen":
            assert (section, name) in fields, f"{k} not documented in section {section}"
            assert isinstance(v, TYPES[fields[(section, name)]]), (k, v)
    if "heimdall_gen" in declared:
        for (sec, name) in fields:
            if sec == section:
                assert f"heimdall_gen:{name}" in obj, f"required heimdall_gen:{name} missing in {section}"


def bearing(b):
    assert set(b) <= {"azimuth", "elevation", "range", "range_rate", "az_error", "el_error", "range_error",
                      "range_rate_error"}
    assert all(isinstance(v, num) for v in b.values())


SIGNAL_ENUMS = {"type": {"analog", "digital"},
                "mod_class": {"am", "fm", "pm", "ssb", "dsb", "vsb", "ask", "fsk", "psk", "qam", "ook", "cpm", "msk"},
                "carrier_variant": {"with_carrier", "suppressed_carrier", "reduced_carrier", "single_carrier",
                                    "multi_carrier"}}


def check_recording(meta, fields, n_rx, rx_row):
    assert set(meta) == {"global", "captures", "annotations"}
    g = meta["global"]
    declared = check_extensions(g.get("core:extensions", []))
    assert declared == {"spatial", "signal", "heimdall_gen"}
    check_keys(g, declared, "global", fields)
    assert isinstance(g["core:datatype"], str) and DATATYPE.match(g["core:datatype"]) and g["core:datatype"] == "cf32_le"
    assert isinstance(g["core:version"], str) and VERSION.match(g["core:version"])
    assert isinstance(g["core:sample_rate"], num) and g["core:sample_rate"] >= 1
    assert isinstance(g["core:num_channels"], int) and g["core:num_channels"] == 1
    assert re.fullmatch(r"[0-9a-f]{128}", g["core:sha512"])
    for k in ("core:recorder", "core:description", "core:collection"):
        assert isinstance(g[k], str)
    geojson_point(g["core:geolocation"])
    assert isinstance(g["spatial:num_elements"], int) and g["spatial:num_elements"] == n_rx
    assert isinstance(g["spatial:channel_index"], int) and 0 <= g["spatial:channel_index"] < n_rx
    # provenance
    assert g["heimdall_gen:attempt"] == g["heimdall_gen:sample_idx"]
    assert g["core:recorder"].startswith("heimdall_gen 0.9.0")

    caps = meta["captures"]
    assert isinstance(caps, list) and len(caps) == 1
    c = caps[0]
    check_keys(c, declared, "captures", fields)
    assert isinstance(c["core:sample_start"], int) and c["core:sample_start"] == 0
    assert isinstance(c["core:frequency"], num) and c["core:frequency"] >= -1e12
    assert isinstance(c["core:datetime"], str) and DATETIME.match(c["core:datetime"])
    geojson_point(c["core:geolocation"])
    assert c["core:geolocation"]["coordinates"] == [rx_row["rx_lon"], rx_row["rx_lat"], rx_row["rx_alt_m"]]
    bearing(c["spatial:emitter_bearing"])
    assert isinstance(c["spatial:aperture_azimuth"], num)
    eb = c["spatial:emitter_bearing"]
    assert 0 <= eb["azimuth"] < 360 and -90 <= eb["elevation"] <= 90
    assert eb["range"] == pytest.approx(rx_row["distance_m"])

    anns = meta["annotations"]
    assert isinstance(anns, list) and len(anns) == 1
    a = anns[0]
    check_keys(a, declared, "annotations", fields)
    assert isinstance(a["core:sample_start"], int) and a["core:sample_start"] >= 0
    assert isinstance(a["core:sample_count"], int) and a["core:sample_count"] > 0
    assert isinstance(a["core:freq_lower_edge"], num) and isinstance(a["core:freq_upper_edge"], num)
    assert a["core:freq_lower_edge"] < c["core:frequency"] + rx_row["freq_offset_hz"] < a["core:freq_upper_edge"]
    assert isinstance(a["core:label"], str) and isinstance(a["core:generator"], str)
    d = a["signal:detail"]
    assert set(d) <= {"type", "mod_class", "standard", "carrier_variant", "symbol_variant", "order", "duplexing",
                      "multiplexing", "multiple_access", "spreading", "channel_bw", "channel", "class_variant"}
    for k, allowed in SIGNAL_ENUMS.items():
        if k in d:
            assert d[k] in allowed, (k, d[k])
    if "order" in d:
        assert isinstance(d["order"], int) and d["order"] > 0
    assert isinstance(d["channel_bw"], num)
    e = a["signal:emitter"]
    assert set(e) <= {"seid", "label", "manufacturer", "power_tx", "power_eirp", "geolocation"}
    assert isinstance(e["power_tx"], num)
    geojson_point(e["geolocation"])
    geojson_point(a["spatial:emitter_location"])
    return g


def rx_rows(conn, dataset, idx):
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT r.* FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d USING (dataset_id) "
                       "WHERE d.name = %s AND r.sample_idx = %s ORDER BY r.rx_idx", (dataset, idx)).fetchall()


def test_sigmf_fields_and_types(conn, stored):
    fields = ext_fields()
    assert ("global", "seed") in fields and ("collection", "transmission") in fields
    idx = conn.execute("SELECT s.sample_idx FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                       "WHERE d.name = %s ORDER BY 1 LIMIT 1 OFFSET 3", (stored,)).fetchone()[0]
    doc = conn.execute("SELECT heimdall_gen.sigmf(%s, %s::bigint)", (stored, idx)).fetchone()[0]
    texts = conn.execute("SELECT e::text FROM jsonb_array_elements(heimdall_gen.sigmf(%s, %s::bigint) -> 'recordings') e",
                         (stored, idx)).fetchall()
    assert set(doc) == {"collection", "recordings"}
    rows = rx_rows(conn, stored, idx)
    recs = doc["recordings"]
    assert len(recs) == len(rows) >= 3
    for k, (meta, row) in enumerate(zip(recs, rows)):
        g = check_recording(meta, fields, len(rows), row)
        assert g["spatial:channel_index"] == g["heimdall_gen:rx_idx"] == k
        assert g["core:sha512"] == hashlib.sha512(bytes(row["iq"])).hexdigest()
        assert g["heimdall_gen:sample_idx"] == idx and g["heimdall_gen:dataset"] == stored
        assert g["heimdall_gen:delay_s"] == row["delay_s"] and g["heimdall_gen:split"] in ("train", "val", "test")
    # the collection
    assert set(doc["collection"]) == {"collection"}
    col = doc["collection"]["collection"]
    declared = check_extensions(col["core:extensions"])
    check_keys(col, declared, "collection", fields)
    assert isinstance(col["core:version"], str) and VERSION.match(col["core:version"])
    assert isinstance(col["core:description"], str)
    streams = col["core:streams"]
    assert [s["name"] for s in streams] == [f"{stored}-s{idx}-rx{k}" for k in range(len(rows))]
    for s, (t,) in zip(streams, texts):
        assert set(s) == {"name", "hash"} and s["hash"] == hashlib.sha512(t.encode()).hexdigest()
    geom = col["spatial:element_geometry"]
    assert len(geom) == len(rows) and geom[0]["point"] == [0, 0, 0]
    for p in geom:
        assert len(p["point"]) == 3 and all(isinstance(x, num) for x in p["point"])
    geojson_point(col["heimdall_gen:reference_point"])
    seed = conn.execute("SELECT seed FROM heimdall_gen.datasets WHERE name = %s", (stored,)).fetchone()[0]
    assert col["heimdall_gen:seed"] == seed and col["heimdall_gen:model_version"] >= 1
    assert col["heimdall_gen:extension_version"] == "0.9.0"


def test_sigmf_errors(dsn, conn, stored):
    with pytest.raises(psycopg.errors.UndefinedObject, match='dataset "nope" does not exist'):
        conn.execute("SELECT heimdall_gen.sigmf('nope', 0)")
    with pytest.raises(psycopg.Error, match="sample_idx 123456789"):
        conn.execute("SELECT heimdall_gen.sigmf(%s, 123456789)", (stored,))
    conn.execute("DROP ROLE IF EXISTS pyt_mallory")
    conn.execute("CREATE ROLE pyt_mallory LOGIN")
    try:
        with psycopg.connect(dsn.replace("user=postgres", "user=pyt_mallory"), autocommit=True) as c:
            with pytest.raises(psycopg.errors.UndefinedObject, match=f'dataset "{stored}" does not exist'):
                c.execute("SELECT heimdall_gen.sigmf(%s, 0)", (stored,))
    finally:
        conn.execute("DROP ROLE pyt_mallory")


def test_export_refuses_names_that_leave_the_directory(tmp_path, conn):
    # a name start_job refuses, as a restore or a 0.1.0 dataset may hold it
    run_job(conn, "pyt_escape", 2, 9)
    from heimdall_gen import sigmf
    out = tmp_path / "a" / "b" / "out"    # '../../x' from here is still inside tmp_path, where it is looked for
    try:
        for bad in ("../../escaped", str(tmp_path / "absolute"), ".hidden"):
            conn.execute("UPDATE heimdall_gen.datasets SET name = %s WHERE name IN ('pyt_escape', '../../escaped', %s)",
                         (bad, str(tmp_path / "absolute")))
            for archive in (False, True):
                with pytest.raises(ValueError, match="refusing to export to a file named"):
                    sigmf.export_dataset(conn, bad, str(out), archive=archive)
        assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset(name) FROM heimdall_gen.datasets "
                     "WHERE name IN ('pyt_escape', '../../escaped', %s, '.hidden')", (str(tmp_path / "absolute"),))
    # and a symbolic link planted under an exported name is not followed
    run_job(conn, "pyt_link", 1, 9)
    try:
        target = tmp_path / "target"
        target.write_bytes(b"untouched")
        idx = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                           "USING (dataset_id) WHERE d.name = 'pyt_link'").fetchone()[0]
        out.mkdir(parents=True, exist_ok=True)
        (out / f"pyt_link-s{idx}.sigmf-collection").symlink_to(target)
        with pytest.raises(OSError):
            sigmf.export_sample(conn, "pyt_link", idx, str(out))
        assert target.read_bytes() == b"untouched"
        # the archive too
        (out / f"pyt_link-s{idx}.sigmf").symlink_to(target)
        with pytest.raises(OSError):
            sigmf.export_sample(conn, "pyt_link", idx, str(out), archive=True)
        assert target.read_bytes() == b"untouched"
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_link')")


def test_read_export_opens_nothing_outside_the_collection_directory(tmp_path):
    # a collection file from elsewhere whose stream names leave its directory
    from heimdall_gen import sigmf
    secret = tmp_path / "secret.sigmf-meta"
    secret.write_text("{}")
    d = tmp_path / "export"
    d.mkdir()
    for bad in ("../secret", str(tmp_path / "secret"), ".hidden", 7):
        coll = d / "planted.sigmf-collection"
        coll.write_text(json.dumps({"collection": {"core:streams": [{"name": bad, "hash": "0"}]}}))
        with pytest.raises(ValueError, match="refusing to read a stream named"):
            sigmf.read_export(str(coll))
    data = d / "rx0.sigmf-data"
    data.write_bytes(b"\xff\xfe\x00\x80" * 8)
    with pytest.raises(ValueError, match="reads a .sigmf-collection file or a .sigmf archive"):
        sigmf.read_export(str(data))


def test_export_takes_the_indices_the_client_hands_out(tmp_path, dsn, stored):
    import heimdall_gen as hg
    idx = hg.Dataset(dsn, stored).sample_indices[0]      # a numpy integer
    assert not isinstance(idx, int)
    paths = hs.export_sample(dsn, stored, idx, str(tmp_path / "np"))
    assert any(p.endswith(f"{stored}-s{int(idx)}.sigmf-collection") for p in paths)


def test_export_round_trip_is_bit_identical(tmp_path, dsn, conn, stored, virtual):
    ds_rows = conn.execute("SELECT s.sample_idx FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                           "WHERE d.name = %s ORDER BY 1 LIMIT 2", (stored,)).fetchall()
    for (idx,) in ds_rows:
        files = hs.sample_files(dsn, stored, idx)
        paths = hs.export_sample(dsn, stored, idx, str(tmp_path / "dir"))
        arch = hs.export_sample(dsn, stored, idx, str(tmp_path / "tar"), archive=True)
        assert len(arch) == 1 and arch[0].endswith(f"{stored}-s{idx}.sigmf")
        a = hs.read_export(str(tmp_path / "dir" / f"{stored}-s{idx}.sigmf-collection"))
        b = hs.read_export(arch[0])
        assert a["files"] == b["files"] == files
        for p in paths:
            assert open(p, "rb").read() == files[os.path.basename(p)]
        rows = rx_rows(conn, stored, idx)
        texts = conn.execute("SELECT e::text FROM jsonb_array_elements(heimdall_gen.sigmf(%s, %s::bigint) -> 'recordings') e",
                             (stored, idx)).fetchall()
        for rec, row, (t,) in zip(a["recordings"], rows, texts):
            assert files[rec["name"] + ".sigmf-data"] == bytes(row["iq"])
            assert files[rec["name"] + ".sigmf-meta"] == t.encode()
            assert rec["iq"].tobytes() == bytes(row["iq"])
        # a virtual dataset exports the same IQ
        v = hs.sample_files(dsn, virtual, idx)
        assert [d for n, d in sorted(v.items()) if n.endswith("data")] == \
               [d for n, d in sorted(files.items()) if n.endswith("data")]
    # a whole dataset, one split
    out = hs.export_dataset(dsn, stored, str(tmp_path / "all"), split="val", archive=True)
    nval = conn.execute("SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                        "WHERE d.name = %s AND s.split = 'val'", (stored,)).fetchone()[0]
    assert len(out) == nval
    # a changed byte is noticed
    p = tmp_path / "dir" / f"{stored}-s{ds_rows[0][0]}-rx0.sigmf-data"
    raw = bytearray(p.read_bytes())
    raw[0] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError):
        hs.read_export(str(tmp_path / "dir" / f"{stored}-s{ds_rows[0][0]}.sigmf-collection"))


def test_export_of_a_sample_says_what_the_client_says(tmp_path, dsn, conn, stored):
    """A user's review: export_sample of another role's dataset said it had
    'no sample with sample_idx 0'; it is the PermissionError naming its owner
    that Dataset() and export_dataset give, a missing dataset the LookupError
    and a missing sample the KeyError."""
    first = conn.execute("SELECT min(sample_idx) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                         "USING (dataset_id) WHERE d.name = %s", (stored,)).fetchone()[0]
    conn.execute("DROP ROLE IF EXISTS pyt_admin_reader")
    conn.execute("CREATE ROLE pyt_admin_reader LOGIN IN ROLE heimdall_gen_admin")
    try:
        other = dsn.replace("user=postgres", "user=pyt_admin_reader")
        with pytest.raises(PermissionError, match=f'dataset "{stored}" belongs to role "postgres"'):
            hs.export_sample(other, stored, first, str(tmp_path / "x"))
        assert not (tmp_path / "x").exists()
    finally:
        conn.execute("DROP ROLE pyt_admin_reader")
    with pytest.raises(LookupError, match='dataset "pyt_nope" does not exist'):
        hs.export_sample(dsn, "pyt_nope", 0, str(tmp_path / "y"))
    with pytest.raises(KeyError, match="no sample with sample_idx 123456789"):
        hs.export_sample(dsn, stored, 123456789, str(tmp_path / "y"))


def test_a_failed_write_names_its_file_and_leaves_nothing(tmp_path):
    """A user's review: a full disk during an export said 'No space left on
    device' without the file."""
    import errno

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "x.sigmf-data"
    with pytest.raises(OSError) as caught:
        hs._write_whole(str(target), full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_an_error_without_errno_keeps_its_message(tmp_path):
    """A reviewer's finding: a library's own OSError (no errno, no file) was
    made '[Errno None] None'; it passes through as raised."""
    def fails(f):
        raise OSError("cannot write mode RGBA as JPEG")

    with pytest.raises(OSError, match="cannot write mode RGBA as JPEG"):
        hs._write_whole(str(tmp_path / "x.png"), fails)
    assert os.listdir(tmp_path) == []


def synthetic_export(n=64, sample_count=True):
    """{name: bytes} of a one-recording export made here, as export writes one."""
    data = bytes(range(256)) * (n * 8 // 256) + bytes(n * 8 % 256)
    meta = {"global": {"core:datatype": "cf32_le", "core:sha512": hashlib.sha512(data).hexdigest()},
            "annotations": [{"core:sample_start": 0, "core:sample_count": n}] if sample_count else []}
    meta = json.dumps(meta).encode()
    stream = {"name": "t-s0-rx0", "hash": hashlib.sha512(meta).hexdigest()}
    coll = json.dumps({"collection": {"core:streams": [stream]}})
    return {"t-s0.sigmf-collection": coll.encode(), "t-s0-rx0.sigmf-meta": meta, "t-s0-rx0.sigmf-data": data}


class Zeros:
    """A file object of size zero bytes, never held in memory."""
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def write_archive(path, members, mode="w:gz"):
    """members: [(name, bytes or a size of zeros)], in that order, gzip-compressed."""
    import tarfile
    with tarfile.open(path, mode, compresslevel=1) if mode == "w:gz" else tarfile.open(path, mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = content if isinstance(content, int) else len(content)
            tar.addfile(info, Zeros(content) if isinstance(content, int) else io.BytesIO(content))


def test_read_export_reads_no_archive_member_its_collection_does_not_name(tmp_path):
    # an archive from anyone: every member was read into memory before any
    # check (613 kB of gzip became 655 MB), those no stream names too
    files = synthetic_export()
    (c, coll), (m, meta), (d, data) = files.items()
    for mode in ("w", "w:gz"):
        ok = tmp_path / f"ok-{mode[-2:]}.sigmf"
        write_archive(ok, list(files.items()), mode)
        assert hs.read_export(str(ok))["files"] == files
    huge = 256 << 20                    # zeros: a 250 kB member of the gzip stream
    between = tmp_path / "between.sigmf"
    write_archive(between, [(c, coll), ("zz.bin", huge), (m, meta), (d, data)])
    assert between.stat().st_size < 2 << 20
    with pytest.raises(ValueError, match="member 'zz.bin' is not one its collection names"):
        hs.read_export(str(between))
    # before the collection: refused as soon as seen
    first = tmp_path / "first.sigmf"
    write_archive(first, [("zz.bin", huge), (c, coll), (m, meta), (d, data)])
    with pytest.raises(ValueError, match="member 'zz.bin' is not one a collection could name"):
        hs.read_export(str(first))
    # after the last member named: never looked at, and not in what is returned
    after = tmp_path / "after.sigmf"
    write_archive(after, [(c, coll), (m, meta), (d, data), ("zz.bin", huge)])
    assert hs.read_export(str(after))["files"] == files
    # a named member that is not a regular file
    import tarfile
    link = tmp_path / "link.sigmf"
    with tarfile.open(link, "w") as tar:
        for name, content in ((c, coll), (m, meta)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        info = tarfile.TarInfo(d)
        info.type, info.linkname = tarfile.SYMTYPE, "/dev/zero"
        tar.addfile(info)
    with pytest.raises(ValueError, match="is not a regular file"):
        hs.read_export(str(link))


@pytest.mark.parametrize("annotations", [5, "x", {"core:sample_start": 0}, [5], None])
def test_read_export_refuses_metadata_of_another_shape_with_value_error(tmp_path, annotations):
    # a review: "annotations": 5 raised TypeError from the size check, where
    # read_export promises ValueError for what it refuses
    files = synthetic_export()
    (c, coll), (m, meta), (d, data) = files.items()
    doc = json.loads(meta)
    doc["annotations"] = annotations
    meta = json.dumps(doc).encode()
    coll = json.dumps({"collection": {"core:streams": [{"name": "t-s0-rx0",
                                                          "hash": hashlib.sha512(meta).hexdigest()}]}}).encode()
    for name, content in ((c, coll), (m, meta), (d, data)):
        (tmp_path / name).write_bytes(content)
    # no size said: read within the bound, hashes checked, and the samples all there
    assert len(hs.read_export(str(tmp_path / c))["recordings"][0]["iq"]) == len(data) // 8
    (tmp_path / d).write_bytes(data + bytes(8))
    with pytest.raises(ValueError):
        hs.read_export(str(tmp_path / c))


def test_read_export_refuses_a_data_file_of_another_size_than_its_metadata_says(tmp_path):
    files = synthetic_export()
    (c, coll), (m, meta), (d, data) = files.items()
    big = tmp_path / "big.sigmf"
    write_archive(big, [(c, coll), (m, meta), (d, 128 << 20)])
    with pytest.raises(ValueError, match=f"member '{d}': 134217728 bytes, more than the {64 << 20} read_export reads"):
        hs.read_export(str(big))
    # under that bound but not what the metadata says, one sample more or less too
    for n in (1 << 20, len(data) - 8, len(data) + 8):
        odd = tmp_path / f"odd{n}.sigmf"
        write_archive(odd, [(c, coll), (m, meta), (d, data[:n] + bytes(max(0, n - len(data))))])
        with pytest.raises(ValueError, match=f"{n} bytes, where its metadata says 512"):
            hs.read_export(str(odd))
    # metadata without a size: bounded all the same
    files = synthetic_export(sample_count=False)
    (c, coll), (m, meta), (d, data) = files.items()
    unsized = tmp_path / "unsized.sigmf"
    write_archive(unsized, [(c, coll), (m, meta), (d, 128 << 20)])
    with pytest.raises(ValueError, match=f"more than the {64 << 20} read_export reads"):
        hs.read_export(str(unsized))
    # and the same of files in a directory (a sparse file: nothing written)
    files = synthetic_export()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    assert hs.read_export(str(tmp_path / c))["files"] == files
    with open(tmp_path / d, "r+b") as f:
        f.truncate(128 << 20)
    with pytest.raises(ValueError, match=r"t-s0-rx0.sigmf-data: 134217728 bytes, where its metadata says 512"):
        hs.read_export(str(tmp_path / c))
    (tmp_path / d).write_bytes(files[d])
    with open(tmp_path / c, "r+b") as f:
        f.truncate(32 << 20)
    with pytest.raises(ValueError, match=f"more than the {16 << 20} read_export reads"):
        hs.read_export(str(tmp_path / c))


def test_read_export_opens_no_fifo(tmp_path):
    # a FIFO under a stream's name: read_export waited on it forever.  Read
    # in a child process, so that a regression fails here instead of hanging
    import subprocess
    import sys
    files = synthetic_export()
    (c, coll), (m, meta), (d, data) = files.items()
    for fifo in (d, m, c):
        directory = tmp_path / fifo
        directory.mkdir()
        for name, content in files.items():
            if name == fifo:
                os.mkfifo(directory / name)
            else:
                (directory / name).write_bytes(content)
        os.mkfifo(directory / "fifo.sigmf")
        for path in (directory / c, directory / "fifo.sigmf"):
            if path.name == "fifo.sigmf" and fifo != c:
                continue
            code = ("import sys\nfrom heimdall_gen import sigmf\ntry:\n    sigmf.read_export(sys.argv[1])\n"
                    "except ValueError as e:\n    print(e)\n")
            try:
                r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                   timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"read_export({path}) waits on the FIFO {fifo}")
            assert r.returncode == 0, r.stderr
            bad = directory / (fifo if path.name != "fifo.sigmf" else "fifo.sigmf")
            assert r.stdout.strip() == f"{bad}: not a regular file: refusing to read it", r.stdout
