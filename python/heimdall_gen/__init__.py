"""heimdall_gen: the Python client of the heimdall_gen PostgreSQL extension.

    Dataset        a dataset's samples (labels + IQ), indexable and streamed in
                   batches through binary COPY
    sigmf          SigMF export and reading an export back
    torch          a PyTorch adapter (imported only on demand: needs torch)
    plot           one figure of a sample for a direction-finding engineer
    cli            the heimdall-gen command
"""
from .client import Dataset, Sample, connect

__version__ = "0.6.0"
__all__ = ["Dataset", "Sample", "connect", "__version__"]


def __getattr__(name):
    # heimdall_gen.torch only when asked for: torch is optional and slow to import
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(name)
