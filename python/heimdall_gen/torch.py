"""PyTorch adapters (needs torch; imported only through ``heimdall_gen.torch``).

    TorchIterableDataset(dsn, name, split, batch_size=B)  streams collated
        batches of B samples, for DataLoader(ds, batch_size=None,
        num_workers=K): worker k of K streams batches k, k+K, k+2K ... through
        its own connection and binary COPY, so a pass yields len(ds) batches,
        in order, every sample of the split exactly once.
    TorchIterableDataset(dsn, name, split)  streams single items (batched by
        the DataLoader): worker k of K streams the samples with
        sample_idx % K == k, every sample exactly once, but each worker ends
        with a partial batch of its own, so with num_workers=K a pass yields
        up to K-1 batches more than len(DataLoader) counts (and drop_last
        drops up to one partial batch per worker).  Use batch_size= where
        len(loader) matters (OneCycleLR's total_steps, progress bars).
    TorchDataset(dsn, name, split)          map-style: one query per item.
    collate                                 pads the receivers of a batch to its
        largest count: {"iq": complex64 [B, R, n], "mask": bool [B, R], labels...}

Each item is a dict: "iq" (complex64 tensor [n_receivers, n]), "sample_idx",
every numeric label as a tensor: per sample float64 tx_lat, tx_lon,
tx_alt_m, tx_power_dbm, frequency_hz, gdop, mean_snr_db and int64
n_receivers, n_detected; per receiver float64 rx_lat, rx_lon, rx_alt_m,
antenna_gain_dbi, distance_m, delay_s, rx_power_dbm, snr_db,
freq_offset_hz and bool signal_present; and the text labels as str
("modulation", "content", "split"; a batch has a list of them).  A
receiver's rx_name and antenna are in the Sample (Dataset) only.

refresh() on either adapter lists the samples again (a job added some), so
that len() follows a growing dataset; DataLoader workers made after it see
the new list (with persistent_workers=True, make a new DataLoader).

Either adapter is bound, as a Dataset is, to the dataset_id found when it
was made: its passes, items, workers and refresh() read that dataset (by
id, renamed or not), and raise Dataset's LookupError once it is dropped,
whether or not another dataset was made since under its name.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.utils.data import Dataset as _MapDataset
from torch.utils.data import IterableDataset, get_worker_info

from .client import Dataset, Sample

_RX_FLOAT = ("rx_lat", "rx_lon", "rx_alt_m", "antenna_gain_dbi", "distance_m", "delay_s", "rx_power_dbm", "snr_db",
             "freq_offset_hz")
_TX_FLOAT = ("tx_lat", "tx_lon", "tx_alt_m", "tx_power_dbm", "frequency_hz", "gdop", "mean_snr_db")
_TX_INT = ("n_receivers", "n_detected")
_TX_TEXT = ("modulation", "content", "split")


def to_item(s: Sample) -> dict:
    """A Sample as tensors (the module's docstring lists the keys)."""
    item = {"sample_idx": s.sample_idx, "iq": torch.from_numpy(s.iq),
            "signal_present": torch.tensor(s.rx("signal_present"), dtype=torch.bool)}
    for k in _TX_TEXT:
        item[k] = s.labels[k]
    for k in _RX_FLOAT:
        item[k] = torch.tensor(s.rx(k), dtype=torch.float64)
    for k in _TX_FLOAT:
        item[k] = torch.tensor(s.labels[k], dtype=torch.float64)
    for k in _TX_INT:
        item[k] = torch.tensor(s.labels[k], dtype=torch.int64)
    return item


def _dataset(adapter) -> Dataset:
    """A Dataset (its own connection) of the adapter's dataset: found by name
    the first time, by the dataset_id then found ever after.  Found by name
    each time, a dataset dropped and made again under that name by another
    session was read as if the same: len() of the old one, items of the new,
    with no error (a review)."""
    return Dataset(adapter.dsn, adapter.name, adapter.split, _dataset_id=adapter._dataset_id)


class TorchIterableDataset(IterableDataset):
    """Streams a split; safe with DataLoader(num_workers=K): each worker opens its own connection.

    batch_size=B: yields collate_fn (default collate) batches of B samples
    in sample_idx order, the last one shorter unless drop_last; use it with
    DataLoader(ds, batch_size=None, num_workers=K).  len() is the number of
    batches, and a pass yields exactly that many with any K: workers take
    whole batches in turn (batch j by worker j % K), so the DataLoader hands
    them on in order and every sample comes exactly once.

    batch_size=None (the default): yields single items, and len() is the
    number of samples.  With DataLoader(ds, batch_size=B, num_workers=K),
    each worker forms its own batches from its share (sample_idx % K), ends
    with its own partial batch, and a pass yields up to K-1 batches more
    than len(loader) says; with drop_last, up to one partial batch per
    worker is dropped.  Every sample still comes exactly once.

    Every pass yields the samples listed when it was made (or at refresh()),
    however many a job still writing the dataset commits since, in every worker."""

    def __init__(self, dsn: str, name: str, split=None, batch_size=None, drop_last: bool = False,
                 collate_fn=None):
        if not isinstance(dsn, str):
            raise TypeError("pass a DSN string: each DataLoader worker opens its own connection")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, not {batch_size!r}")
        if batch_size is None and (drop_last or collate_fn is not None):
            raise ValueError("drop_last and collate_fn go with batch_size (without it, give them to the DataLoader)")
        self.dsn, self.name, self.split = dsn, name, split
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = drop_last
        self.collate_fn = collate_fn if collate_fn is not None else collate
        self._dataset_id = None         # found by name once, then read by that id: see refresh()
        self.refresh()

    def refresh(self) -> None:
        """Lists the samples again (a job added some): len() and later passes follow."""
        listing = _dataset(self)
        try:
            indices = listing.sample_indices
            self._dataset_id = listing.dataset_id
        finally:
            listing.close()
        if self.batch_size is None:
            self._len = len(indices)
            # a job commits a dataset's samples in sample_idx order: the last
            # listed one bounds every pass to this list (each worker lists
            # anew, at its own moment: a reviewer's finding)
            self._last = int(indices[-1]) if len(indices) else -1
            return
        n_batches = len(indices) // self.batch_size if self.drop_last else -(-len(indices) // self.batch_size)
        kept = indices[:n_batches * self.batch_size]
        self._len = n_batches
        self._last = int(kept[-1]) if len(kept) else -1
        # the first sample_idx of each batch: a sample's batch is the number
        # of these at or below its sample_idx, less one (width_bucket in SQL,
        # searchsorted here), whatever the gaps a split leaves in sample_idx
        self._batch_starts = np.ascontiguousarray(kept[::self.batch_size], dtype=np.int64)

    def __len__(self):
        return self._len

    def __iter__(self):
        ds = _dataset(self)         # (an empty list too: a dataset gone is said so, not read as empty)
        if self._last < 0:
            ds.close()
            return
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        where = f"AND r.sample_idx <= {self._last}"
        passing = None      # the pass, on ds's own connection: ended before that is closed
        try:
            if self.batch_size is None:
                if workers > 1:
                    where += f" AND r.sample_idx % {int(workers)} = {int(worker)}"
                passing = ds._pass(where, on_own_connection=True)
                for s in passing:
                    yield to_item(s)
                return
            if workers > 1:
                # whole batches in turn: this worker's are those whose number is worker modulo workers
                starts = "{" + ",".join(str(int(i)) for i in self._batch_starts) + "}"
                where += (f" AND (pg_catalog.width_bucket(r.sample_idx, '{starts}'::bigint[]) - 1)"
                          f" % {int(workers)} = {int(worker)}")
            batch, batch_number = [], None
            passing = ds._pass(where, on_own_connection=True)
            for s in passing:
                number = int(np.searchsorted(self._batch_starts, s.sample_idx, side="right")) - 1
                if batch and number != batch_number:
                    yield self.collate_fn(batch)
                    batch = []
                batch_number = number
                batch.append(to_item(s))
            if batch:
                yield self.collate_fn(batch)
        finally:
            if passing is not None:
                passing.close()
            ds.close()


class TorchDataset(_MapDataset):
    """Map-style: item i is the i-th sample of the split (one query each)."""

    def __init__(self, dsn: str, name: str, split=None):
        self.dsn, self.name, self.split = dsn, name, split
        self._ds = None
        self._dataset_id = None         # found by name once, then read by that id: see refresh()
        self.refresh()

    def refresh(self) -> None:
        """Lists the samples again (a job added some): len() and items follow."""
        if self._ds is not None:
            self._ds.refresh()
            self._len = len(self._ds)
            return
        counted = _dataset(self)
        try:
            self._len = len(counted)
            self._dataset_id = counted.dataset_id
        finally:
            counted.close()

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        if self._ds is None:
            self._ds = _dataset(self)
        return to_item(self._ds[i])

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_ds"] = None
        return d


def collate(items):
    """Pads receivers to the batch's largest count; "mask" marks the real ones."""
    b = len(items)
    if b == 0:
        raise ValueError("collate needs at least one item (a batch of no sample has no shape)")
    r = max(it["iq"].shape[0] for it in items)
    n = items[0]["iq"].shape[1]
    out = {"sample_idx": torch.tensor([it["sample_idx"] for it in items], dtype=torch.int64),
           "iq": torch.zeros((b, r, n), dtype=torch.complex64),
           "mask": torch.zeros((b, r), dtype=torch.bool)}
    for k in _TX_TEXT:
        out[k] = [it[k] for it in items]
    for k in _RX_FLOAT:
        out[k] = torch.full((b, r), float("nan"), dtype=torch.float64)
    out["signal_present"] = torch.zeros((b, r), dtype=torch.bool)
    for i, it in enumerate(items):
        m = it["iq"].shape[0]
        out["iq"][i, :m] = it["iq"]
        out["mask"][i, :m] = True
        out["signal_present"][i, :m] = it["signal_present"]
        for k in _RX_FLOAT:
            out[k][i, :m] = it[k]
    for k in _TX_FLOAT + _TX_INT:
        out[k] = torch.stack([it[k] for it in items])
    return out


__all__ = ["TorchIterableDataset", "TorchDataset", "collate", "to_item", "np"]
