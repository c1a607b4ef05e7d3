"""MARC-in-JSON reading, pymarc 5.x's ``pymarc.marcjson`` on the pipeline."""

from __future__ import annotations

from typing import Any, List, Optional

from . import _marcpipe
from .reader import JSONReader
from .record import Record

__all__ = ["parse_json_to_array"]


def parse_json_to_array(
    json_file: Any,
    *,
    errors: str = "raise",
    threads: Optional[int] = None,
    chunk_size: Optional[int] = None,
    pool: Optional[_marcpipe.Pool] = None,
) -> List[Record]:
    """The records of a MARC-in-JSON source as a list (pymarc's parse_json_to_array).

    ``json_file``: a path, JSON text, a bytes-like object or a file object,
    holding one record, a JSON array of records, or one record per line.
    The first bad record raises its exception, as pymarc raises;
    ``errors="skip"`` drops bad records and goes on. Keyword-only:
    ``threads``, ``chunk_size``, ``pool``.
    """
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip'")
    with JSONReader(
        json_file, threads=threads, chunk_size=chunk_size, pool=pool, permissive=errors == "skip"
    ) as reader:
        return [r for r in reader if r is not None]
