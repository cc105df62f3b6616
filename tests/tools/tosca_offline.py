"""Offline URL imports for the TOSCA reference tools (tosca-parser, IM).

`install(import_dirs)` replaces `urllib.request.urlopen`, which tosca-parser
uses to read URL imports, with a lookup in local directories using the same
rule as `nubo tosca --import-dir DIR`: for a URL `scheme://host/a/b/c.yaml`
the candidates are DIR/host/a/b/c.yaml, DIR/a/b/c.yaml, DIR/b/c.yaml and
DIR/c.yaml, longest first, in each directory in turn. A URL with no local
copy fails as an unreachable server would. Sockets are disabled as well, so
nothing here can reach the network.

`unserved` lists every URL asked for that had no local copy: a file whose
reading adds to it has a verdict that depends on the network.
"""
import io
import os
import socket
import urllib.error
import urllib.parse
import urllib.request


def candidates(url, import_dirs):
    parsed = urllib.parse.urlparse(url)
    parts = [parsed.netloc] + [p for p in parsed.path.split("/") if p]
    for d in import_dirs:
        for i in range(len(parts)):
            yield os.path.join(d, *parts[i:])


unserved = []


def install(import_dirs):
    def urlopen(url, *args, **kwargs):
        if not isinstance(url, str):
            url = url.full_url
        for path in candidates(url, import_dirs):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    resp = io.BytesIO(f.read())
                resp.getcode = lambda: 200
                return resp
        unserved.append(url)
        raise urllib.error.URLError("no local copy of %s (offline)" % url)

    urllib.request.urlopen = urlopen

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in the TOSCA reference tools")

    socket.socket.connect = no_network
    socket.create_connection = no_network
