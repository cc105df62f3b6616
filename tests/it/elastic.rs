//! The elasticity daemon end to end on the local provider, through the
//! binary, with the generic `command` job queue (a file the test writes):
//! grow on a pending job, shrink after the idle time, status, metrics,
//! resume/suspend by host list, and SIGKILL during a power-on followed by a
//! restart (no duplicate VM, no lost node). The SLURM test is in
//! `slurm_cluster.rs`.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs.

use crate::support::local::{Nubo, SERIAL, assert_nothing_left, can_run};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TEMPLATE: &str = r#"
network private ()
system front (
    net_interface.0.connection = 'private' and net_interface.0.dns_name = 'front' and
    disk.0.image.url = 'local://'
)
system wn (
    ec3_max_instances = 2 and elastic_idle_time = 2 and elastic_cooldown = 0 and
    elastic_poweron_timeout = 120 and
    net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and
    disk.0.image.url = 'local://'
)
configure base (
@begin
- include: hosts
@end
)
contextualize (
    system front configure base step 1
    system wn configure base step 1
)
deploy front 1
"#;

struct Elastic {
    n: Nubo,
    dir: PathBuf,
}

impl Elastic {
    fn new(tag: &str) -> Elastic {
        let n = Nubo::new(tag);
        let dir = n.root.parent().unwrap().join("elastic");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cluster.radl"), TEMPLATE).unwrap();
        let e = Elastic { n, dir };
        e.queue(r#"{"pending": [], "nodes": []}"#);
        e
    }

    fn launch(&self) {
        let radl = self.dir.join("cluster.radl");
        self.n
            .ok(&["launch", &self.n.name, radl.to_str().unwrap(), "-y"]);
    }

    /// Replaces what the queue command prints.
    fn queue(&self, json: &str) {
        let tmp = self.dir.join("queue.json.tmp");
        std::fs::write(&tmp, json).unwrap();
        std::fs::rename(&tmp, self.dir.join("queue.json")).unwrap();
    }

    fn daemon(&self, extra: &[&str], kill_at: Option<&str>) -> Child {
        let q = format!("command:cat {}", self.dir.join("queue.json").display());
        let mut args = vec![
            "elastic",
            "run",
            &self.n.name,
            "--queue",
            &q,
            "--period",
            "0.2",
        ];
        args.extend_from_slice(extra);
        let mut c = self.n.cmd(&args);
        if let Some(k) = kill_at {
            c.env("NUBO_TEST_KILL_AT", k);
        }
        c.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.n.ok(&[
            "elastic",
            "status",
            &self.n.name,
            "--json",
            "--decisions",
            "100",
        ]))
        .unwrap()
    }

    fn node_state(&self, node: &str) -> String {
        self.status()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .map(|n| n["state"].as_str().unwrap().to_string())
            .unwrap_or_default()
    }

    fn running_vms(&self) -> Vec<String> {
        crate::support::local::running_nodes(&self.n.show())
    }

    fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut(&Elastic) -> bool) {
        let until = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}: {:#}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "daemon: {status}\n{err}");
    status
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn one_job() -> &'static str {
    r#"{"pending": [{"id": "1"}], "nodes": []}"#
}

#[test]
fn elastic_daemon_grows_on_a_pending_job_and_shrinks_when_idle() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let e = Elastic::new("elastic");
    e.launch();
    assert_eq!(e.running_vms(), ["front"]);
    let port = free_port();
    let daemon = e.daemon(&["--metrics", &format!("127.0.0.1:{port}")], None);
    let t0 = Instant::now();

    e.queue(one_job());
    e.wait_for("wn-1 to run", 60, |e| {
        e.running_vms().contains(&"wn-1".to_string())
    });
    eprintln!(
        "timeline: job pending -> wn-1 running in {:?}",
        t0.elapsed()
    );
    assert_eq!(e.running_vms(), ["front", "wn-1"], "one job, one node");
    // Configured like the rest: the front-end's /etc/hosts names it.
    let hosts = e.n.ok(&["ssh", &e.n.name, "front", "cat", "/etc/hosts"]);
    assert!(hosts.contains("wn-1"), "{hosts}");

    // The queue sees it and runs the job there.
    e.queue(r#"{"pending": [], "running": 1, "nodes": [{"name": "wn-1", "state": "used"}]}"#);
    e.wait_for("wn-1 used", 30, |e| e.node_state("wn-1") == "used");
    let metrics = http_get(port);
    assert!(
        metrics.contains("nubo_elastic_nodes{system=\"wn\",state=\"used\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nubo_elastic_decisions_total{action=\"power_on\"} 1"),
        "{metrics}"
    );

    // The job ends; after the idle time the node goes.
    let idle_at = Instant::now();
    e.queue(r#"{"pending": [], "running": 0, "nodes": [{"name": "wn-1", "state": "idle"}]}"#);
    e.wait_for("wn-1 off", 60, |e| e.node_state("wn-1") == "off");
    assert!(
        idle_at.elapsed() >= Duration::from_secs(2),
        "not before elastic_idle_time"
    );
    eprintln!("timeline: idle -> wn-1 off in {:?}", idle_at.elapsed());
    assert_eq!(e.running_vms(), ["front"]);
    stop(daemon);

    let status = e.status();
    let decisions: Vec<(String, String)> = status["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().into(),
                d["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        decisions
            .iter()
            .any(|(a, r)| a == "power_on" && r.contains("job 1")),
        "{decisions:#?}"
    );
    assert!(
        decisions
            .iter()
            .any(|(a, r)| a == "power_off" && r.contains("idle for")),
        "{decisions:#?}"
    );
    let text = e.n.ok(&["elastic", "status", &e.n.name]);
    assert!(
        text.contains("not running") && text.contains("wn-2"),
        "{text}"
    );

    // SLURM's ResumeProgram / SuspendProgram way: host lists.
    e.n.ok(&["elastic", "resume", &e.n.name, "wn-[1-2]"]);
    assert_eq!(e.running_vms(), ["front", "wn-1", "wn-2"]);
    e.n.ok(&["elastic", "suspend", &e.n.name, "wn-1"]);
    assert_eq!(e.running_vms(), ["front", "wn-2"]);
    let out = e.n.run(&["elastic", "resume", &e.n.name, "db-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an elastic node"));

    e.n.ok(&["destroy", &e.n.name, "-y"]);
    assert_nothing_left(&e.n, "after destroy");
}

#[test]
fn elastic_daemon_sigkilled_during_power_on_restarts_without_duplicate_or_lost_node() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    for point in ["vm-intent", "vm-created", "step-started"] {
        let e = Elastic::new("elastic-kill");
        e.launch();
        e.queue(one_job());
        let mut killed = e.daemon(&[], Some(point));
        let status = killed.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: the daemon was SIGKILLed"
        );
        // Restarted: it finishes the power-on it recorded.
        let daemon = e.daemon(&[], None);
        e.wait_for("wn-1 to run", 60, |e| {
            e.running_vms().contains(&"wn-1".to_string())
        });
        e.queue(r#"{"pending": [], "running": 1, "nodes": [{"name": "wn-1", "state": "used"}]}"#);
        e.wait_for("wn-1 used", 30, |e| e.node_state("wn-1") == "used");
        stop(daemon);
        assert_eq!(
            e.running_vms(),
            ["front", "wn-1"],
            "{point}: exactly one worker"
        );
        let on_host: Vec<String> =
            e.n.provider()
                .list_nodes(&e.n.name)
                .unwrap()
                .into_iter()
                .map(|n| n.name)
                .collect();
        assert_eq!(
            on_host,
            ["front", "wn-1"],
            "{point}: nothing untracked on the host"
        );
        let store = e.n.store();
        assert!(store.open_intents(&e.n.name).unwrap().is_empty(), "{point}");
        let steps = e.n.show()["steps"].as_array().unwrap().clone();
        assert!(
            steps.iter().all(|s| s["status"] == "ok"),
            "{point}: {steps:#?}"
        );
        e.n.ok(&["destroy", &e.n.name, "-y"]);
        assert_nothing_left(&e.n, point);
    }
}
