"""The remote end of `--remote`: `damontui record -o - --stream` reads control
requests from stdin (one JSON object per line) while it streams frames on stdout.

stdin closing means the viewer (ssh) went away: the record ends cleanly, so no
backend (or kdamond) is left running behind a dropped connection. Without
--allow-tuning every change request is refused and the refusal travels back
as a note frame the viewer shows.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from ..backends.base import Backend, BackendError
from ..model import ValidationError
from ..record.codec import PayloadError

if TYPE_CHECKING:
    from ..record.recorder import Recorder
    from ..record.writer import RecordWriter


class StreamControl:
    def __init__(
        self,
        backend: Backend,
        writer: RecordWriter,
        recorder: Recorder,
        allow_tuning: bool = False,
        stdin: TextIO | None = None,
    ) -> None:
        self.backend = backend
        self.writer = writer
        self.recorder = recorder
        self.allow_tuning = allow_tuning
        self.stdin = stdin or sys.stdin
        self._thread = threading.Thread(target=self._loop, name="damontui-stream-control",
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        try:
            for line in self.stdin:
                line = line.strip()
                if line:
                    self._handle(line)
        except (OSError, ValueError):
            pass
        self.recorder.stop("stream closed")

    def _reply(self, request_id: object, ok: bool, text: str) -> None:
        try:
            self.writer.note({"id": request_id, "ok": ok, "text": text})
        except (OSError, ValueError):
            self.recorder.stop("stream closed")

    def _handle(self, line: str) -> None:
        try:
            request: Any = json.loads(line)
        except ValueError:
            self._reply(None, False, "request is not JSON")
            return
        if not isinstance(request, dict):
            self._reply(None, False, "request is not a JSON object")
            return
        rid, op = request.get("id"), request.get("op")
        if op == "ping":
            self._reply(rid, True, "pong")
            return
        handlers = {"set_schemes": self._set_schemes, "set_attrs": self._set_attrs,
                    "set_targets": self._set_targets}  # fmt: skip
        if op not in handlers:
            self._reply(rid, False, f"unknown op {op!r}; allowed: ping, {', '.join(handlers)}")
            return
        if not self.allow_tuning:
            self._reply(rid, False, "the remote refuses changes: it was started without "
                        "--allow-tuning (damontui --remote HOST --allow-tuning)")  # fmt: skip
            return
        try:
            done = handlers[op](request)
        except (ValidationError, BackendError, PayloadError) as e:
            self._reply(rid, False, f"not applied: {e}")
            return
        self._reply(rid, True, done)

    def _set_schemes(self, request: dict[str, Any]) -> str:
        from ..model.serialize import schemes_from_dicts

        schemes = schemes_from_dicts(request.get("schemes"), self.backend.attrs())
        self.backend.set_schemes(schemes)
        return f"{len(schemes)} scheme(s) applied on the remote"

    def _set_attrs(self, request: dict[str, Any]) -> str:
        from ..model.serialize import attrs_from_dict

        data = request.get("attrs")
        if not isinstance(data, dict):
            raise ValidationError("attrs", data, "a table of monitoring attributes")
        self.backend.set_attrs(attrs_from_dict(data, "attrs"))
        return "monitoring attributes applied on the remote"

    def _set_targets(self, request: dict[str, Any]) -> str:
        from ..record.codec import target_from_dict

        items = request.get("targets")
        if not isinstance(items, list) or not items:
            raise ValidationError("targets", items, "a non-empty list of targets")
        targets = [target_from_dict(t) for t in items]
        self.backend.set_targets(targets)
        return "now monitoring " + ", ".join(t.label for t in targets)
