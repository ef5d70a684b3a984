"""The Python client: Dataset against the rows in SQL, stored and virtual, and the PyTorch adapters."""
import os
import time

import numpy as np
import psycopg
import pytest

import heimdall_gen as hg


def stored_rows(conn, name):
    return conn.execute(
        "SELECT r.sample_idx, r.rx_idx, r.iq FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d "
        "USING (dataset_id) WHERE d.name = %s ORDER BY 1, 2", (name,), binary=True).fetchall()


def test_batches_cover_every_row_once_and_decode_to_stored_bytes(dsn, conn, stored):
    ds = hg.Dataset(dsn, stored)
    rows = stored_rows(conn, stored)
    assert len(ds) == 30 == len({r[0] for r in rows})
    seen = []
    for batch in ds.batches(7):
        assert 1 <= len(batch) <= 7
        for s in batch:
            assert s.iq.dtype == np.complex64 and s.iq.shape[0] == s.labels["n_receivers"] == len(s.receptions)
            assert s.iq.shape[1] == 500          # 10 ms at 50 kHz
            assert [r["rx_idx"] for r in s.receptions] == list(range(s.iq.shape[0]))
            for k in range(s.iq.shape[0]):
                seen.append((s.sample_idx, k, s.iq[k].tobytes()))
    assert [(a, b) for a, b, _ in seen] == [(r[0], r[1]) for r in rows]      # every row once, in order
    assert all(iq == bytes(r[2]) for (_, _, iq), r in zip(seen, rows))      # bit-identical IQ


def test_indexing_matches_stream(dsn, stored):
    ds = hg.Dataset(dsn, stored)
    streamed = list(ds)
    assert [s.sample_idx for s in streamed] == list(ds.sample_indices)
    for i in (0, 7, -1):
        a, b = ds[i], streamed[i]
        assert a.sample_idx == b.sample_idx and a.labels == b.labels and a.receptions == b.receptions
        assert np.array_equal(a.iq, b.iq)
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(LookupError):
        hg.Dataset(dsn, "no_such_dataset")


def test_bad_arguments_are_refused_at_the_call(dsn, stored):
    ds = hg.Dataset(dsn, stored)
    assert ds[np.int64(2)].sample_idx == ds[2].sample_idx      # a numpy integer is a position
    for bad in (slice(0, 2), 1.5, "1", None):
        with pytest.raises(TypeError, match="sample positions are integers"):
            ds[bad]
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            ds.batches(bad)                                     # at the call, before any row is read
    assert [len(b) for b in ds.batches(np.int32(16))] == [16, len(ds) - 16]
    with pytest.raises(TypeError, match="dataset name must be a str"):
        hg.Dataset(dsn, None)


def test_virtual_reads_like_stored(dsn, conn, stored, virtual):
    assert conn.execute("SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d USING (dataset_id)"
                        " WHERE d.name = %s AND r.iq IS NOT NULL", (virtual,)).fetchone()[0] == 0
    a, b = list(hg.Dataset(dsn, stored)), list(hg.Dataset(dsn, virtual))
    assert [s.sample_idx for s in a] == [s.sample_idx for s in b]
    assert all(x.iq.tobytes() == y.iq.tobytes() and x.labels == y.labels for x, y in zip(a, b))


def test_torch_dataloader_two_workers(dsn, stored):
    torch = pytest.importorskip("torch")
    from heimdall_gen.torch import TorchDataset, TorchIterableDataset, collate
    with pytest.raises(ValueError, match="collate needs at least one item"):
        collate([])
    ds = hg.Dataset(dsn, stored, split="train")
    want = sorted(int(i) for i in ds.sample_indices)
    assert len(want) > 10
    it = TorchIterableDataset(dsn, stored, split="train")
    assert len(it) == len(want)
    for epoch in range(2):
        got = []
        for batch in torch.utils.data.DataLoader(it, batch_size=4, num_workers=2, collate_fn=collate):
            assert batch["iq"].dtype == torch.complex64 and batch["iq"].shape[2] == 500
            assert batch["mask"].sum(1).tolist() == [int(m) for m in batch["mask"].sum(1)]
            got += batch["sample_idx"].tolist()
        assert sorted(got) == want, f"epoch {epoch}"
    got = []
    for batch in torch.utils.data.DataLoader(TorchDataset(dsn, stored, "train"), batch_size=5, num_workers=2,
                                             collate_fn=collate, shuffle=True):
        got += batch["sample_idx"].tolist()
    assert sorted(got) == want
    # an item read in the parent first (its connection then open), then forked
    # workers: each must talk through a connection of its own, not the parent's
    md = TorchDataset(dsn, stored, "train")
    first = int(md[0]["sample_idx"])
    got = []
    for batch in torch.utils.data.DataLoader(md, batch_size=5, num_workers=2, collate_fn=collate):
        got += batch["sample_idx"].tolist()
    assert sorted(got) == want
    assert int(md[0]["sample_idx"]) == first, "and the parent goes on reading"
    # the same without DataLoader, deterministic: a forked child reads through
    # a session of its own, and the parent's session survives the child's exit
    parent_backend = md._ds.conn.info.backend_pid
    child_backend = _in_a_forked_child(lambda: (md[1], str(md._ds.conn.info.backend_pid))[1])
    assert child_backend.isdigit() and int(child_backend) != parent_backend, child_backend
    assert int(md[0]["sample_idx"]) == first and md._ds.conn.info.backend_pid == parent_backend


def _in_a_forked_child(fn) -> str:
    """fn() run in a forked child; what it returned (a str), or its error's repr."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            try:
                out = fn()
            except BaseException as e:
                out = repr(e)
            os.write(w, out.encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(child, 0)
    with os.fdopen(r) as f:
        return f.read()


def test_a_dataset_read_in_a_forked_child_reads_through_a_session_of_its_own(dsn, conn, stored):
    # a review: a plain Dataset wrapped in a user's torch Dataset, read in
    # forked DataLoader workers, shared the parent's connection: protocol
    # errors, and items silently swapped between workers
    ds = hg.Dataset(dsn, stored)
    assert len(ds) >= 3
    first = ds[0].sample_idx
    parent_backend = ds.conn.info.backend_pid
    got = _in_a_forked_child(lambda: " ".join(
        str(x) for x in (ds[1].sample_idx, ds[2].sample_idx, ds.conn.info.backend_pid)))
    one, two, child_backend = (int(x) for x in got.split())
    assert (one, two) == (ds.sample_indices[1], ds.sample_indices[2]) and child_backend != parent_backend
    # and the parent's session survived the child's exit
    assert ds[0].sample_idx == first and ds.conn.info.backend_pid == parent_backend
    # a Dataset made with the caller's connection is not ours to reopen: refused
    with psycopg.connect(dsn, autocommit=True) as given:
        on_given = hg.Dataset(given, stored)
        assert "RuntimeError" in _in_a_forked_child(lambda: str(on_given[0].sample_idx))
        assert on_given[0].sample_idx == first


def test_a_fork_during_a_pass_leaves_the_parents_pass_whole(dsn, stored):
    # a review: a child forked during a pass that dropped it (break, exit)
    # sent a cancel for the parent's COPY and read its rows off the shared
    # socket; the parent's pass then hung for ever.  A child that went on
    # with the pass failed both.  Now the child's copy of the pass is
    # refused, and dropping it touches nothing of the parent's.
    ds = hg.Dataset(dsn, stored)
    want = [int(i) for i in ds.sample_indices]
    got, said = [], []
    gen = iter(ds)
    for i, s in enumerate(gen):
        got.append(s.sample_idx)
        if i == 1:
            said.append(_in_a_forked_child(lambda: repr(next(gen))))
        if i == 3:
            said.append(_in_a_forked_child(lambda: (gen.close(), "dropped")[1]))
        time.sleep(0.01)
    assert got == want
    assert "RuntimeError" in said[0] and "begun in another process" in said[0], said[0]
    assert said[1] == "dropped"
    assert ds[0].sample_idx == want[0]


def test_a_dataset_closed_stays_closed(dsn, conn, stored):
    # a review: ds.conn.close() was undone at once (the connection found
    # closed was opened again); close() is the way, and it holds
    ds = hg.Dataset(dsn, stored)
    backend = ds.conn.info.backend_pid
    ds.close()
    assert ds.conn.closed
    with pytest.raises(psycopg.OperationalError):
        ds[0]
    for _ in range(50):         # its backend goes (as soon as the server reads the goodbye)
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()[0] == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"backend {backend} of a closed Dataset still there after 5 s")


def test_a_dataset_whose_session_was_lost_opens_a_new_one(dsn, conn, stored):
    # a review: after a server restart every later item failed, for ever,
    # with "the connection is closed": a training loop that caught the error
    # and began the epoch again could not go on
    ds = hg.Dataset(dsn, stored)
    first = ds[0].sample_idx
    conn.execute("SELECT pg_terminate_backend(%s)", (ds.conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        for _ in range(50):         # (the termination reaches the session within a moment)
            ds[0]
            time.sleep(0.1)
    assert ds[0].sample_idx == first


def test_a_pass_yields_what_len_says_while_a_job_still_writes(dsn, conn):
    """A user's review: len(ds) said 830 while a pass over a dataset still
    being written yielded 1,130 samples; a pass now yields the listed ones."""
    job = conn.execute("SELECT heimdall_gen.start_job('pyt_growing', 100000, 3, %s::jsonb)",
                       ('{"duration_ms": 10, "rx_count_min": 3, "rx_count_max": 3}',)).fetchone()[0]
    count_sql = ("SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                 "WHERE d.name = 'pyt_growing'")

    def wait_for_more_than(n):
        for _ in range(600):
            if conn.execute(count_sql).fetchone()[0] > n:
                return
            time.sleep(0.05)

    try:
        wait_for_more_than(0)
        ds = hg.Dataset(dsn, "pyt_growing")
        listed = list(ds.sample_indices)
        assert listed, "the job committed no sample in 30 s"
        wait_for_more_than(len(listed))     # more samples commit meanwhile
        streamed = [s.sample_idx for s in ds]
        assert streamed == listed and len(streamed) == len(ds)
        # the torch adapter too, in every DataLoader worker
        from heimdall_gen.torch import TorchIterableDataset, collate
        import torch
        adapter = TorchIterableDataset(dsn, "pyt_growing")
        counted = len(adapter)
        wait_for_more_than(counted)
        loader = torch.utils.data.DataLoader(adapter, batch_size=16, num_workers=2, collate_fn=collate)
        assert sum(len(b["sample_idx"]) for b in loader) == counted
        assert sum(len(b) for b in ds.batches(7)) == len(ds)
        ds.refresh()
        assert len(ds) > len(listed), "the job committed nothing more: the check above proved nothing"
        assert [s.sample_idx for s in ds] == list(ds.sample_indices)
    finally:
        conn.execute("SELECT heimdall_gen.cancel_job(%s, wait => true)", (job,))
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_growing')")


def test_connection_and_extension_errors_say_what_went_wrong(tmp_path, dsn, conn):
    """An outside review: hg.Dataset raised psycopg's 'connection is bad: No
    such file or directory' (no host, no port) and 'relation
    "heimdall_gen.datasets" does not exist' with a LINE 1 snippet, where the
    command says which server it tried and that the extension is missing."""
    import psycopg
    unreachable = f"host={tmp_path} port=1 user=postgres dbname=postgres"
    with pytest.raises(psycopg.OperationalError) as caught:
        hg.Dataset(unreachable, "x")
    assert isinstance(caught.value, hg.ConnectionFailed)
    assert str(caught.value).startswith(f"could not connect (dbname=postgres host={tmp_path} port=1): "), \
        str(caught.value)
    conn.execute("DROP DATABASE IF EXISTS pyt_noext_api")
    conn.execute("CREATE DATABASE pyt_noext_api")
    try:
        other = dsn.replace("dbname=postgres", "dbname=pyt_noext_api")
        assert other != dsn
        with pytest.raises(psycopg.ProgrammingError) as caught:
            hg.Dataset(other, "x")
        assert isinstance(caught.value, hg.ExtensionNotInstalled)
        assert str(caught.value) == ('the extension heimdall_gen is not installed in database "pyt_noext_api" '
                                     "(CREATE EXTENSION heimdall_gen installs it; or connect to the database "
                                     "that has it)")
        from heimdall_gen import sigmf
        with pytest.raises(hg.ExtensionNotInstalled):
            sigmf.export_sample(other, "x", 0, str(tmp_path / "out"))
    finally:
        conn.execute("DROP DATABASE pyt_noext_api WITH (FORCE)")


def test_torch_batches_of_the_adapter_are_what_len_counts_with_two_workers(dsn, stored):
    """An outside review: with DataLoader(num_workers=K, batch_size=B) each
    worker ends with its own partial batch, and a pass yielded more batches
    than len(loader) (OneCycleLR's total_steps, progress bars).  The adapter
    batching by itself yields exactly len() batches, in order, each sample once."""
    torch = pytest.importorskip("torch")
    from heimdall_gen.torch import TorchIterableDataset
    for split in (None, "train"):           # a split leaves gaps in sample_idx
        listed = [int(i) for i in hg.Dataset(dsn, stored, split).sample_indices]
        assert len(listed) % 7 != 0
        for drop_last in (False, True):
            adapter = TorchIterableDataset(dsn, stored, split, batch_size=7, drop_last=drop_last)
            kept = listed[:len(listed) // 7 * 7] if drop_last else listed
            assert len(adapter) == -(-len(kept) // 7)
            for workers in (0, 2):
                loader = torch.utils.data.DataLoader(adapter, batch_size=None, num_workers=workers)
                batches = [b["sample_idx"].tolist() for b in loader]
                assert len(loader) == len(batches) == len(adapter), (split, drop_last, workers)
                assert batches == [kept[i:i + 7] for i in range(0, len(kept), 7)], (split, drop_last, workers)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        TorchIterableDataset(dsn, stored, batch_size=0)
    with pytest.raises(ValueError, match="go with batch_size"):
        TorchIterableDataset(dsn, stored, drop_last=True)


def test_torch_pass_reads_through_one_connection(dsn, conn, stored, monkeypatch):
    """A pass of TorchIterableDataset opened two connections (its Dataset's,
    idle, and a second for the COPY): one per pass and DataLoader worker is
    enough, and it is closed when the pass ends, or is abandoned."""
    torch = pytest.importorskip("torch")
    from heimdall_gen.torch import TorchIterableDataset
    monkeypatch.setenv("PGAPPNAME", "hg_pass_probe")     # the adapter's sessions, told apart by libpq

    def sessions():
        return conn.execute("SELECT count(*) FROM pg_catalog.pg_stat_activity "
                            "WHERE application_name = 'hg_pass_probe'").fetchone()[0]

    def until_none():
        deadline = time.monotonic() + 10
        while sessions() and time.monotonic() < deadline:
            time.sleep(0.02)
        return sessions()

    for batch_size in (None, 3):
        adapter = TorchIterableDataset(dsn, stored, batch_size=batch_size)
        assert until_none() == 0, "the adapter keeps no connection between passes"
        passing = iter(adapter)
        first = next(passing)
        assert sessions() == 1, batch_size
        passing.close()                     # abandoned after one item
        assert until_none() == 0, batch_size
        every = list(adapter)               # and a whole pass still yields every sample
        assert len(every) == len(adapter)
        assert torch.equal(torch.as_tensor(every[0]["sample_idx"]), torch.as_tensor(first["sample_idx"]))
        assert until_none() == 0, batch_size


def test_torch_items_carry_every_numeric_label(dsn, stored):
    """An outside review: tx_power_dbm, mean_snr_db, antenna_gain_dbi,
    n_detected and content were missing from the torch items."""
    torch = pytest.importorskip("torch")
    from heimdall_gen.client import RX_LABELS, SAMPLE_LABELS
    from heimdall_gen.torch import collate, to_item
    samples = list(hg.Dataset(dsn, stored))[:3]
    items = [to_item(s) for s in samples]
    batch = collate(items)
    for s, item, row in zip(samples, items, range(3)):
        for k in SAMPLE_LABELS:
            v = s.labels[k]
            if isinstance(v, str):
                assert item[k] == v and batch[k][row] == v, k
            else:
                assert item[k].item() == v and batch[k][row].item() == v, k
        m = s.n_receivers
        for k in RX_LABELS:
            if k in ("rx_idx", "rx_name", "antenna"):       # the position in the row; text, in the Sample only
                continue
            assert item[k].tolist() == s.rx(k).tolist(), k
            assert batch[k][row, :m].tolist() == s.rx(k).tolist(), k
    assert batch["n_detected"].dtype == torch.int64 and batch["tx_power_dbm"].dtype == torch.float64


def test_torch_adapters_refresh_follows_a_growing_dataset(dsn, conn):
    """An outside review: the README pointed to refresh(), which only
    hg.Dataset had; the torch adapters now list the samples again too."""
    torch = pytest.importorskip("torch")
    from heimdall_gen.torch import TorchDataset, TorchIterableDataset
    from conftest import run_job
    run_job(conn, "pyt_refresh", 5, 8)
    try:
        items = TorchIterableDataset(dsn, "pyt_refresh")
        batched = TorchIterableDataset(dsn, "pyt_refresh", batch_size=4)
        mapped, mapped_read = TorchDataset(dsn, "pyt_refresh"), TorchDataset(dsn, "pyt_refresh")
        mapped_read[0]                          # its connection open: refresh() goes through it
        assert (len(items), len(batched), len(mapped), len(mapped_read)) == (5, 2, 5, 5)
        run_job(conn, "pyt_refresh", 5)         # extended
        assert len(list(items)) == 5, "a pass yields the list made before"
        for adapter in (items, batched, mapped, mapped_read):
            adapter.refresh()
        assert (len(items), len(batched), len(mapped), len(mapped_read)) == (10, 3, 10, 10)
        listed = [int(i) for i in hg.Dataset(dsn, "pyt_refresh").sample_indices]
        assert [it["sample_idx"] for it in items] == listed
        assert [b["sample_idx"].tolist() for b in batched] == [listed[:4], listed[4:8], listed[8:]]
        assert [mapped_read[i]["sample_idx"] for i in range(10)] == listed
        assert [mapped[i]["sample_idx"] for i in range(10)] == listed
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_refresh')")


def sort_nodes_over_iq(plan):
    """The Sort nodes of an EXPLAIN (VERBOSE, FORMAT JSON) plan whose rows carry the IQ (heimdall_gen.iq())."""
    found = []
    if plan["Node Type"] == "Sort" and any("iq(" in out for out in plan.get("Output", [])):
        found.append(plan)
    for sub in plan.get("Plans", []):
        found += sort_nodes_over_iq(sub)
    return found


def test_a_new_virtual_dataset_is_read_without_sorting_its_iq(dsn, conn):
    # a review: before autovacuum analyzed a new dataset, the read was planned
    # as one Sort above heimdall_gen.iq(), regenerating every sample's IQ
    # into the sort before the first row came (180 MB on disk for 30 samples)
    from conftest import SMALL, run_job
    conn.execute("ALTER TABLE heimdall_gen.samples SET (autovacuum_enabled = off)")
    conn.execute("ALTER TABLE heimdall_gen.receptions SET (autovacuum_enabled = off)")
    try:
        run_job(conn, "pyt_plan_virtual", 12, 7, SMALL[:-1] + ', "iq_storage": "virtual"}')
        ds = hg.Dataset(dsn, "pyt_plan_virtual")
        for sql in (ds._select_sql(""), ds._select_sql(f"AND r.sample_idx = {int(ds.sample_indices[3])}")):
            plan = conn.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]
            assert sort_nodes_over_iq(plan) == [], plan
        # the same rows, in the same order: (sample_idx, rx_idx) as stored, each sample as read alone
        streamed = list(ds)
        assert [(s.sample_idx, r["rx_idx"]) for s in streamed for r in s.receptions] == [
            tuple(r) for r in conn.execute(
                "SELECT sample_idx, rx_idx FROM heimdall_gen.receptions WHERE dataset_id = %s ORDER BY 1, 2",
                (ds.dataset_id,))]
        for s in streamed:
            alone = ds.sample(s.sample_idx)
            assert alone.labels == s.labels and alone.receptions == s.receptions
            assert alone.iq.tobytes() == s.iq.tobytes()
    finally:
        conn.execute("ALTER TABLE heimdall_gen.samples RESET (autovacuum_enabled)")
        conn.execute("ALTER TABLE heimdall_gen.receptions RESET (autovacuum_enabled)")


def test_a_connection_given_is_free_again_after_a_whole_pass(dsn, stored):
    # the README: with a connection given, index the Dataset between passes;
    # a pass read to its end left the connection busy with the COPY
    import psycopg
    with psycopg.connect(dsn, autocommit=True) as own:
        ds = hg.Dataset(own, stored)
        for read in (lambda: list(ds), lambda: list(ds.batches(7))):
            read()
            assert ds[3].sample_idx == ds.sample_indices[3]
            assert own.execute("SELECT 1").fetchone() == (1,)


def test_a_pass_over_a_dataset_dropped_meanwhile_says_it_is_gone(dsn, conn):
    # a review: len(ds) said 5 while list(ds) and ds.batches() were silently
    # empty, and stayed so once a dataset of that name was made again (read by the old id)
    import psycopg
    from conftest import run_job
    run_job(conn, "pyt_dropped", 5, 3)
    with psycopg.connect(dsn, autocommit=True) as own:
        datasets = [hg.Dataset(dsn, "pyt_dropped"), hg.Dataset(own, "pyt_dropped")]
        assert [len(list(ds)) for ds in datasets] == [5, 5]
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_dropped')")
        for ds in datasets:
            assert len(ds) == 5         # the list made before; a pass reads anew
            for read in (lambda: list(ds), lambda: next(ds.batches(2)), lambda: ds[0], ds.refresh):
                with pytest.raises(LookupError, match='dataset "pyt_dropped" does not exist'):
                    read()
        run_job(conn, "pyt_dropped", 3, 4)
        for ds in datasets:
            for read in (lambda: list(ds), lambda: next(ds.batches(2)), lambda: ds[0], ds.refresh):
                with pytest.raises(LookupError, match='dataset "pyt_dropped" does not exist.*another'):
                    read()
        assert len(list(hg.Dataset(dsn, "pyt_dropped"))) == 3
    conn.execute("SELECT heimdall_gen.drop_dataset('pyt_dropped')")


def test_torch_adapters_read_the_dataset_they_were_made_for(dsn, conn):
    # a review: the adapters found the dataset by name at every pass, worker
    # and refresh, so that once another session dropped it and made another
    # of that name, they read that one (len() 10, items of another seed and
    # shape) with no error.  They raise Dataset's LookupError instead.
    torch = pytest.importorskip("torch")
    from heimdall_gen.torch import TorchDataset, TorchIterableDataset, collate
    from conftest import run_job
    run_job(conn, "pyt_remade", 5, 8)
    try:
        items = TorchIterableDataset(dsn, "pyt_remade")
        batched = TorchIterableDataset(dsn, "pyt_remade", batch_size=2)
        mapped, mapped_read = TorchDataset(dsn, "pyt_remade"), TorchDataset(dsn, "pyt_remade")
        mapped_read[0]                          # its connection open
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_remade')")
        run_job(conn, "pyt_remade", 3, 9)
        gone = 'dataset "pyt_remade" does not exist.*another'
        for read in (lambda: list(items), lambda: list(batched), lambda: mapped[0], lambda: mapped_read[0],
                     items.refresh, batched.refresh, mapped.refresh, mapped_read.refresh):
            with pytest.raises(LookupError, match=gone):
                read()
        with pytest.raises(LookupError, match=gone):
            list(torch.utils.data.DataLoader(items, batch_size=2, num_workers=2, collate_fn=collate))
        assert len(TorchIterableDataset(dsn, "pyt_remade")) == 3      # a new adapter reads the new one
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_remade')")


def test_a_renamed_dataset_is_still_read_by_its_id(dsn, conn):
    # a review: after a superuser's rename, a pass said the dataset was
    # 'dropped since' while ds[0] still read.  A Dataset (and a torch
    # adapter) follows the dataset_id it was made for, as its reads do.
    from conftest import run_job
    run_job(conn, "pyt_renamed", 4, 6)
    try:
        ds = hg.Dataset(dsn, "pyt_renamed")
        before = [s.sample_idx for s in ds]
        adapters = []
        try:
            from heimdall_gen.torch import TorchDataset, TorchIterableDataset
            adapters = [TorchIterableDataset(dsn, "pyt_renamed"), TorchDataset(dsn, "pyt_renamed")]
        except ImportError:
            pass
        conn.execute("UPDATE heimdall_gen.datasets SET name = 'pyt_renamed_2' WHERE name = 'pyt_renamed'")
        assert [s.sample_idx for s in ds] == before and ds[0].sample_idx == before[0]
        ds.refresh()
        assert len(ds) == 4 and [len(b) for b in ds.batches(3)] == [3, 1]
        for adapter in adapters:
            adapter.refresh()
            assert len(adapter) == 4
        if adapters:
            assert [it["sample_idx"] for it in adapters[0]] == before
            assert [adapters[1][i]["sample_idx"] for i in range(4)] == before
        conn.execute("SELECT heimdall_gen.drop_dataset('pyt_renamed_2')")
        with pytest.raises(LookupError, match='dataset "pyt_renamed" does not exist .dropped since'):
            list(ds)
    finally:
        conn.execute("SELECT heimdall_gen.drop_dataset(name) FROM heimdall_gen.datasets "
                     "WHERE name IN ('pyt_renamed', 'pyt_renamed_2')")
