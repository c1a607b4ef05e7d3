"""marcpipe.dask: MARC files as Dask collections - Dask is the distributed engine.

    import marcpipe.dask as md
    bag = md.read_marc("/shared/catalogue/*.mrc", blocksize="64MiB")
    top = (bag.map(lambda r: [f.get("a") for f in r.get_fields("650")])
              .flatten().frequencies(sort=True).topk(20, key=1).compute())
    df = md.to_dataframe(bag, columns={"id": "001", "title": "245a", "subjects": "650a*"})

Each file is cut into byte ranges of about ``blocksize`` (``marcpipe.splits``:
no parsing, a few hundred bytes read per cut); each range is one partition,
read inside the Dask worker by a :class:`marcpipe.MARCReader` with that
range. The ranges of a file compose exactly to the whole file (same records,
same bad units, none lost, none twice), whatever the damage in it, so a
computation over the bag equals the same computation over single readers.
Workers open the files by path: on a cluster the files must be on storage
every worker sees under the same path (NFS, a parallel file system, ...).

This module is optional: ``import marcpipe`` never imports Dask; importing
``marcpipe.dask`` needs Dask and pandas (Debian: python3-dask,
python3-pandas; python3-distributed for a cluster).
"""

from __future__ import annotations

import glob as _glob
import os
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Sequence, Union

import dask.bag as db
import dask.dataframe as dd
import pandas as pd
from dask.bag.core import reify
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .reader import MARCReader
from .split import Split, splits

__all__ = ["read_marc", "to_dataframe", "plan", "column"]

_ERRORS = ("skip", "include", "only", "raise")


def _expand(paths: Any) -> List[str]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        p = os.fsdecode(os.fspath(paths))
        if any(c in p for c in "*?["):
            found = sorted(_glob.glob(p))
            if not found:
                raise FileNotFoundError(f"no file matches {p!r}")
            return found
        return [p]
    out: List[str] = []
    for p in paths:
        out.extend(_expand(p))
    return out


def plan(paths: Any, blocksize: Union[int, str] = "64MiB") -> List[Split]:
    """The partitions :func:`read_marc` makes: every file's :class:`~marcpipe.Split`
    ranges of about ``blocksize`` bytes, files in the order given (a glob's
    matches sorted). Runs on the client; reads a few hundred bytes per cut."""
    out: List[Split] = []
    for p in _expand(paths):
        out.extend(splits(p, blocksize=blocksize))
    return out


def _read_partition(
    part: Sequence[Split], errors: str, options: Mapping[str, Any]
) -> Iterator[Any]:
    """Runs in a Dask worker: yields the records (and/or bad units) of its ranges."""
    for s in part:
        with MARCReader(s, **options) as reader:
            for rec in reader:
                if rec is not None:
                    if errors != "only":
                        yield rec
                    continue
                exc = reader.current_exception
                if errors == "skip":
                    continue
                exc.path = s.path  # which file the bad unit is in
                if errors == "raise":
                    raise exc
                yield exc


def read_marc(
    paths: Any,
    blocksize: Union[int, str] = "64MiB",
    *,
    errors: str = "skip",
    threads: int = 1,
    **reader_options: Any,
) -> db.Bag:
    """The records of MARC files as a ``dask.bag.Bag``, one partition per byte range.

    ``paths``: a path, a glob (``"/data/*.mrc"``) or a list of them.
    ``blocksize``: bytes per partition (int or ``"64MiB"``). ``errors``: what
    the bag holds for bad units - ``"skip"`` (records only, the default),
    ``"include"`` (records and, in place of each bad unit, its exception as
    ``MARCReader.current_exception`` gives it, with ``.kind``, ``.offset``...
    and ``.path``), ``"only"`` (only the exceptions: error reports),
    ``"raise"`` (the first bad unit fails its task). ``threads``: parser
    threads of each partition's reader (default 1: Dask's workers are the
    parallelism). Other keywords go to :class:`marcpipe.MARCReader`
    (``to_unicode``, ``force_utf8``, ``utf8_handling``, ``file_encoding``,
    ``chunk_size``...).

    Records are in file order within a partition and partitions in file
    order, so ``bag.compute()`` lists what single readers of the files list.
    A chain of bag operations streams each record from the reader through
    the chain; a partition used by several results at once is held as a
    list while they run (compact records: about 1.5 times its MARC bytes).
    Records pickle compactly, so bags of records can move between workers;
    keeping the work inside the partition (``map``, ``filter``, ``pluck``,
    ``frequencies``...) moves only results. ``record.offset`` is the offset
    in its file; ``record.ordinal`` counts from the start of its partition.
    """
    if errors not in _ERRORS:
        raise ValueError(f"errors must be one of {_ERRORS}, not {errors!r}")
    for bad in ("range_start", "range_end", "first_ordinal", "pool", "strict"):
        if bad in reader_options:
            raise TypeError(f"read_marc() does not take {bad!r} (partitions set it)")
    parts = plan(paths, blocksize)
    if not parts:
        return db.from_sequence([], npartitions=1)
    options = dict(reader_options, threads=threads)
    name = "read-marc-" + tokenize(parts, errors, options)
    # As dask.bag's own map tasks: (reify, generator). When the partition
    # feeds one computation, Dask's bag optimizer fuses the tasks and drops
    # the reify, so records stream from the reader through the user's
    # functions while they are hot in the cache; when it feeds several
    # (compute(bag.count(), bag.map(f))), reify makes it a list once.
    dsk = {(name, i): (reify, (_read_partition, [s], errors, options))
           for i, s in enumerate(parts)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[])
    return db.Bag(graph, name, len(parts))


# ---- tabular extraction ------------------------------------------------------------


def column(spec: Union[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """A function record -> value for one column spec of :func:`to_dataframe`.

    ``"001"`` (a control field's data), ``"245"`` (a data field's
    ``value()``), ``"245a"`` (the first ``$a`` of the first 245), ``"650a*"``
    (every ``$a`` of every 650, a list), ``"650*"`` (``value()`` of every
    650, a list), ``"LDR"`` (the leader); absent values are ``None``. A
    callable is used as it is.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a column spec is a str or a callable, not {type(spec).__name__}")
    s = spec.strip()
    if s.upper() in ("LDR", "LEADER"):
        return lambda r: str(r.leader)
    many = s.endswith("*")
    if many:
        s = s[:-1]
    if len(s) not in (3, 4):
        raise ValueError(f"bad column spec {spec!r}: want TAG, TAGc, TAG* or TAGc* (e.g. '245a')")
    tag, code = s[:3], (s[3] if len(s) == 4 else None)

    def value(f: Any) -> Any:
        if code is None:
            return f.data if f.control_field else f.value()
        return None if f.control_field else f.get(code)

    if many:
        if code is None:
            return lambda r: [value(f) for f in r.get_fields(tag)]
        return lambda r: [sf.value for f in r.get_fields(tag) if not f.control_field
                          for sf in f.subfields if sf.code == code]

    def first(r: Any) -> Any:
        for f in r.get_fields(tag):
            v = value(f)
            if v is not None:
                return v
        return None

    return first


def _rows(records: Iterable[Any], names: List[str], getters: List[Callable[[Any], Any]]):
    rows = [[g(r) for g in getters] for r in records]
    return pd.DataFrame(rows, columns=names, dtype=object)


def to_dataframe(
    source: Any,
    columns: Union[Mapping[str, Any], Sequence[Any]],
    **read_options: Any,
):
    """A ``dask.dataframe.DataFrame`` with one row per record and the given columns.

    ``source``: a bag of records (:func:`read_marc`) or what :func:`read_marc`
    takes (paths; then ``read_options`` go to it). ``columns``: ``{"name":
    spec}`` or a list of specs (named by themselves); see :func:`column`,
    e.g. ``{"id": "001", "title": "245a", "subjects": "650a*", "n": len}``.
    Every column has dtype ``object``.
    """
    if isinstance(columns, Mapping):
        names = list(columns)
        specs = list(columns.values())
    else:
        specs = list(columns)
        names = [s if isinstance(s, str) else getattr(s, "__name__", f"c{i}")
                 for i, s in enumerate(specs)]
    getters = [column(s) for s in specs]
    bag = source if isinstance(source, db.Bag) else read_marc(source, **read_options)
    meta = pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    return dd.from_delayed(
        [d for d in bag.map_partitions(_rows, names, getters).to_delayed()], meta=meta,
        verify_meta=False,
    )
