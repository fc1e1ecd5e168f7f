"""`damontui --remote [user@]host[:port]`: watch a remote machine through OpenSSH.

RemoteBackend runs `damontui record -o - --stream ...` on the remote host with
the system's ssh client and decodes the record stream as it arrives; every
view works on it as on a local backend. Nothing is installed remotely. When
the connection drops, on_error says so, what was received stays in the app,
and reconnect() starts a new session. Scheme changes travel back as JSON
lines on ssh's stdin, only with --allow-tuning (both ends refuse otherwise).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..backends.base import BackendError, ErrorCallback, SnapshotCallback
from ..model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target
from ..record.codec import Meta, PayloadError, decode_meta, decode_snapshot
from ..record.frames import (
    KIND_META,
    KIND_NOTE,
    KIND_SNAPSHOT,
    FrameParser,
    RecordError,
    decode_payload,
)

REPLY_TIMEOUT_S = 15.0
LOST = re.compile(r"^connection to \S+ (lost|failed): ")  # on_error texts that end a session


@dataclass(frozen=True)
class RemoteSpec:
    host: str  # user@host as ssh takes it
    port: int | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


def parse_remote(text: str) -> RemoteSpec:
    """'[user@]host[:port]' (IPv6 as [addr]:port); raises BackendError naming --remote."""
    m = re.fullmatch(r"(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:@\s\[\]]+))"
                     r"(?::(?P<port>\d+))?", text.strip())  # fmt: skip
    if not m or text.strip().startswith("-"):
        raise BackendError(f"--remote: {text!r} is invalid; use [user@]host[:port]")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise BackendError(f"--remote: port {port} is invalid; 1..65535")
    host = m["v6"] or m["host"]
    return RemoteSpec(f"{m['user']}@{host}" if m["user"] else host, port)


def ssh_command(spec: RemoteSpec, remote_argv: Sequence[str], ssh_options: Sequence[str] = (),
                ssh: str = "ssh") -> list[str]:  # fmt: skip
    """The ssh client's argv: no tty, no password prompts, keep-alives to notice a dead
    link; the remote command quoted for the remote shell."""
    argv = [ssh, "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3"]  # fmt: skip
    for opt in ssh_options:
        argv += ["-o", opt]
    if spec.port:
        argv += ["-p", str(spec.port)]
    argv += [spec.host, "--", " ".join(shlex.quote(a) for a in remote_argv)]
    return argv


class RemoteBackend:
    """The Backend protocol over an ssh session streaming a damontui record."""

    def __init__(self, spec: RemoteSpec, remote_argv: Sequence[str], *,
                 ssh_options: Sequence[str] = (), allow_tuning: bool = False,
                 ssh: str = "ssh") -> None:  # fmt: skip
        self.spec = spec
        self.argv = ssh_command(spec, remote_argv, ssh_options, ssh)
        self.allow_tuning = allow_tuning
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._on_snapshot: SnapshotCallback | None = None
        self._on_error: ErrorCallback | None = None
        self._meta: Meta | None = None
        self._latest: Snapshot | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, tuple[threading.Event, list[dict[str, object]]]] = {}
        self._stderr: list[str] = []
        self._stopping = False
        self.received = 0  # snapshots, over all sessions
        self.connected = False
        self.lost_reason = ""

    # --- protocol ------------------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        readonly = not self.allow_tuning
        state = "" if self.connected else " (connecting)" if not self.lost_reason else " (lost)"
        if self._meta is None:
            return BackendInfo("remote", f"{self.spec.label}{state}", readonly=readonly)
        info = self._meta.info
        return replace(info, backend=f"remote {info.backend}",
                       source=f"{self.spec.label}{state}: {info.source}",
                       readonly=readonly or info.readonly)  # fmt: skip

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        self._on_snapshot, self._on_error = on_snapshot, on_error
        self._connect()

    def _connect(self) -> None:
        self._stopping = False
        self.lost_reason = ""
        self._stderr = []
        try:
            # Its own session: terminal signals (Ctrl+C in batch mode) reach damontui,
            # which ends the remote record by closing ssh's stdin.
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            raise BackendError(f"--remote: can't run {self.argv[0]}: {e.strerror or e}") from None
        self._reader = threading.Thread(target=self._read, args=(self._proc,),
                                        name="damontui-remote", daemon=True)  # fmt: skip
        self._err_reader = threading.Thread(target=self._read_stderr, args=(self._proc,),
                                            daemon=True)  # fmt: skip
        self._err_reader.start()
        self._reader.start()

    def reconnect(self) -> None:
        """A new ssh session after a drop (what was received stays with the caller)."""
        self.stop()
        self._connect()

    def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # the remote record ends on EOF and stops its backend
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)

    def close(self) -> None:
        """End the session (the remote record stops its backend on EOF)."""
        self.stop()

    def latest(self) -> Snapshot | None:
        return self._latest

    def attrs(self) -> MonitoringAttrs:
        snap = self._latest
        return snap.attrs if snap is not None else MonitoringAttrs()

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        from ..formats.toml_out import attrs_to_dict

        self._change({"op": "set_attrs", "attrs": attrs_to_dict(attrs.validate())})

    def schemes(self) -> tuple[Scheme, ...]:
        snap = self._latest
        return tuple(snap.schemes) if snap is not None else ()

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        from ..formats.toml_out import scheme_to_dict

        for scheme in schemes:
            scheme.validate()
        self._change({"op": "set_schemes", "schemes": [scheme_to_dict(s) for s in schemes]})

    def _change(self, request: dict[str, object]) -> None:
        """Send a change; the remote applies it (and answers) or refuses it."""
        if not self.allow_tuning:
            raise BackendError("--remote is read-only; start it with --allow-tuning to "
                               "change the remote's monitoring")  # fmt: skip
        reply = self._request(request)
        if not reply.get("ok"):
            raise BackendError(f"remote: {reply.get('text', 'refused')}")

    def targets(self) -> tuple[Target, ...]:
        snap = self._latest
        return tuple(t.target for t in snap.targets) if snap is not None else ()

    def set_targets(self, targets: Sequence[Target]) -> None:
        from ..record.codec import target_to_dict

        self._change({"op": "set_targets", "targets": [target_to_dict(t) for t in targets]})

    # --- control channel -----------------------------------------------------------------

    def _request(self, request: dict[str, object]) -> dict[str, object]:
        proc = self._proc
        if proc is None or proc.poll() is not None or not self.connected:
            raise BackendError(f"--remote: not connected to {self.spec.label}")
        rid = next(self._ids)
        done = threading.Event()
        box: list[dict[str, object]] = []
        self._replies[rid] = (done, box)
        try:
            assert proc.stdin is not None
            proc.stdin.write((json.dumps({"id": rid, **request}) + "\n").encode())
            proc.stdin.flush()
        except OSError as e:
            self._replies.pop(rid, None)
            raise BackendError(f"--remote: the connection is gone ({e})") from None
        if not done.wait(REPLY_TIMEOUT_S):
            self._replies.pop(rid, None)
            raise BackendError(f"--remote: no reply from {self.spec.label} "
                               f"in {REPLY_TIMEOUT_S:.0f} s")  # fmt: skip
        return box[0]

    # --- the stream ----------------------------------------------------------------------

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr = [*self._stderr[-19:], line]

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        parser = FrameParser(f"stream from {self.spec.label}")
        problem = ""
        self._meta = None  # each session starts with its own meta
        fd = proc.stdout.fileno()
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                for offset, head, payload in parser.feed(chunk):
                    self._frame(parser.source, offset, head, payload)
        except RecordError as e:
            problem = (f"{e} (is damontui installed there, and does the shell print "
                       "nothing on stdout?)")  # fmt: skip
        except OSError as e:
            problem = str(e)
        finally:
            session_started = self._meta is not None
            self.connected = False
        code = proc.wait()
        self._err_reader.join(timeout=3)  # ssh's last words name the cause
        if self._stopping:
            return
        detail = problem or (self._stderr[-1] if self._stderr else f"ssh exited with {code}")
        self.lost_reason = detail
        for done, box in list(self._replies.values()):  # nobody will answer them now
            box.append({"ok": False, "text": f"connection lost: {detail}"})
            done.set()
        self._replies.clear()
        if self._on_error is not None:
            what = "lost" if session_started else "failed"
            self._on_error(f"connection to {self.spec.label} {what}: {detail}; kept "
                           f"{self.received} snapshots received")  # fmt: skip

    def _frame(self, source: str, offset: int, head: object, payload: bytes) -> None:
        data = decode_payload(head, payload, offset, source)  # type: ignore[arg-type]
        kind = head.kind  # type: ignore[attr-defined]
        try:
            if kind == KIND_META:
                self._meta, _ = decode_meta(data)
                self.connected = True
            elif kind == KIND_SNAPSHOT:
                if self._meta is None:
                    raise PayloadError("a snapshot before any meta")
                snap = decode_snapshot(data, self._meta, head.elapsed_us,  # type: ignore[attr-defined]
                                       head.timestamp)  # type: ignore[attr-defined]  # fmt: skip
                self._latest = snap
                self.received += 1
                if self._on_snapshot is not None:
                    self._on_snapshot(snap)
            elif kind == KIND_NOTE:
                self._note(json.loads(data))
        except (PayloadError, ValueError, TypeError) as e:
            raise RecordError(source, offset, f"corrupt frame: {e}") from None

    def _note(self, doc: object) -> None:
        if not isinstance(doc, dict):
            return
        rid = doc.get("id")
        waiting = self._replies.pop(rid, None) if isinstance(rid, int) else None
        if waiting is not None:
            waiting[1].append(doc)
            waiting[0].set()
        elif self._on_error is not None and doc.get("text"):
            self._on_error(f"remote: {doc['text']}")
