#!/usr/bin/env python3
"""Load on an IM-compatible REST server (nubo serve, or IM itself) with the
Dummy connector: N infrastructures of M VMs created (async) and waited
until configured, then GET .../state from C concurrent clients, R each
(p50, p99). Usage: serve-bench.py URL N M C R. Deletes what it made."""
import sys, time, threading, requests, statistics, concurrent.futures as cf
url = sys.argv[1]; n_inf = int(sys.argv[2]); n_vm = int(sys.argv[3]); clients = int(sys.argv[4]); reqs = int(sys.argv[5])
auth = {"Authorization": "type = InfrastructureManager;username = b;password = b;\\nid = d;type = Dummy;\\n"}
radl = "network n ()\nsystem s (net_interface.0.connection = 'n' and disk.0.os.name = 'linux')\nconfigure s (\n@begin\n- shell: echo x\n@end\n)\ndeploy s %d\n" % n_vm
sess = requests.Session()
t0 = time.time()
ids = []
def create(_):
    r = requests.post(url + "/infrastructures?async=yes", data=radl, headers=auth)
    r.raise_for_status(); return r.text.strip().rsplit("/", 1)[1]
with cf.ThreadPoolExecutor(16) as ex:
    ids = list(ex.map(create, range(n_inf)))
def wait(i):
    while True:
        r = requests.get(url + "/infrastructures/%s/state" % i, headers=dict(auth, Accept="application/json"))
        if r.json()["state"]["state"] == "configured": return
        time.sleep(0.05)
with cf.ThreadPoolExecutor(16) as ex:
    list(ex.map(wait, ids))
t1 = time.time()
print("create+configured: %d infrastructures x %d VMs: %.2f s" % (n_inf, n_vm, t1 - t0))
lat = []; lock = threading.Lock()
def client(k):
    s = requests.Session(); mine = []
    for j in range(reqs):
        i = ids[(k + j) % len(ids)]
        a = time.perf_counter()
        r = s.get(url + "/infrastructures/%s/state" % i, headers=dict(auth, Accept="application/json"))
        assert r.status_code == 200, r.text
        mine.append(time.perf_counter() - a)
    with lock: lat.extend(mine)
ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
a = time.time(); [t.start() for t in ts]; [t.join() for t in ts]; b = time.time()
lat.sort()
print("GET state, %d clients x %d: p50 %.1f ms, p99 %.1f ms, %.0f req/s" % (clients, reqs, 1000*lat[len(lat)//2], 1000*lat[int(len(lat)*0.99)], len(lat)/(b-a)))
for i in ids:
    requests.delete(url + "/infrastructures/" + i, headers=auth)
