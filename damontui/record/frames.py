"""Frame layer of damontui's record format: file header, frame headers, checksums.

A record is a 16-byte file header followed by self-delimiting frames:

    file header  magic b"\\x89DTREC\\r\\n" | version u16 | flags u16 | crc32 u32
    frame header marker b"\\xd7F" | kind u8 | codec u8 | length u32 | seq u32 |
                 elapsed_us u64 | timestamp f64 | payload crc32 u32 | header crc32 u32
    payload      `length` bytes (zlib-compressed for codec 1)

All integers little-endian. The header checksum lets a reader walk the frame
directory by headers alone (no decompression), so opening an hour-long record
is a scan of a few thousand 36-byte headers. Frames are written with one
write() each, so a recorder killed at any point leaves a prefix of complete
frames plus at most one partial frame, which readers report as a truncation.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from mmap import mmap

Buffer = bytes | bytearray | memoryview | mmap  # what frame headers are read from

MAGIC = b"\x89DTREC\r\n"
VERSION = 1
FILE_HEADER = struct.Struct("<8sHHI")
FRAME_MARKER = b"\xd7F"
FRAME_HEADER = struct.Struct("<2sBBIIQdII")
HEADER_SIZE = FILE_HEADER.size  # 16
FRAME_HEADER_SIZE = FRAME_HEADER.size  # 36

KIND_META = 1  # JSON: backend info, attrs, schemes, targets in force from here on
KIND_SNAPSHOT = 2  # one Snapshot's columns
KIND_NOTE = 3  # JSON: a message for a viewer (a --remote control reply); readers skip it
KINDS = {KIND_META: "meta", KIND_SNAPSHOT: "snapshot", KIND_NOTE: "note"}

CODEC_RAW = 0
CODEC_ZLIB = 1
CODECS = {CODEC_RAW: "raw", CODEC_ZLIB: "zlib"}

MAX_PAYLOAD = 256 << 20  # no sane frame is this big: a length above it is corruption
ZLIB_LEVEL = 6


class RecordError(ValueError):
    """A record file (or stream) can't be read: names the file and the byte offset."""

    def __init__(self, source: str, offset: int | None, problem: str) -> None:
        self.source = source
        self.offset = offset
        self.problem = problem
        where = f"{source}: byte {offset}" if offset is not None else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class FrameHeader:
    kind: int
    codec: int
    length: int
    seq: int
    elapsed_us: int
    timestamp: float
    crc: int


def file_header() -> bytes:
    head = struct.pack("<8sHH", MAGIC, VERSION, 0)
    return head + struct.pack("<I", zlib.crc32(head))


def check_file_header(data: bytes, source: str) -> None:
    """Raise RecordError unless `data` starts with a damontui record header we read."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(bytes(data[: len(MAGIC)])) and len(data) < HEADER_SIZE:
            raise RecordError(source, len(data), "truncated: the file ends inside its header")
        raise RecordError(source, 0, "not a damontui record (no record magic at the start)")
    if len(data) < HEADER_SIZE:
        raise RecordError(source, len(data), "truncated: the file ends inside its header")
    magic, version, _flags, crc = FILE_HEADER.unpack_from(data, 0)
    if zlib.crc32(bytes(data[:12])) != crc:
        raise RecordError(source, 0, "corrupt file header (checksum mismatch)")
    if version != VERSION:
        raise RecordError(
            source, len(MAGIC), f"record format version {version}; this damontui reads {VERSION}"
        )


def encode_frame(
    kind: int, payload: bytes, seq: int = 0, elapsed_us: int = 0, timestamp: float = 0.0,
    compress: bool = True,
) -> bytes:  # fmt: skip
    codec = CODEC_RAW
    if compress:
        packed = zlib.compress(payload, ZLIB_LEVEL)
        if len(packed) < len(payload):
            payload, codec = packed, CODEC_ZLIB
    head = FRAME_HEADER.pack(
        FRAME_MARKER, kind, codec, len(payload), seq & 0xFFFFFFFF,
        max(0, elapsed_us), timestamp, zlib.crc32(payload), 0,
    )[:-4]  # fmt: skip
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def parse_header(data: Buffer, offset: int, source: str) -> FrameHeader:
    """The frame header at `offset`; `data` must hold FRAME_HEADER_SIZE bytes there."""
    marker, kind, codec, length, seq, elapsed, stamp, crc, hcrc = FRAME_HEADER.unpack_from(
        data, offset
    )
    if marker != FRAME_MARKER:
        raise RecordError(source, offset, "corrupt frame: no frame marker here")
    if zlib.crc32(data[offset : offset + FRAME_HEADER_SIZE - 4]) != hcrc:
        raise RecordError(source, offset, "corrupt frame header (checksum mismatch)")
    # An unknown kind is left to the caller: frames are self-delimiting, so a reader
    # skips what a newer damontui added (forward compatibility).
    if codec not in CODECS:
        raise RecordError(source, offset, f"unknown frame codec {codec} (newer damontui?)")
    if length > MAX_PAYLOAD:
        raise RecordError(source, offset, f"corrupt frame: length {length} is implausible")
    return FrameHeader(kind, codec, length, seq, elapsed, stamp, crc)


def decode_payload(
    head: FrameHeader, payload: bytes | memoryview, offset: int, source: str
) -> bytes:
    """Check the payload's checksum and decompress it."""
    if zlib.crc32(payload) != head.crc:
        raise RecordError(source, offset, "corrupt frame (payload checksum mismatch)")
    if head.codec == CODEC_RAW:
        return bytes(payload)
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(payload, MAX_PAYLOAD)
        if inflater.unconsumed_tail or not inflater.eof:
            raise RecordError(source, offset, "corrupt frame (bad compressed data)")
        return data
    except zlib.error as e:
        raise RecordError(source, offset, f"corrupt frame (zlib: {e})") from None


class FrameParser:
    """Incremental parser for a record arriving as a byte stream (`-o -`, --remote).

    feed() returns the complete frames received so far as (offset, header,
    payload bytes); a partial frame waits for more data.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._header_seen = False

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    @property
    def offset(self) -> int:
        return self._offset

    def feed(self, data: bytes) -> list[tuple[int, FrameHeader, bytes]]:
        self._buf += data
        out: list[tuple[int, FrameHeader, bytes]] = []
        if not self._header_seen:
            if len(self._buf) < HEADER_SIZE:
                if not MAGIC.startswith(bytes(self._buf[: len(MAGIC)])):
                    check_file_header(bytes(self._buf), self.source)
                return out
            check_file_header(bytes(self._buf[:HEADER_SIZE]), self.source)
            del self._buf[:HEADER_SIZE]
            self._offset += HEADER_SIZE
            self._header_seen = True
        pos = 0
        while len(self._buf) - pos >= FRAME_HEADER_SIZE:
            head = parse_header(self._buf, pos, self.source)
            end = pos + FRAME_HEADER_SIZE + head.length
            if end > len(self._buf):
                break
            payload = bytes(self._buf[pos + FRAME_HEADER_SIZE : end])
            out.append((self._offset + pos, head, payload))
            pos = end
        del self._buf[:pos]
        self._offset += pos
        return out
