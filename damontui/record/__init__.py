"""damontui's own record format: versioned, checksummed, compressed columnar frames.

See frames.py (file and frame layout) and codec.py (payloads); README "Record format".
"""

from .codec import Meta
from .frames import RecordError
from .reader import RecordReader, is_record
from .writer import RecordWriter, part_path

__all__ = ["Meta", "RecordError", "RecordReader", "RecordWriter", "is_record", "part_path"]
