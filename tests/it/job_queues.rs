//! The elasticity daemon on real job queues other than SLURM, end to end
//! on the local provider through the binary: the shipped `rabbitmq`
//! template (Debian's rabbitmq-server and python3-pika) and `sge` template
//! (Debian's gridengine packages), launched with no worker and at most
//! three; the daemon started with a short idle time; a burst that needs
//! three workers; the cluster grows to three, the work completes (its
//! answers or outputs checked), the idle workers are drained and removed,
//! and `destroy` leaves nothing.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs. Prints a
//! timeline.

use crate::support::local::{self, Nubo};
use crate::support::skip_or_fail;
use nubo::provider::local::LocalProvider;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn can_run(tools: &[(&str, &str)]) -> bool {
    if let Err(e) = LocalProvider::check_host() {
        skip_or_fail(&format!("the local provider cannot run here: {e}"));
        return false;
    }
    for (tool, package) in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool} || test -e {tool}")])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip_or_fail(&format!(
                "no {tool}: run scripts/install-local-deps.sh (apt-get install {package})"
            ));
            return false;
        }
    }
    local::sweep_stale();
    true
}

/// `nubo elastic run` on the cluster: the child and the file its standard
/// error goes to.
struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    fn start(n: &Nubo, queue: &str) -> Daemon {
        let log = n.home.join("daemon.log");
        std::fs::create_dir_all(&n.home).unwrap();
        let child = n
            .cmd(&[
                "elastic", "run", &n.name, "--queue", queue, "--period", "0.5",
            ])
            .env("NUBO_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "daemon: {status}\n{}", self.log());
    }
}

/// A test that fails leaves no daemon running.
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Timeline {
    start: Instant,
    marks: Vec<(Duration, String)>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            start: Instant::now(),
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("[{:7.2} s] {what}", self.start.elapsed().as_secs_f64());
        self.marks.push((self.start.elapsed(), what));
    }

    fn print(&self, name: &str) {
        eprintln!(
            "timeline of {name}:\n{}",
            self.marks
                .iter()
                .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A shell command on a node, through `nubo ssh`.
fn on(n: &Nubo, node: &str, cmd: &str) -> String {
    n.ok(&["ssh", &n.name, node, "--", cmd])
}

/// Launches `TEMPLATE local` with no worker, at most three, idle for 5 s
/// before a power-off.
fn launch(n: &Nubo, t: &mut Timeline, template: &str) {
    let add = n.root.with_file_name("elastic.radl");
    std::fs::write(
        &add,
        "system wn (ec3_max_instances = 3 and elastic_idle_time = 5 and elastic_cooldown = 0)\n\
         deploy wn 0\n",
    )
    .unwrap();
    t.mark(format!("launch {} {template} local, no worker", n.name));
    n.ok(&[
        "launch",
        &n.name,
        template,
        "local",
        "--add",
        add.to_str().unwrap(),
        "-y",
    ]);
    t.mark("launched: the front-end only");
}

/// Follows the daemon's decisions and nodes until `done` says the work is
/// done and every elastic node is off again; returns the nodes it powered
/// on.
fn watch(
    n: &Nubo,
    t: &mut Timeline,
    daemon: &mut Daemon,
    mut done: impl FnMut(&Nubo, &mut Timeline) -> bool,
) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut decisions_seen = 0;
    let mut node_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut powered_on = BTreeSet::new();
    let mut work_done = false;
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            panic!("the daemon exited ({status}):\n{}", daemon.log());
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {:#?}\nthe daemon's log:\n{}",
            t.marks,
            daemon.log()
        );
        let status: serde_json::Value = serde_json::from_str(&n.ok(&[
            "elastic",
            "status",
            &n.name,
            "--json",
            "--decisions",
            "200",
        ]))
        .unwrap();
        let decisions = status["decisions"].as_array().unwrap();
        for d in &decisions[decisions_seen.min(decisions.len())..] {
            let (action, node, why) = (
                d["action"].as_str().unwrap(),
                d["node"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            );
            if action == "power_on" {
                powered_on.insert(node.to_string());
            }
            t.mark(format!("decision: {action} {node}: {why}"));
        }
        decisions_seen = decisions.len();
        for node in status["nodes"].as_array().unwrap() {
            let (name, state) = (
                node["name"].as_str().unwrap(),
                node["state"].as_str().unwrap(),
            );
            if node_seen.get(name).map(String::as_str) != Some(state) {
                t.mark(format!("{name} {state}"));
                node_seen.insert(name.to_string(), state.to_string());
            }
        }
        if !work_done && done(n, t) {
            work_done = true;
            t.mark("the work is done");
        }
        if work_done && node_seen.len() == 3 && node_seen.values().all(|s| s == "off") {
            return powered_on;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// After the burst: only the front-end runs; `destroy` leaves nothing.
fn destroy_leaves_nothing(n: &Nubo, t: &mut Timeline) {
    let shown = n.show();
    assert_eq!(
        local::running_nodes(&shown),
        ["front"],
        "the workers are gone"
    );
    let netns = local::netns_inodes(&n.name);
    n.ok(&["destroy", &n.name, "-y"]);
    t.mark("destroyed");
    let left = local::traces(&n.name, &n.root, &netns);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// A queue's depth, by `rabbitmqctl` on the front-end: (ready,
/// unacknowledged).
fn rabbit_depth(n: &Nubo, queue: &str) -> (u64, u64) {
    let out = on(
        n,
        "front",
        "rabbitmqctl -q list_queues name messages_ready messages_unacknowledged --no-table-headers",
    );
    out.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&queue)).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
        })
        .unwrap_or((0, 0))
}

/// Issue 19: six messages `sleep 15; hostname` published to the rabbitmq
/// template's queue `jobs`, at most three workers: the daemon
/// (`--queue rabbitmq:jobs`) powers on three, the six answers come back
/// (exit status 0, each printed by the worker that answered, the three
/// workers among them), the workers go after the idle time, nothing is
/// left.
#[test]
fn rabbitmq_burst_grows_to_three_workers_completes_and_shrinks() {
    if !can_run(&[
        ("ssh", "openssh-client"),
        ("busybox", "busybox"),
        ("rabbitmq-server", "rabbitmq-server"),
        (
            "/usr/lib/python3/dist-packages/pika/__init__.py",
            "python3-pika",
        ),
    ]) {
        return;
    }
    let _serial = local::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = Nubo::new("rabbitmq");
    let mut t = Timeline::new();
    launch(&n, &mut t, "rabbitmq");
    assert_eq!(rabbit_depth(&n, "jobs"), (0, 0), "the queue is declared");

    let mut daemon = Daemon::start(&n, "rabbitmq:jobs");
    on(
        &n,
        "front",
        "for i in 1 2 3 4 5 6; do nubo-amqp publish --reply-to done 'sleep 15; hostname'; done",
    );
    t.mark("published 6 messages");
    let powered_on = watch(&n, &mut t, &mut daemon, |n, _| {
        rabbit_depth(n, "jobs") == (0, 0) && rabbit_depth(n, "done").0 == 6
    });
    daemon.stop();
    assert_eq!(
        powered_on.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "three workers powered on, no more"
    );
    let answers = on(&n, "front", "nubo-amqp collect done 10");
    let answers: Vec<serde_json::Value> = answers
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 6, "{answers:#?}");
    let mut by = BTreeSet::new();
    for a in &answers {
        assert_eq!(a["status"], 0, "{a}");
        let node = a["node"].as_str().unwrap();
        assert_eq!(a["output"].as_str().unwrap().trim(), node, "{a}");
        by.insert(node.to_string());
    }
    assert_eq!(
        by.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "every worker took messages"
    );
    destroy_leaves_nothing(&n, &mut t);
    t.print(&n.name);
}

/// Issue 19: six one-slot jobs `sleep 15` submitted with qsub to the sge
/// template's cell, at most three workers: the daemon (`--queue sge`)
/// powers on three, which join the cell; the six jobs complete (Grid
/// Engine's accounting, `qacct`, gives each an exit status 0 on a worker,
/// the three workers among them), the workers are drained, removed and
/// leave the cell (no execution host left), nothing is left.
#[test]
fn sge_burst_grows_to_three_workers_completes_and_shrinks() {
    if !can_run(&[
        ("ssh", "openssh-client"),
        ("busybox", "busybox"),
        ("/usr/lib/gridengine/sge_qmaster", "gridengine-master"),
        ("/usr/lib/gridengine/sge_execd", "gridengine-exec"),
        ("qsub", "gridengine-client"),
    ]) {
        return;
    }
    let _serial = local::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = Nubo::new("sge");
    let mut t = Timeline::new();
    launch(&n, &mut t, "sge");
    // The front-end's instance of all.q has no slot (qsub then queues
    // jobs while no worker is up).
    assert_eq!(on(&n, "front", "qconf -sel").trim(), "front");

    let mut daemon = Daemon::start(&n, "sge");
    let ids = on(
        &n,
        "front",
        "cd /tmp && for i in 1 2 3 4 5 6; do su nubo -c 'qsub -terse -b y -o /dev/null -j y sleep 15' 2>&1; done",
    );
    let out = ids;
    let ids: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(ids.len(), 6, "{out}");
    assert!(ids.iter().all(|i| i.parse::<u32>().is_ok()), "{out}");
    t.mark(format!("submitted 6 jobs: {}", ids.join(" ")));
    let mut ended = BTreeSet::new();
    let powered_on = watch(&n, &mut t, &mut daemon, |n, t| {
        let queued = on(n, "front", "qstat -u '*' | awk 'NR > 2 { print $1 }'");
        for id in &ids {
            if !queued.lines().any(|l| l.trim() == id) && ended.insert(id.clone()) {
                t.mark(format!("job {id} ends"));
            }
        }
        ended.len() == ids.len()
    });
    daemon.stop();
    assert_eq!(
        powered_on.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "three workers powered on, no more"
    );
    // Each job's accounting record: its host and exit status (qmaster
    // writes the accounting file every 15 s, its `flush_time`).
    let deadline = Instant::now() + Duration::from_secs(60);
    let acct = loop {
        let acct = on(
            &n,
            "front",
            "qacct -j 2>/dev/null | awk '$1 == \"hostname\" { h = $2 } $1 == \"jobnumber\" { j = $2 } $1 == \"exit_status\" { print j, h, $2 }'",
        );
        let have = |id: &String| {
            acct.lines()
                .any(|l| l.split_whitespace().next() == Some(id))
        };
        if ids.iter().all(have) || Instant::now() > deadline {
            break acct;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let mut by = BTreeSet::new();
    for id in &ids {
        let line = acct
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no accounting for job {id}: {acct}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[2], "0", "job {id}: {line}");
        by.insert(f[1].to_string());
    }
    assert_eq!(
        by.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "every worker ran jobs"
    );
    assert_eq!(
        on(&n, "front", "qconf -sel; qconf -shgrp @allhosts").trim(),
        "front\ngroup_name @allhosts\nhostlist NONE",
        "the workers left the cell"
    );
    destroy_leaves_nothing(&n, &mut t);
    t.print(&n.name);
}
