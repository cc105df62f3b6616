#!/usr/bin/env python3
"""Times the reference RADL parser (PyPI radl 1.3.5) over a list of files.

Used by `cargo bench --bench radl_parse`; it can also be run by hand:

    python3 benches/radl_reference_bench.py --iterations 100 --rounds 3 FILE...

The texts are read once, then every iteration calls
`radl.radl_parse.parse_radl(text)` for every file, in this process and timed
with time.perf_counter, so interpreter start-up and imports are not counted.
A warm-up iteration runs first (PLY builds or loads its tables on first use).
Files the reference rejects still count: the time spent until the exception
is part of the total, and the number of such files is reported. With
--rounds N the timing is repeated N times and the fastest round is reported.

The second measurement is `parse_radl(text)` followed by `.check()` on the
result, the counterpart of nubo's `validate`.

The result is one JSON object on stdout.
"""

import argparse
import json
import sys
import time

EXPECTED_VERSION = "1.3.5"


def reference_version():
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return metadata.version("radl")
    except metadata.PackageNotFoundError:
        return None


def run_parse(parse_radl, texts):
    """One pass over every text; returns (seconds, rejected files)."""
    rejected = 0
    start = time.perf_counter()
    for text in texts:
        try:
            parse_radl(text)
        except Exception:  # the reference raises several kinds
            rejected += 1
    return time.perf_counter() - start, rejected


def run_parse_check(parse_radl, texts):
    """One pass of parse + check; returns (seconds, parse rejects, check rejects)."""
    parse_rejected = 0
    check_rejected = 0
    start = time.perf_counter()
    for text in texts:
        try:
            doc = parse_radl(text)
        except Exception:
            parse_rejected += 1
            continue
        try:
            if doc is not None:
                doc.check()
        except Exception:
            check_rejected += 1
    return time.perf_counter() - start, parse_rejected, check_rejected


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    version = reference_version()
    try:
        from radl.radl_parse import parse_radl
    except Exception as e:  # not installed, or broken
        json.dump({"ok": False, "error": "cannot import radl: %s" % e}, sys.stdout)
        print()
        return 2
    if version != EXPECTED_VERSION:
        json.dump(
            {
                "ok": False,
                "error": "radl %s is installed, %s is needed" % (version, EXPECTED_VERSION),
            },
            sys.stdout,
        )
        print()
        return 2

    texts = []
    total_bytes = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        texts.append(text)
        total_bytes += len(text.encode("utf-8"))

    # Warm-up: loads PLY's tables and fills caches; not timed.
    run_parse(parse_radl, texts)
    run_parse_check(parse_radl, texts)

    # Each round times `iterations` passes; the fastest round counts, as
    # on the Rust side, so a burst of load on the machine does not decide.
    parse_seconds = None
    parse_rejected = 0
    check_seconds = None
    check_parse_rejected = 0
    check_rejected = 0
    for _ in range(args.rounds):
        total = 0.0
        for _ in range(args.iterations):
            seconds, parse_rejected = run_parse(parse_radl, texts)
            total += seconds
        parse_seconds = total if parse_seconds is None else min(parse_seconds, total)

        total = 0.0
        for _ in range(args.iterations):
            seconds, check_parse_rejected, check_rejected = run_parse_check(parse_radl, texts)
            total += seconds
        check_seconds = total if check_seconds is None else min(check_seconds, total)

    json.dump(
        {
            "ok": True,
            "version": version,
            "python": sys.version.split()[0],
            "files": len(texts),
            "bytes": total_bytes,
            "iterations": args.iterations,
            "rounds": args.rounds,
            "parse_seconds": parse_seconds,
            "parse_rejected": parse_rejected,
            "parse_check_seconds": check_seconds,
            "parse_check_parse_rejected": check_parse_rejected,
            "parse_check_check_rejected": check_rejected,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
