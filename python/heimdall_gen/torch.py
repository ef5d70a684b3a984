"""PyTorch adapters (needs torch; imported only through ``heimdall_gen.torch``).

    TorchIterableDataset(dsn, name, split)  streams; with DataLoader(num_workers=K)
        worker k of K streams the samples with sample_idx % K == k through its
        own connection and binary COPY, so every sample of the split comes
        exactly once per epoch.
    TorchDataset(dsn, name, split)          map-style: one query per item.
    collate                                 pads the receivers of a batch to its
        largest count: {"iq": complex64 [B, R, n], "mask": bool [B, R], labels...}

Each item is a dict: "iq" (complex64 tensor [n_receivers, n]), "sample_idx",
and the float labels as tensors (per receiver: "delay_s", "rx_lat", ...).
"""
from __future__ import annotations

import os
import weakref

import numpy as np
import torch
from torch.utils.data import Dataset as _MapDataset
from torch.utils.data import IterableDataset, get_worker_info

from .client import Dataset, Sample

_RX_FLOAT = ("rx_lat", "rx_lon", "rx_alt_m", "distance_m", "delay_s", "rx_power_dbm", "snr_db", "freq_offset_hz")
_TX_FLOAT = ("tx_lat", "tx_lon", "tx_alt_m", "frequency_hz", "gdop")


def to_item(s: Sample) -> dict:
    item = {"sample_idx": s.sample_idx, "iq": torch.from_numpy(s.iq),
            "signal_present": torch.tensor(s.rx("signal_present"), dtype=torch.bool),
            "modulation": s.labels["modulation"]}
    for k in _RX_FLOAT:
        item[k] = torch.tensor(s.rx(k), dtype=torch.float64)
    for k in _TX_FLOAT:
        item[k] = torch.tensor(s.labels[k], dtype=torch.float64)
    return item


class TorchIterableDataset(IterableDataset):
    """Streams a split; safe with DataLoader(num_workers=K): each worker opens its own connection.

    Every pass yields the samples listed when it was made (len()), however
    many a job still writing the dataset commits since, in every worker."""

    def __init__(self, dsn: str, name: str, split=None):
        if not isinstance(dsn, str):
            raise TypeError("pass a DSN string: each DataLoader worker opens its own connection")
        self.dsn, self.name, self.split = dsn, name, split
        listing = Dataset(dsn, name, split)
        try:
            self._len = len(listing)
            # a job commits a dataset's samples in sample_idx order: the last
            # listed one bounds every pass to this list (each worker lists
            # anew, at its own moment: a reviewer's finding)
            self._last = int(listing.sample_indices[-1]) if self._len else -1
        finally:
            listing.conn.close()

    def __len__(self):
        return self._len

    def __iter__(self):
        if self._last < 0:
            return
        ds = Dataset(self.dsn, self.name, self.split)
        info = get_worker_info()
        where = f"AND r.sample_idx <= {self._last}"
        if info is not None and info.num_workers > 1:
            where += f" AND r.sample_idx % {int(info.num_workers)} = {int(info.id)}"
        try:
            for s in ds.stream(where):
                yield to_item(s)
        finally:
            ds.conn.close()


# A connection is one process's: DataLoader workers are forked, and a worker
# that inherited a TorchDataset's open connection (opened by an item read in
# the parent before) shared its socket with the parent, which corrupts the
# protocol for both.  So a forked child forgets every TorchDataset's
# inherited connection at once, while it is the only thread there, and
# opens its own on first use.  Nothing is done in the parent, whose other
# threads may be using their connections as it forks (closing one under
# them crashed the process).  One hook for all, registered once:
# os.register_at_fork cannot take one back.
_map_datasets = weakref.WeakSet()


def _forget_inherited_connections():
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for dataset in list(_map_datasets):
            dataset._forget_inherited_connection(devnull)
    finally:
        os.close(devnull)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class TorchDataset(_MapDataset):
    """Map-style: item i is the i-th sample of the split (one query each)."""

    def __init__(self, dsn: str, name: str, split=None):
        self.dsn, self.name, self.split = dsn, name, split
        self._ds = None
        counted = Dataset(dsn, name, split)
        try:
            self._len = len(counted)
        finally:
            counted.conn.close()
        _map_datasets.add(self)

    def _forget_inherited_connection(self, devnull: int):
        inherited, self._ds = self._ds, None
        if inherited is None:
            return
        # The socket is the parent's session: this copy of it now points at
        # /dev/null, so that closing or finalising the inherited connection
        # here (libpq says goodbye to the server) never reaches the parent's.
        try:
            fd = inherited.conn.pgconn.socket
        except Exception:       # closed or broken: no socket left to protect
            return
        if fd >= 0:
            os.dup2(devnull, fd)

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        if self._ds is None:
            self._ds = Dataset(self.dsn, self.name, self.split)
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
           "mask": torch.zeros((b, r), dtype=torch.bool),
           "modulation": [it["modulation"] for it in items]}
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
    for k in _TX_FLOAT:
        out[k] = torch.stack([it[k] for it in items])
    return out


__all__ = ["TorchIterableDataset", "TorchDataset", "collate", "to_item", "np"]
