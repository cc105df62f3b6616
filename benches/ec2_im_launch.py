#!/usr/bin/env python3
"""The Infrastructure Manager's side of benches/ec2_launch.rs.

Usage: ec2_im_launch.py ENDPOINT N WORKDIR [--pause]

Launches N VMs with IM's EC2 connector (IM run in this process, as its
REST service would run it) against the EC2 endpoint ENDPOINT (a
moto_server), contextualization off (`contextualize ()`), and prints one
JSON line: {"seconds": S, "vms": N} where S is the wall time from
CreateInfrastructure until GetInfrastructureState reports all N VMs
running (or configured, which IM reports for a VM with nothing to
configure). The line is printed as soon as the VMs run; the
infrastructure is destroyed afterwards. With --pause, the script then
waits for a line (or the end) on its standard input before destroying:
benches/ec2_launch.rs stops counting IM's EC2 calls in that pause, so
the destroy's calls are not counted.

Offline, IM needs two things it would otherwise fetch or find:
- its EC2 instance types, which it downloads from GitHub, are given from
  nubo's own catalog (providers/ec2.yaml), so both tools choose from the
  same list;
- its state database is a SQLite file in WORKDIR.
boto3 sends IM's calls to ENDPOINT through the standard AWS_ENDPOINT_URL
variable. IM's VM_INFO_UPDATE_FREQUENCY (10 s by default: how stale a
state IM may report) is set to 1 s, in IM's favour.
"""

import json
import logging
import os
import sys
import time


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[4:] not in ([], ["--pause"]):
        raise SystemExit("usage: ec2_im_launch.py ENDPOINT N WORKDIR [--pause]")
    endpoint, n, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pause = sys.argv[4:] == ["--pause"]
    os.environ["IM_DATA_DB"] = "sqlite://" + os.path.join(workdir, "im-inf.db")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.basicConfig(level=logging.ERROR)

    import yaml
    from IM.auth import Authentication
    from IM.config import Config
    from IM.connectors.EC2 import EC2CloudConnector, InstanceTypeInfo
    from IM.InfrastructureList import InfrastructureList
    from IM.InfrastructureManager import InfrastructureManager as IM

    Config.VM_INFO_UPDATE_FREQUENCY = 1
    InfrastructureList.init_table()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "providers", "ec2.yaml")) as f:
        catalog = yaml.safe_load(f)["types"]
    EC2CloudConnector.instance_type_list = [
        InstanceTypeInfo(
            name=t["name"],
            cpu_arch=["x86_64"],
            num_cpu=t["vcpus"],
            mem=t["memory_mib"],
            price=t["price"],
            gpu=t.get("gpus", 0),
            vpc_only=True,
        )
        for t in catalog
    ]

    radl = (
        "network public (outbound = 'yes')\n"
        "system node (cpu.count >= 1 and memory.size >= 1g and "
        "net_interface.0.connection = 'public' and "
        "disk.0.image.url = 'aws://us-east-1/ami-12c6146b' and "
        "disk.0.os.name = 'linux' and disk.0.size >= 8G)\n"
        "contextualize ()\n"
        "deploy node %d\n" % n
    )
    auth = Authentication(
        Authentication.read_auth_data(
            [
                "id = im; type = InfrastructureManager; username = bench; password = bench",
                "id = ec2; type = EC2; username = AKIDBENCH; password = bench-secret",
            ]
        )
    )
    start = time.monotonic()
    inf_id = IM.CreateInfrastructure(radl, auth)
    deadline = start + 600
    try:
        while True:
            states = IM.GetInfrastructureState(inf_id, auth)["vm_states"]
            if len(states) == n and all(s in ("running", "configured") for s in states.values()):
                break
            if time.monotonic() > deadline:
                raise SystemExit("IM: not all %d VMs running after 600 s: %s" % (n, states))
            time.sleep(0.1)
        seconds = time.monotonic() - start
        print(json.dumps({"seconds": seconds, "vms": n}), flush=True)
        if pause:
            sys.stdin.readline()
    finally:
        IM.DestroyInfrastructure(inf_id, auth)


if __name__ == "__main__":
    main()
