#!/usr/bin/env python3
"""Times tosca-parser 2.15.0 over TOSCA files (for `cargo bench --bench tosca_parse`).

    python3 benches/tosca_reference_bench.py --import-dir DIR --iterations N --rounds R FILE...

Every iteration builds `ToscaTemplate(path)` for every file, in this process
(interpreter start-up and imports not counted); URL imports are served from
the import directory (tests/tools/tosca_offline.py), nothing is fetched.
Rejected files count: the time until the exception is included. The fastest
round is reported, as one JSON object on stdout.
"""
import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
import tosca_offline  # noqa: E402

logging.disable(logging.CRITICAL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--import-dir", action="append", default=[])
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    tosca_offline.install(args.import_dir)
    try:
        from importlib import metadata
        version = metadata.version("tosca-parser")
        from toscaparser.tosca_template import ToscaTemplate
    except Exception as e:
        json.dump({"ok": False, "error": "cannot import tosca-parser: %s" % e}, sys.stdout)
        print()
        return 2
    if version != "2.15.0":
        json.dump({"ok": False, "error": "tosca-parser %s is installed, 2.15.0 is needed" % version}, sys.stdout)
        print()
        return 2

    def one_pass():
        rejected = 0
        start = time.perf_counter()
        for path in args.files:
            try:
                ToscaTemplate(path)
            except Exception:
                rejected += 1
        return time.perf_counter() - start, rejected

    one_pass()  # warm-up
    best = None
    rejected = 0
    for _ in range(args.rounds):
        total = 0.0
        for _ in range(args.iterations):
            seconds, rejected = one_pass()
            total += seconds
        best = total if best is None else min(best, total)
    json.dump({"ok": True, "seconds": best, "rejected": rejected, "python": sys.version.split()[0]}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
