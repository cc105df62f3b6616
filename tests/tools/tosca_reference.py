"""Reference side of the TOSCA conformance test (tosca-parser 2.15.0).

    python3 tosca_reference.py [--import-dir DIR]... FILE...

Prints one JSON object mapping each path to {"ok": true} when
`ToscaTemplate(path)` accepts the file, or {"ok": false, "error": "..."};
"network": true is added when reading the file asked for a URL with no
local copy (its verdict depends on the network). URL imports are served
from the import directories (see tosca_offline.py); nothing is fetched.
"""
import argparse
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tosca_offline  # noqa: E402

logging.disable(logging.CRITICAL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--import-dir", action="append", default=[])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    tosca_offline.install(args.import_dir)
    from toscaparser.tosca_template import ToscaTemplate

    out = {}
    for path in args.files:
        del tosca_offline.unserved[:]
        try:
            ToscaTemplate(path)
            out[path] = {"ok": True}
        except BaseException as e:  # ValidationError, and bare errors too
            if isinstance(e, KeyboardInterrupt):
                raise
            out[path] = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        if tosca_offline.unserved:
            out[path]["network"] = True
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
