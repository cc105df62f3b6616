#!/usr/bin/env python3
"""Runs IM 2.0's own REST server (pip package `im`, unmodified) on
127.0.0.1:PORT with its data in a SQLite file under DIR and its log in
DIR/im.log, for the side-by-side benchmark (scripts/serve-bench.py).
IM reads /etc/im/im.cfg; this sets the same Config values before IM's
service module reads them, so nothing is written outside DIR.
Usage: im-server.py PORT DIR"""
import os
import sys

port, data_dir = int(sys.argv[1]), sys.argv[2]
os.makedirs(data_dir, exist_ok=True)
from IM.config import Config  # noqa: E402

Config.REST_ADDRESS = "127.0.0.1"
Config.REST_PORT = port
Config.DATA_DB = "sqlite://" + os.path.join(os.path.abspath(data_dir), "inf.dat")
Config.LOG_FILE = os.path.join(data_dir, "im.log")
Config.LOG_LEVEL = "WARNING"
sys.argv = [sys.argv[0]]
from IM import im_service  # noqa: E402

im_service.main()
