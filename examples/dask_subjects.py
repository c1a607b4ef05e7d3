#!/usr/bin/python3
"""Top subject headings (650 $a) across a MARC corpus, on a Dask cluster.

    # on this machine: a local cluster of 2 worker processes
    python3 examples/dask_subjects.py --workers 2 /data/catalogue/*.mrc

    # on a cluster (see bindings/python/README.md, "Running on a cluster"):
    python3 examples/dask_subjects.py --scheduler tcp://head:8786 '/shared/catalogue/*.mrc'

Each file is cut into byte ranges of --blocksize (marcpipe.splits: no
parsing); every range is one Dask partition, read by a marcpipe reader inside
a Dask worker. Only the (heading, count) pairs leave the workers. The result
is exactly what one reader per file would count: ranges compose to the whole
file, damaged data included.

Output: one line per heading, "COUNT<TAB>HEADING", most frequent first, then
a summary line on stderr (records, bad units, partitions, seconds).
Needs python3-dask and python3-distributed (Debian); marcpipe on PYTHONPATH.
"""

import argparse
import sys
import time

import marcpipe.dask as md
from dask.distributed import Client, LocalCluster


def headings(record):
    """The 650 $a values of a record, trailing ISBD punctuation removed."""
    out = []
    for f in record.get_fields("650"):
        for a in f.get_subfields("a"):
            a = a.strip().rstrip(".,;:/ ").strip()
            if a:
                out.append(a)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="MARC files or globs (quote globs for a cluster)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    ap.add_argument("--workers", type=int, default=2,
                    help="without --scheduler: local worker processes (default 2)")
    ap.add_argument("--blocksize", default="64MiB", help="bytes per partition (default 64MiB)")
    ap.add_argument("--top", type=int, default=20, help="headings to print (default 20)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        records = md.read_marc(args.paths, blocksize=args.blocksize)
        bad = md.read_marc(args.paths, blocksize=args.blocksize, errors="only")
        top = records.map(headings).flatten().frequencies(sort=True).topk(args.top, key=1)
        top, nrec, nbad = client.compute([top, records.count(), bad.count()], sync=True)
        for heading, count in top:
            print(f"{count}\t{heading}")
        print(f"{nrec} records, {nbad} bad units, {records.npartitions} partitions, "
              f"{time.perf_counter() - t0:.2f} s", file=sys.stderr)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
