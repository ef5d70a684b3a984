"""Progress bars (tqdm) that a Ctrl-C cannot turn into a traceback.

A KeyboardInterrupt raised inside tqdm() leaves an object without the
attributes its __del__ reads: at exit Python then prints "Exception ignored
in tqdm.__del__" and a traceback under the command's one-line message.  So a
bar is made with SIGINT deferred (and SIGTERM, SIGHUP where they unwind as
Ctrl-C does), and such a signal meanwhile is raised as soon as the bar is
whole.  And without tqdm's monitor thread, which closing the last
bar joins: a Ctrl-C in that join is printed from where no one can catch it.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def _signals_deferred(caught: list):
    # Python runs signal handlers in the main thread only, and only there may
    # it change them: elsewhere there is nothing to defer.  SIGINT, and
    # SIGTERM and SIGHUP where heimdall-gen's main() made them raise
    # Terminated as Ctrl-C raises KeyboardInterrupt: a SIGTERM in tqdm()
    # left the same half-made bar and traceback at exit (a review); those
    # killing the process or ignored are left so
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    deferred = {}
    try:
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and callable(signal.getsignal(signum)):
                deferred[signum] = signal.signal(signum, lambda signum, frame: caught.append(signum))
        yield
    finally:
        # blocked while they are put back: a Ctrl-C after the first was put
        # back raised in the middle and left the others deferred for good
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, deferred) if deferred else None
        try:
            for signum, previous in deferred.items():
                signal.signal(signum, previous)
        finally:
            if blocked is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _Bar(tqdm):
    # the monitor only corrects the refresh rate of bars that stall: not needed
    # here, and a subclass's setting leaves the caller's own tqdm bars as they were
    monitor_interval = 0


def close_all_bars() -> None:
    """Ends the line of every bar of this module still open, before a
    message: also one a signal kept from its caller (made, but interrupted
    before the caller held it), which was otherwise closed, and drawn
    again, when collected, after the message (seen once in CI)."""
    for bar in list(_Bar._instances):
        if isinstance(bar, _Bar):
            bar.close()


def progress_bar(**kwargs):
    """tqdm(**kwargs), made whole even if Ctrl-C (or SIGTERM, SIGHUP) comes meanwhile."""
    caught: list = []
    with _signals_deferred(caught):
        bar = _Bar(**kwargs)
    if caught:
        # to whatever handled it before (KeyboardInterrupt, Terminated); if
        # that raises, the bar, never handed to the caller, ends its line
        # here, before the message the signal leads to (a program's own
        # handler that does not raise keeps the bar going)
        try:
            signal.raise_signal(caught[0])
        except BaseException:
            bar.close()
            raise
    return bar
