"""A stop signal that lands while the recorder's main thread holds its queue's lock.

Signal handlers run in the main thread between two bytecodes, and the recorder's main
thread spends its time in ``queue.get()``, which holds the queue's lock around its
bookkeeping. A handler that put to the queue (or set an Event) there waited on that
lock forever: a SIGTERM'd ``damontui record`` hung now and then (seen once in the 7.2
guest: still running 60 s after SIGTERM). The scenario runs in a child process so the
old behaviour fails by timeout instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import signal
    from damontui.record.recorder import Recorder

    class Backend:
        info = None
        def start(self, on_snapshot, on_error): pass
        def stop(self): pass

    class Writer:
        name, parts, bytes_written = "w", [], 0
        def write(self, snap, info): pass
        def close(self): pass

    r = Recorder(Backend(), Writer())
    r.install_signals()
    with r._queue.mutex:  # where queue.get() is between its wait and its return
        signal.raise_signal(signal.SIGTERM)
    result = r.run()  # ends at once: the signal was taken
    print("stopped by", result.stopped_by)
    """
)


def test_a_stop_signal_inside_the_queue_lock_ends_the_record() -> None:
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError("the signal handler waited on the queue's lock (deadlock)") from e
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stopped by SIGTERM"
