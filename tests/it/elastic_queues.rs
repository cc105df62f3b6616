//! The elasticity daemon end to end on the local provider with queues
//! that are not a batch system: SQS (moto's real SQS API) and Kubernetes
//! (nubo's emulator of the Kubernetes API, `nubo::testcloud::emu::kube`).
//! A burst grows the cluster, the workers do the work (consumers on the
//! nodes take the messages; the emulator's scheduler runs the pods on the
//! Nodes the workers registered), idle workers are drained and removed,
//! and `destroy` leaves nothing.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs; the SQS
//! test needs moto (`scripts/install-test-deps.sh`).

use crate::support::local::{Nubo, SERIAL, assert_nothing_left, can_run, running_nodes};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A cluster of a front-end and up to three elastic workers `wn`, with the
/// workers' configuration `worker` (a native recipe).
fn template(worker: &str) -> String {
    format!(
        r#"
network private ()
system front (
    net_interface.0.connection = 'private' and net_interface.0.dns_name = 'front' and
    disk.0.image.url = 'local://'
)
system wn (
    ec3_max_instances = 3 and elastic_idle_time = 3 and elastic_cooldown = 0 and
    elastic_poweron_timeout = 120 and cpu.count = 1 and
    net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and
    disk.0.image.url = 'local://'
)
configure worker (
@begin
{worker}
@end
)
contextualize (
    system wn configure worker step 1
)
deploy front 1
"#
    )
}

struct Elastic {
    n: Nubo,
}

impl Elastic {
    fn launch(tag: &str, worker: &str) -> Elastic {
        let n = Nubo::new(tag);
        let radl = n.root.parent().unwrap().join("cluster.radl");
        std::fs::write(&radl, template(worker)).unwrap();
        n.ok(&["launch", &n.name, radl.to_str().unwrap(), "-y"]);
        Elastic { n }
    }

    /// The host's address on the cluster's bridge (10.250.X.1), which the
    /// nodes reach.
    fn bridge_address(&self) -> String {
        let shown = self.n.show();
        let front = shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["node"] == "front")
            .unwrap_or_else(|| panic!("no front in {shown:#}"));
        let ip = front["addresses"][0].as_str().unwrap();
        let (net, _) = ip.rsplit_once('.').unwrap();
        format!("{net}.1")
    }

    fn daemon(&self, queue: &str, env: &[(&str, &str)], extra: &[&str]) -> Child {
        let mut args = vec![
            "elastic",
            "run",
            &self.n.name,
            "--queue",
            queue,
            "--period",
            "0.5",
        ];
        args.extend_from_slice(extra);
        let mut c = self.n.cmd(&args);
        for (k, v) in env {
            c.env(k, v);
        }
        // A file, not a pipe: a pipe nobody reads would stop the daemon
        // once full.
        let log = std::fs::File::create(self.log_path()).unwrap();
        c.env("NUBO_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.n.root.parent().unwrap().join("daemon.log")
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.n.ok(&[
            "elastic",
            "status",
            &self.n.name,
            "--json",
            "--decisions",
            "200",
        ]))
        .unwrap()
    }

    fn decisions(&self, action: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.status()["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["action"] == action)
            .map(|d| {
                (
                    d["node"].as_str().unwrap().to_string(),
                    d["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn running(&self) -> Vec<String> {
        running_nodes(&self.n.show())
    }

    fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut(&Elastic) -> bool) {
        let until = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}: {:#}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Stops the daemon (SIGTERM) and checks it ended well; its log.
fn stop(e: &Elastic, mut child: Child) -> String {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(e.log_path()).unwrap_or_default();
    assert!(status.success(), "daemon: {status}\n{log}");
    log
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(feature = "ec2")]
mod sqs {
    use super::*;
    use crate::support::moto::Moto;
    use aws_sdk_sqs::Client;
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_sqs::types::QueueAttributeName;

    const KEY: &str = "AKIDNUBOSQSTEST";
    const SECRET: &str = "nubo-sqs-secret";

    /// The worker's consumer (Debian's python3, no boto3: a node has its
    /// own /root, so pip's packages there are not seen): SQS's JSON
    /// protocol signed with Signature Version 4. It takes a message from
    /// `jobs`, works for the seconds its body says, sends `HOST SECONDS`
    /// to `done`, and deletes the message.
    const CONSUMER: &str = r#"#!/usr/bin/python3
import datetime, hashlib, hmac, json, os, socket, sys, time, urllib.request

END = os.environ["SQS_ENDPOINT"]
KEY = os.environ["AWS_ACCESS_KEY_ID"]
SECRET = os.environ["AWS_SECRET_ACCESS_KEY"]
REGION = "us-east-1"


def call(action, params):
    body = json.dumps(params).encode()
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    host = END.split("://", 1)[1]
    target = "AmazonSQS." + action
    canonical_headers = ("content-type:application/x-amz-json-1.0\nhost:" + host
                         + "\nx-amz-date:" + amz + "\nx-amz-target:" + target + "\n")
    signed = "content-type;host;x-amz-date;x-amz-target"
    request = "\n".join(["POST", "/", "", canonical_headers, signed,
                         hashlib.sha256(body).hexdigest()])
    scope = day + "/" + REGION + "/sqs/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(request.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in (day, REGION, "sqs", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = dict()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["X-Amz-Date"] = amz
    headers["X-Amz-Target"] = target
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=" + KEY + "/" + scope
                                + ", SignedHeaders=" + signed + ", Signature=" + signature)
    req = urllib.request.Request(END + "/", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
    return json.loads(text) if text else dict()


me = socket.gethostname()
work = call("GetQueueUrl", dict(QueueName="jobs"))["QueueUrl"]
done = call("GetQueueUrl", dict(QueueName="done"))["QueueUrl"]
print(me, "consuming", work, flush=True)
while True:
    try:
        got = call("ReceiveMessage", dict(QueueUrl=work, MaxNumberOfMessages=1,
                                          WaitTimeSeconds=1, VisibilityTimeout=60))
        for m in got.get("Messages", []):
            print(me, "working on", m["MessageId"], flush=True)
            time.sleep(float(m["Body"]))
            call("SendMessage", dict(QueueUrl=done, MessageBody=me + " " + m["Body"]))
            call("DeleteMessage", dict(QueueUrl=work, ReceiptHandle=m["ReceiptHandle"]))
    except Exception as e:
        print(me, "error:", e, file=sys.stderr, flush=True)
        time.sleep(1)
"#;

    fn worker(port: u16) -> String {
        let script: String = CONSUMER.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "- file:\n    path: /usr/local/bin/nubo-sqs-consumer\n    mode: '0755'\n    content: |\n{script}\
             - daemon:\n    name: sqs-consumer\n    \
             command: exec env SQS_ENDPOINT=http://$(echo {{{{node.ip}}}} | sed 's/[.][0-9]*$/.1/'):{port} /usr/bin/python3 /usr/local/bin/nubo-sqs-consumer\n    \
             env: {{AWS_ACCESS_KEY_ID: {KEY}, AWS_SECRET_ACCESS_KEY: {SECRET}}}\n"
        )
    }

    fn client(endpoint: &str) -> Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(KEY, SECRET, None, None, "test"))
            .endpoint_url(endpoint)
            .build();
        Client::from_conf(conf)
    }

    async fn depth(c: &Client, url: &str) -> (u64, u64) {
        let out = c
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let a = out.attributes().unwrap();
        let n = |k: QueueAttributeName| a.get(&k).unwrap().parse::<u64>().unwrap();
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Issue 19, must-show 3 (SQS): six messages of 2 s on a cluster of
    /// the front-end alone: the daemon powers on the three workers the
    /// cluster may have, their consumers do the six, the idle workers are
    /// removed, and `destroy` leaves nothing.
    #[test]
    fn elastic_daemon_grows_on_sqs_messages_and_shrinks_when_they_are_done() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if !can_run() {
            return;
        }
        let port = free_port();
        let e = Elastic::launch("sqs", &worker(port));
        assert_eq!(e.running(), ["front"]);
        let Some(moto) = Moto::start_on(&e.bridge_address(), port, &[]) else {
            return;
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let c = client(&moto.endpoint());
        let (jobs, done) = rt.block_on(async {
            let jobs = c.create_queue().queue_name("jobs").send().await.unwrap();
            let done = c.create_queue().queue_name("done").send().await.unwrap();
            (
                jobs.queue_url().unwrap().to_string(),
                done.queue_url().unwrap().to_string(),
            )
        });
        let daemon = e.daemon(
            &format!("sqs:{jobs}"),
            &[
                ("AWS_ACCESS_KEY_ID", KEY),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
            &[],
        );
        let t0 = Instant::now();
        rt.block_on(async {
            for _ in 0..6 {
                c.send_message()
                    .queue_url(&jobs)
                    .message_body("2")
                    .send()
                    .await
                    .unwrap();
            }
        });
        e.wait_for("three workers", 120, |e| e.running().len() == 4);
        eprintln!(
            "timeline: 6 messages sent -> 3 workers in {:?}",
            t0.elapsed()
        );
        // The work is done on the workers.
        let mut results: Vec<String> = Vec::new();
        let until = Instant::now() + Duration::from_secs(120);
        while results.len() < 6 {
            assert!(Instant::now() < until, "only {results:?} done");
            rt.block_on(async {
                let got = c
                    .receive_message()
                    .queue_url(&done)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .unwrap();
                for m in got.messages() {
                    results.push(m.body().unwrap().to_string());
                    c.delete_message()
                        .queue_url(&done)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            });
            std::thread::sleep(Duration::from_millis(300));
        }
        eprintln!(
            "timeline: 6 messages done in {:?}: {results:?}",
            t0.elapsed()
        );
        for r in &results {
            assert!(
                ["wn-1 2", "wn-2 2", "wn-3 2"].contains(&r.as_str()),
                "done on a worker: {results:?}"
            );
        }
        assert_eq!(rt.block_on(depth(&c, &jobs)), (0, 0), "the queue is empty");
        // Idle, the workers go.
        e.wait_for("the workers removed", 120, |e| e.running() == ["front"]);
        eprintln!("timeline: workers removed at {:?}", t0.elapsed());
        let log = stop(&e, daemon);
        let on: Vec<String> = e
            .decisions("power_on")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(on, ["wn-1", "wn-2", "wn-3"], "{log}");
        let off = e.decisions("power_off");
        assert_eq!(off.len(), 3, "{off:?}");
        assert!(off.iter().all(|(_, r)| r.contains("idle for")), "{off:?}");
        assert!(
            e.decisions("power_on")
                .iter()
                .all(|(_, r)| r.contains("message-")),
            "a power-on names the message it is for"
        );
        e.n.ok(&["destroy", &e.n.name, "-y"]);
        assert_nothing_left(&e.n, "after destroy");
    }

    /// A queue URL that is not one, and a queue without credentials: clear
    /// errors, no daemon left.
    #[test]
    fn a_bad_sqs_queue_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let out = crate::support::nubo_in(dir.path())
            .args(["elastic", "run", "c1", "--queue", "sqs:jobs"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "a usage error");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`jobs` is not an SQS queue URL"), "{err}");
    }
}

mod kubernetes {
    use super::*;
    use nubo::elastic::QueueState;
    use nubo::ops::elastic::kube::Kube;
    use nubo::testcloud::emu::kube::{KubeConfig, KubeEmu, RUN_SECONDS};
    use serde_json::json;

    const TOKEN: &str = "nubo-kube-test-token";

    /// The worker's stand-in kubelet (curl and sh): registers the host's
    /// Node (1 CPU, 1 GiB allocatable) and posts its `Ready` status every
    /// second.
    const KUBELET: &str = r#"#!/bin/sh
api=$1
token=$2
me=$(hostname)
node='{ "apiVersion": "v1", "kind": "Node", "metadata": { "name": "'$me'" }, "spec": { }, "status": { "capacity": { "cpu": "1", "memory": "1Gi", "pods": "110" }, "allocatable": { "cpu": "1", "memory": "1Gi", "pods": "110" } } }'
while :; do
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  st='{ "status": { "conditions": [ { "type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "'$now'" } ] } }'
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer $token" -H 'Content-Type: application/merge-patch+json' --data "$st" "$api/api/v1/nodes/$me/status")
  if [ "$code" = 404 ]; then
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data "$node" "$api/api/v1/nodes"
    echo "registered $me"
    continue
  fi
  sleep 1
done
"#;

    fn worker(port: u16) -> String {
        let script: String = KUBELET.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "- file:\n    path: /usr/local/bin/nubo-kubelet\n    mode: '0755'\n    content: |\n{script}\
             - daemon:\n    name: kubelet\n    \
             command: exec /usr/local/bin/nubo-kubelet http://$(echo {{{{node.ip}}}} | sed 's/[.][0-9]*$/.1/'):{port} {TOKEN}\n"
        )
    }

    fn pod(name: &str, cpu: &str, memory: &str, seconds: &str) -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": {RUN_SECONDS: seconds}},
            "spec": {"containers": [{
                "name": "main",
                "image": "busybox",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }]},
        })
    }

    async fn create(url: &str, p: &serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/namespaces/default/pods"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(p.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn node(url: &str, name: &str, ready: bool) {
        let http = reqwest::Client::new();
        let n = json!({"metadata": {"name": name}, "status": {
            "allocatable": {"cpu": "2", "memory": "1Gi"}}});
        let r = http
            .post(format!("{url}/api/v1/nodes"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(n.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let st = json!({"status": {"conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        let r = http
            .patch(format!("{url}/api/v1/nodes/{name}/status"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/merge-patch+json")
            .body(st.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    /// A Node whose kubelet stops posting its status reads `Ready:
    /// Unknown` after the grace period, and the queue sees it off; its
    /// next status makes it ready again.
    #[test]
    fn a_node_whose_kubelet_is_silent_goes_off_after_the_grace_period() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let emu = KubeEmu::start_on(
                KubeConfig {
                    token: TOKEN.into(),
                    grace: Duration::from_millis(300),
                },
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .unwrap();
            let url = emu.url();
            node(&url, "wn-1", true).await;
            let k = Kube::new(&url, Some(TOKEN.into())).unwrap();
            assert_eq!(
                k.snapshot().await.unwrap().node("wn-1"),
                Some(QueueState::Idle)
            );
            // A pod is not scheduled onto a node that is not ready.
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(create(&url, &pod("late", "1", "1Mi", "1")).await, 201);
            let s = k.snapshot().await.unwrap();
            assert_eq!(s.node("wn-1"), Some(QueueState::Off), "{s:?}");
            assert_eq!(s.pending.len(), 1, "not bound to a node not ready");
            let r = reqwest::Client::new()
                .patch(format!("{url}/api/v1/nodes/wn-1/status"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/merge-patch+json")
                .body(r#"{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let s = k.snapshot().await.unwrap();
            assert_eq!(
                s.node("wn-1"),
                Some(QueueState::Used),
                "ready, running the pod"
            );
            assert!(s.pending.is_empty());
            let r = reqwest::Client::new()
                .patch(format!("{url}/api/v1/nodes/wn-1"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "text/plain")
                .body("x")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 415, "not a merge patch");
        });
    }

    /// A `kubernetes:` queue that is not a URL: a usage error saying so.
    #[test]
    fn a_bad_kubernetes_url_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let out = crate::support::nubo_in(dir.path())
            .args([
                "elastic",
                "run",
                "c1",
                "--queue",
                "kubernetes:10.0.0.1:6443",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "a usage error");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("`10.0.0.1:6443` is not a Kubernetes API server URL"),
            "{err}"
        );
    }

    /// The daemon's Kubernetes client against the emulator (no root):
    /// pending pods with their requests, nodes idle, used, off; cordon and
    /// evict; delete; a wrong token and an unreachable server are clear
    /// errors.
    #[test]
    fn the_kubernetes_queue_reads_pods_and_nodes_and_drains_by_cordon_and_eviction() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let emu = KubeEmu::start_on(
                KubeConfig {
                    token: TOKEN.into(),
                    grace: Duration::from_secs(30),
                },
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .unwrap();
            let url = emu.url();
            node(&url, "wn-1", true).await;
            node(&url, "wn-2", true).await;
            node(&url, "wn-3", false).await;
            // a and b fill wn-1 (2 CPUs), c goes to wn-2; huge fits no node.
            for (name, cpu) in [("a", "1"), ("b", "1000m"), ("c", "500m"), ("huge", "3")] {
                assert_eq!(create(&url, &pod(name, cpu, "128Mi", "600")).await, 201);
            }
            assert_eq!(
                create(&url, &pod("a", "1", "1Mi", "1")).await,
                409,
                "a duplicate"
            );
            assert_eq!(
                create(&url, &pod("bad", "1", "lots", "1")).await,
                422,
                "a bad quantity"
            );
            let k = Kube::new(&url, Some(TOKEN.into())).unwrap();
            let s = k.snapshot().await.unwrap();
            let placed = emu.pods();
            assert_eq!(
                placed
                    .iter()
                    .map(|(_, _, n)| n.as_deref())
                    .collect::<Vec<_>>(),
                [Some("wn-1"), Some("wn-1"), Some("wn-2"), None],
                "{placed:?}"
            );
            assert_eq!(s.pending.len(), 1, "{s:?}");
            assert_eq!(s.pending[0].id, "default/huge");
            assert_eq!((s.pending[0].cpus, s.pending[0].memory_mb), (3, 128));
            assert_eq!(s.running, 3);
            assert_eq!(s.node("wn-1"), Some(QueueState::Used));
            assert_eq!(s.node("wn-3"), Some(QueueState::Off));
            // Drain wn-2: cordoned, its pod evicted.
            k.drain("wn-2").await.unwrap();
            let s = k.snapshot().await.unwrap();
            assert_eq!(s.node("wn-2"), Some(QueueState::Failed), "cordoned, no pod");
            assert!(
                !emu.pods().iter().any(|(id, _, _)| id == "default/c"),
                "evicted"
            );
            let calls = emu.calls();
            assert!(
                calls.contains(&"PATCH /api/v1/nodes/wn-2".to_string()),
                "{calls:?}"
            );
            assert!(
                calls.contains(&"POST /api/v1/namespaces/default/pods/c/eviction".to_string()),
                "{calls:?}"
            );
            k.undrain("wn-2").await.unwrap();
            assert_eq!(
                k.snapshot().await.unwrap().node("wn-2"),
                Some(QueueState::Idle)
            );
            k.gone("wn-2").await.unwrap();
            k.gone("wn-2").await.unwrap();
            assert_eq!(emu.nodes(), ["wn-1", "wn-3"]);
            // Errors.
            let e = Kube::new(&url, Some("wrong".into()))
                .unwrap()
                .snapshot()
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("401 Unauthorized"), "{e}");
            let e = Kube::new("http://127.0.0.1:9", None)
                .unwrap()
                .snapshot()
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("GET http://127.0.0.1:9/api/v1/pods"), "{e}");
        });
    }

    /// Issue 19, must-show 3 (Kubernetes): six pods of half a CPU for 2 s
    /// on a cluster of the front-end alone: the daemon powers on the three
    /// workers the cluster may have, their kubelets register their Nodes,
    /// the emulator's scheduler runs the pods there until they succeed,
    /// idle workers are cordoned, removed and their Nodes deleted, and
    /// `destroy` leaves nothing.
    #[test]
    fn elastic_daemon_grows_on_pending_pods_and_shrinks_when_they_succeed() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if !can_run() {
            return;
        }
        let port = free_port();
        let e = Elastic::launch("kube", &worker(port));
        assert_eq!(e.running(), ["front"]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let bind = format!("{}:{port}", e.bridge_address()).parse().unwrap();
        let emu = rt
            .block_on(KubeEmu::start_on(
                KubeConfig {
                    token: TOKEN.into(),
                    grace: Duration::from_secs(5),
                },
                bind,
            ))
            .unwrap();
        let url = emu.url();
        let auth = e.n.root.parent().unwrap().join("auth.dat");
        std::fs::write(
            &auth,
            format!(
                "id = local; type = Local\nid = k8s; type = Kubernetes; host = {url}; token = {TOKEN}\n"
            ),
        )
        .unwrap();
        let daemon = e.daemon(
            &format!("kubernetes:{url}"),
            &[],
            &["-a", auth.to_str().unwrap()],
        );
        let t0 = Instant::now();
        rt.block_on(async {
            for i in 1..=6 {
                let p = pod(&format!("p-{i}"), "500m", "256Mi", "2");
                assert_eq!(create(&url, &p).await, 201);
            }
        });
        e.wait_for("the six pods to succeed", 120, |_| {
            let pods = emu.pods();
            pods.len() == 6 && pods.iter().all(|(_, phase, _)| phase == "Succeeded")
        });
        let pods = emu.pods();
        eprintln!("timeline: 6 pods succeeded in {:?}: {pods:?}", t0.elapsed());
        for (_, _, node) in &pods {
            assert!(
                ["wn-1", "wn-2", "wn-3"].contains(&node.as_deref().unwrap_or("")),
                "ran on a worker: {pods:?}"
            );
        }
        e.wait_for("the workers removed", 120, |e| {
            e.running() == ["front"] && emu.nodes().is_empty()
        });
        eprintln!("timeline: workers removed at {:?}", t0.elapsed());
        let log = stop(&e, daemon);
        let on: Vec<String> = e
            .decisions("power_on")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(on, ["wn-1", "wn-2", "wn-3"], "{log}");
        assert!(
            e.decisions("power_on")
                .iter()
                .all(|(_, r)| r.contains("job default/p-") && r.contains("256 MiB")),
            "{:?}",
            e.decisions("power_on")
        );
        let off = e.decisions("power_off");
        assert_eq!(off.len(), 3, "{off:?}");
        let calls = emu.calls();
        for w in ["wn-1", "wn-2", "wn-3"] {
            let cordon = calls
                .iter()
                .position(|c| c == &format!("PATCH /api/v1/nodes/{w}"));
            let delete = calls
                .iter()
                .position(|c| c == &format!("DELETE /api/v1/nodes/{w}"));
            assert!(
                cordon.is_some() && delete.is_some() && cordon < delete,
                "{w} cordoned, then deleted: {calls:?}"
            );
        }
        e.n.ok(&["destroy", &e.n.name, "-y"]);
        assert_nothing_left(&e.n, "after destroy");
    }
}
