"""Train / val / test splits: ratios within binomial tolerance, a function of (seed, index) that survives extending a dataset."""
import math

import heimdall_gen as hg
from conftest import run_job


def counts(conn, name):
    return dict(conn.execute("SELECT s.split, count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                             "USING (dataset_id) WHERE d.name = %s GROUP BY 1", (name,)).fetchall())


def test_ratios_within_binomial_tolerance(conn):
    # labels only (virtual): many samples cheaply
    ratios = [0.6, 0.25, 0.15]
    run_job(conn, "pyt_split", 600, 11,
            '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 5, "iq_storage": "virtual", "split_ratios": [0.6, 0.25, 0.15]}')
    c = counts(conn, "pyt_split")
    n = sum(c.values())
    assert n == 600 and set(c) <= {"train", "val", "test"}
    for name, p in zip(("train", "val", "test"), ratios):
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(c.get(name, 0) - n * p) <= 4 * sigma, (name, c, n * p, sigma)


def test_split_is_a_function_of_seed_and_index_and_survives_extension(dsn, conn):
    run_job(conn, "pyt_ext", 20, 99)
    before = conn.execute("SELECT s.sample_idx, s.split FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d "
                          "USING (dataset_id) WHERE d.name = 'pyt_ext' ORDER BY 1").fetchall()
    run_job(conn, "pyt_ext", 20)                     # extend: same parameters, next attempts
    after = conn.execute("SELECT s.sample_idx, s.split, heimdall_gen.split_of(d.seed, s.sample_idx, d.params -> 'split_ratios') "
                         "FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) "
                         "WHERE d.name = 'pyt_ext' ORDER BY 1").fetchall()
    assert len(after) == 40
    assert [(a, b) for a, b, _ in after[:20]] == before
    assert all(b == c for _, b, c in after)
    # the client filters by it: the three splits partition the dataset
    parts = {sp: set(int(i) for i in hg.Dataset(dsn, "pyt_ext", sp).sample_indices) for sp in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == 40
    assert set().union(*parts.values()) == {a for a, _, _ in after}
    for sp, idx in parts.items():
        assert all(s.labels["split"] == sp for s in hg.Dataset(dsn, "pyt_ext", sp))
        assert idx == {a for a, b, _ in after if b == sp}
