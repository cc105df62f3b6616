"""IM side of the TOSCA lowering test: `IM.tosca.Tosca.Tosca(text).to_radl()`.

    python3 tosca_im_lower.py [--import-dir DIR]... FILE...

Prints one JSON object mapping each path to {"ok": true, "radl": <RADL
text>, "json": <radl_json.dump_radl form>} or {"ok": false, "error": "..."}.
URL imports are served from the import directories (see tosca_offline.py);
nothing is fetched. IM downloads the recipes that interface implementations
name; here every such download answers with the same stub playbook, so the
configure bodies in the output are not IM's real ones (the test compares
systems, networks, deploys and contextualization, not recipe text). Run it from a scratch directory: IM's requests cache
writes `tosca_cache.sqlite` into the working directory.
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
    from IM.tosca.Tosca import Tosca
    import requests_cache

    class Stub:
        status_code = 200
        reason = "OK"
        text = "---\n- tasks: []\n"

    requests_cache.CachedSession.get = lambda self, url, **kw: Stub()
    from radl import radl_json

    out = {}
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            _, radl = Tosca(text).to_radl()
            out[path] = {
                "ok": True,
                "radl": str(radl),
                "json": json.loads(radl_json.dump_radl(radl)),
            }
        except BaseException as e:  # IM raises bare Exceptions
            if isinstance(e, KeyboardInterrupt):
                raise
            out[path] = {"ok": False, "error": "%s: %s" % (type(e).__name__, str(e)[:2000])}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
