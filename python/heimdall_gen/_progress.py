"""Progress bars (tqdm) that a Ctrl-C cannot turn into a traceback.

A KeyboardInterrupt raised inside tqdm() leaves an object without the
attributes its __del__ reads: at exit Python then prints "Exception ignored
in tqdm.__del__" and a traceback under the command's one-line message.  So a
bar is made with SIGINT deferred, and a Ctrl-C meanwhile is raised as soon as
the bar is whole.  And without tqdm's monitor thread, which closing the last
bar joins: a Ctrl-C in that join is printed from where no one can catch it.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def _sigint_deferred():
    # Python runs signal handlers in the main thread only, and only there may
    # it change them: elsewhere there is nothing to defer
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        # to whatever handled it before (KeyboardInterrupt, by default)
        signal.raise_signal(signal.SIGINT)


class _Bar(tqdm):
    # the monitor only corrects the refresh rate of bars that stall: not needed
    # here, and a subclass's setting leaves the caller's own tqdm bars as they were
    monitor_interval = 0


def progress_bar(**kwargs):
    """tqdm(**kwargs), made whole even if Ctrl-C is pressed meanwhile."""
    with _sigint_deferred():
        return _Bar(**kwargs)
