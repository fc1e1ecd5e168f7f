"""Leaving cleanly, SSH hangups included (a mixin of DamonApp).

A dead terminal can block the event loop itself (Textual's output queue fills once
writes fail), so neither asyncio signal handlers nor app timers may run: the
handlers below are plain signal handlers plus a watchdog thread, and if the
graceful exit has not finished after EXIT_GRACE_S, the process stops the backend
and exits hard (dolphie #101: a TUI left behind burned a core).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from ..backends.base import Backend

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object


class ExitHandling(_Base):
    """Stop the backend exactly once, and leave on SIGHUP/SIGTERM or a lost tty."""

    EXIT_GRACE_S = 3.0
    backend: Backend

    def _init_exit_handling(self) -> None:
        self._backend_stopped = False
        self._stop_lock = threading.Lock()
        self._leaving = False

    def _install_exit_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, _frame: object) -> None:
            self._leave(loop, 128 + signum)

        for signum in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(signum, on_signal)
        threading.Thread(target=self._watch_terminal, args=(loop,), name="damontui-tty",
                         daemon=True).start()  # fmt: skip

    def _leave(self, loop: asyncio.AbstractEventLoop, code: int) -> None:
        if self._leaving:
            return
        self._leaving = True

        def hard_exit() -> None:
            self.stop_backend(timeout=self.EXIT_GRACE_S)
            os._exit(code)

        timer = threading.Timer(self.EXIT_GRACE_S, hard_exit)
        timer.daemon = True
        timer.start()
        loop.call_soon_threadsafe(self._exit_now, code)

    def _exit_now(self, code: int) -> None:
        self.stop_backend()
        self.exit(return_code=code)

    def _watch_terminal(self, loop: asyncio.AbstractEventLoop) -> None:
        """Leave when the terminal is gone: a hung-up tty polls as HUP/ERR (this works
        whether or not it is our controlling terminal)."""
        poller = select.poll()
        poller.register(sys.__stdout__.fileno() if sys.__stdout__ else 1, select.POLLOUT)
        lost = select.POLLHUP | select.POLLERR | select.POLLNVAL
        while not self._leaving:
            time.sleep(1.0)
            if any(events & lost for _, events in poller.poll(0)):
                self._leave(loop, 128 + signal.SIGHUP)

    def stop_backend(self, timeout: float = -1) -> None:
        """Stop the backend once (the UI thread and the hard-exit timer may race; the
        timer gives up waiting after `timeout` seconds rather than hang)."""
        if not self._stop_lock.acquire(timeout=timeout):
            return
        try:
            if not self._backend_stopped:
                self._backend_stopped = True
                self.backend.stop()
        finally:
            self._stop_lock.release()

    def on_unmount(self) -> None:
        self.stop_backend()
