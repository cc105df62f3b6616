//! Capacity failures (issue 19, item 5) on the OpenStack emulator, through
//! the binary: the daemon powers on a worker of type `small`, the cloud has
//! no room for its flavor (the server goes to ERROR with Nova's "No valid
//! host was found"), and in the same round the daemon powers on the
//! `ec3_if_fail` type `big` instead; `small` rests for its
//! `elastic_capacity_cooloff` (another job meanwhile gets a `big` node,
//! also from a daemon killed and started again) and is tried again only
//! after it. The VMs are records only (no host, no
//! SSH): the description configures nothing, and the job queue is a file
//! (`command:cat`).
//!
//! Also a power-off that does not finish (CLUES's ON_ERR, item 5): the
//! cloud refuses to delete the idle worker's server, and after
//! `elastic_poweroff_timeout` the node is reported `on_error`, still counts
//! against the maximum (a new job gets no second VM), and goes off once the
//! cloud deletes it.

use nubo::testcloud::emu::openstack::{self as ost, Fault, IMAGE_ID, OstEmu};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const COOLOFF_S: u64 = 10;

fn cluster() -> String {
    format!(
        "network public (outbound = 'yes')\n\
         system front (cpu.count >= 1 and memory.size >= 512m and \
           net_interface.0.connection = 'public' and disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
         system small (cpu.count >= 1 and memory.size >= 2g and \
           net_interface.0.connection = 'public' and disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and \
           ec3_max_instances = 2 and ec3_if_fail = 'big' and elastic_capacity_cooloff = {COOLOFF_S})\n\
         system big (cpu.count >= 1 and memory.size >= 8g and \
           net_interface.0.connection = 'public' and disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and \
           ec3_max_instances = 2 and ec3_prio = 5)\n\
         contextualize ()\n\
         deploy front 1\n\
         deploy small 0\n\
         deploy big 0\n"
    )
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn queue(dir: &Path, jobs: &[&str]) {
    queue_with_nodes(dir, jobs, &[]);
}

/// The queue file: `jobs` pending, `nodes` (name, state) as the queue sees them.
fn queue_with_nodes(dir: &Path, jobs: &[&str], nodes: &[(&str, &str)]) {
    let nodes: Vec<String> = nodes
        .iter()
        .map(|(n, s)| format!("{{\"name\": \"{n}\", \"state\": \"{s}\"}}"))
        .collect();
    let pending: Vec<String> = jobs
        .iter()
        .map(|j| format!("{{\"id\": \"{j}\", \"cpus\": 1, \"nodes\": 1}}"))
        .collect();
    let tmp = dir.join("queue.json.tmp");
    std::fs::write(
        &tmp,
        format!(
            "{{\"pending\": [{}], \"nodes\": [{}]}}",
            pending.join(", "),
            nodes.join(", ")
        ),
    )
    .unwrap();
    std::fs::rename(tmp, dir.join("queue.json")).unwrap();
}

async fn nubo(dir: &Path, args: &[&str]) -> String {
    let mut c = crate::support::nubo_in(dir);
    c.args(args);
    let out = tokio::process::Command::from(c).output().await.unwrap();
    crate::support::stdout_of(&format!("nubo {args:?}"), out)
}

/// The recorded decisions: (at ms, node, action, reason).
async fn decisions(dir: &Path) -> Vec<(i64, String, String, String)> {
    let s: serde_json::Value = serde_json::from_str(
        &nubo(
            dir,
            &["elastic", "status", "c1", "--json", "--decisions", "500"],
        )
        .await,
    )
    .unwrap();
    s["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["at"].as_i64().unwrap(),
                d["node"].as_str().unwrap().to_string(),
                d["action"].as_str().unwrap().to_string(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn power_ons(d: &[(i64, String, String, String)]) -> Vec<(i64, String)> {
    d.iter()
        .filter(|x| x.2 == "power_on")
        .map(|x| (x.0, x.1.clone()))
        .collect()
}

async fn wait_power_ons(dir: &Path, n: usize) -> Vec<(i64, String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = decisions(dir).await;
        if power_ons(&d).len() >= n {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {n} power-ons: {d:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The emulator answering at once (no boot, action or delete delay).
async fn quick_emu() -> OstEmu {
    OstEmu::start(ost::EmuConfig {
        boot_delay: Duration::ZERO,
        action_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        ..ost::EmuConfig::default()
    })
    .await
}

/// Launches `radl` as cluster `c1` on `emu` from `dir`.
async fn launch(dir: &Path, emu: &OstEmu, radl: &str) {
    std::fs::write(dir.join("cluster.radl"), radl).unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
            emu.keystone()
        ),
    )
    .unwrap();
    nubo(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
}

/// The daemon on `c1`, reading the queue file every second.
fn start_daemon(dir: &Path) -> Daemon {
    let q = format!("command:cat {}", dir.join("queue.json").display());
    let mut cmd = crate::support::nubo_in(dir);
    cmd.args(["elastic", "run", "c1", "--queue", &q, "--period", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap());
    Daemon(cmd.spawn().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_room_for_a_type_powers_on_its_fallback_in_the_same_round_then_rests() {
    let emu = quick_emu().await;
    // m1.small: the flavor `small` gets (2 GiB); the cloud has no room for it.
    emu.set_no_room("2", true);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    launch(dir, &emu, &cluster()).await;
    queue(dir, &[]);
    let daemon = start_daemon(dir);

    // 1. A job: `small` first (lower ec3_prio), refused, then `big`.
    queue(dir, &["1"]);
    let d = wait_power_ons(dir, 2).await;
    let ons = power_ons(&d);
    assert!(ons[0].1.starts_with("small"), "{d:#?}");
    assert!(ons[1].1.starts_with("big"), "{d:#?}");
    let refused = d
        .iter()
        .find(|x| x.1 == ons[0].1 && x.2 == "fail")
        .unwrap_or_else(|| panic!("no fail for {}: {d:#?}", ons[0].1));
    assert!(
        refused.3.contains("no capacity or quota") && refused.3.contains("No valid host"),
        "{refused:?}"
    );
    let rest = d
        .iter()
        .find(|x| x.1 == "system small")
        .unwrap_or_else(|| panic!("no rest noted: {d:#?}"));
    assert!(rest.3.contains(&format!("rests {COOLOFF_S}s")), "{rest:?}");
    // The same round: `big` is decided right after the refusal, before
    // the next reading of the queue (a round every second).
    assert!(
        ons[1].0 - refused.0 < 1000,
        "big {} ms after the refusal: {d:#?}",
        ons[1].0 - refused.0
    );

    // 2. Within the cool-off, with room again, and after the daemon is
    // killed and started again (the rest is read back from the records):
    // another job gets `big`.
    drop(daemon);
    emu.set_no_room("2", false);
    let daemon = start_daemon(dir);
    queue(dir, &["1", "2"]);
    let d = wait_power_ons(dir, 3).await;
    let ons = power_ons(&d);
    assert!(ons[2].1.starts_with("big"), "{d:#?}");
    assert!(ons[2].0 < rest.0 + (COOLOFF_S as i64) * 1000, "{d:#?}");

    // 3. After the cool-off: `small` again, and it runs.
    let wait_until = rest.0 + (COOLOFF_S as i64) * 1000 + 200;
    while (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64)
        < wait_until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    queue(dir, &["1", "2", "3"]);
    let d = wait_power_ons(dir, 4).await;
    let ons = power_ons(&d);
    assert!(ons[3].1.starts_with("small"), "{d:#?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown: serde_json::Value =
            serde_json::from_str(&nubo(dir, &["show", "c1", "--json"]).await).unwrap();
        let running: Vec<String> = shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "running")
            .map(|v| v["node"].as_str().unwrap().to_string())
            .collect();
        if running.contains(&ons[3].1) {
            assert_eq!(running.len(), 4, "front, two big, one small: {running:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} not running: {shown:#}",
            ons[3].1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(daemon);
    nubo(dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.servers().is_empty(), "{:#?}", emu.servers());
}

const POWEROFF_TIMEOUT_S: u64 = 3;

fn one_worker_cluster() -> String {
    format!(
        "network public (outbound = 'yes')\n\
         system front (cpu.count >= 1 and memory.size >= 512m and \
           net_interface.0.connection = 'public' and disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
         system wn (cpu.count >= 1 and memory.size >= 512m and \
           net_interface.0.connection = 'public' and disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and \
           ec3_max_instances = 1 and elastic_idle_time = 1 and elastic_cooldown = 0 and \
           elastic_poweroff_timeout = {POWEROFF_TIMEOUT_S})\n\
         contextualize ()\n\
         deploy front 1\n\
         deploy wn 0\n"
    )
}

async fn node_state(dir: &Path, node: &str) -> String {
    let s: serde_json::Value =
        serde_json::from_str(&nubo(dir, &["elastic", "status", "c1", "--json"]).await).unwrap();
    s["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .map(|n| n["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn wait_for<F: Fn(&[(i64, String, String, String)]) -> bool>(
    dir: &Path,
    what: &str,
    secs: u64,
    f: F,
) -> Vec<(i64, String, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let d = decisions(dir).await;
        if f(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_off_the_cloud_does_not_carry_out_is_on_error_and_still_counts() {
    let emu = quick_emu().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    launch(dir, &emu, &one_worker_cluster()).await;
    queue(dir, &["1"]);
    let daemon = start_daemon(dir);

    // 1. A job powers the worker on.
    let d = wait_power_ons(dir, 1).await;
    // The slot's name (`wn` while the maximum is 1).
    let wn = power_ons(&d)[0].1.clone();
    let wn = wn.as_str();
    let deadline = Instant::now() + Duration::from_secs(30);
    while emu.servers().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "{wn} never made: {:#?}",
            emu.servers()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 2. The cloud refuses every delete from now on; the idle node is
    // powered off, and its power-off cannot finish.
    emu.inject(Some("nova.delete_server"), Fault::Status(500), usize::MAX);
    queue_with_nodes(dir, &[], &[(wn, "idle")]);
    let d = wait_for(dir, "the node on_error", 60, |d| {
        d.iter()
            .any(|x| x.1 == wn && x.2 == "fail" && x.3.contains("elastic_poweroff_timeout"))
    })
    .await;
    let off = d
        .iter()
        .find(|x| x.1 == wn && x.2 == "power_off")
        .unwrap_or_else(|| panic!("no power-off: {d:#?}"));
    let fail = d.iter().find(|x| x.1 == wn && x.2 == "fail").unwrap();
    assert!(
        fail.0 - off.0 >= (POWEROFF_TIMEOUT_S as i64) * 1000,
        "reported {} ms after the power-off: {d:#?}",
        fail.0 - off.0
    );
    assert!(
        fail.3.contains(&format!("{POWEROFF_TIMEOUT_S}s")),
        "{fail:?}"
    );
    assert_eq!(node_state(dir, wn).await, "on_error");
    assert_eq!(emu.servers().len(), 2, "its server is still there");

    // 3. It still counts: a new job gets no second VM (the maximum is 1).
    queue_with_nodes(dir, &["2"], &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = decisions(dir).await;
    assert_eq!(power_ons(&d).len(), 1, "a second power-on: {d:#?}");
    assert_eq!(node_state(dir, wn).await, "on_error");

    // 4. The cloud deletes again: the removal, tried again, goes through,
    // the node is off, and the waiting job gets it.
    emu.clear_faults();
    let d = wait_for(dir, "the node off, then on again", 60, |d| {
        power_ons(d).len() >= 2
    })
    .await;
    let fail_at = d.iter().find(|x| x.1 == wn && x.2 == "fail").unwrap().0;
    assert!(
        d.iter()
            .any(|x| x.1 == wn && x.2 == "off" && x.0 >= fail_at),
        "{d:#?}"
    );
    drop(daemon);
    nubo(dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.servers().is_empty(), "{:#?}", emu.servers());
}
