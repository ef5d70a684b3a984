"""heimdall_gen: the Python client of the heimdall_gen PostgreSQL extension.

    Dataset        a dataset's samples (labels + IQ), indexable and streamed in
                   batches through binary COPY
    connect        a connection; ConnectionFailed (a psycopg.OperationalError)
                   names where it was tried, ExtensionNotInstalled (a
                   psycopg.ProgrammingError) the database without heimdall_gen
    sigmf          SigMF export and reading an export back
    torch          a PyTorch adapter (imported only on demand: needs torch)
    plot           one figure of a sample for a direction-finding engineer
    cli            the heimdall-gen command
"""
__version__ = "0.9.0"
__all__ = ["Dataset", "Sample", "connect", "ConnectionFailed", "ExtensionNotInstalled", "__version__"]


def __getattr__(name):
    # Imported when first asked for: the client brings numpy, and the
    # heimdall-gen command, which imports this package first, must be able to
    # take a Ctrl-C quietly from its first statement (cli.py); torch is
    # optional and slow to import.
    import importlib
    if name in ("Dataset", "Sample"):
        return getattr(importlib.import_module(".client", __name__), name)
    if name in ("connect", "ConnectionFailed", "ExtensionNotInstalled"):
        return getattr(importlib.import_module("._connection", __name__), name)
    if name == "torch":
        return importlib.import_module(".torch", __name__)
    raise AttributeError(name)
