"""Reference side of the RADL differential test.

Reads RADL file paths from argv and prints one JSON object mapping each
path to {"ok": true, "json": <radl_json.dump_radl output>} or
{"ok": false, "error": "..."}, using the `radl` package from PyPI (1.3.5).
"""
import json
import sys

from radl import radl_json, radl_parse

out = {}
for path in sys.argv[1:]:
    with open(path) as f:
        text = f.read()
    try:
        doc = radl_parse.parse_radl(text)
        out[path] = {"ok": True, "json": json.loads(radl_json.dump_radl(doc))}
    except Exception as e:  # the reference raises bare Exceptions too
        out[path] = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
json.dump(out, sys.stdout)
