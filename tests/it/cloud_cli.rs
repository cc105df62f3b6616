//! A cluster on a cloud through the `nubo` binary, the same commands as on
//! the local provider: launch with `-a AUTH`, then list, show, stop,
//! restart and destroy without it (the launch recorded the auth). The
//! clouds are the emulators (`emu::opennebula`, `emu::openstack`); their
//! VMs' addresses lead nowhere, so the descriptions configure nothing
//! (`contextualize ()`) and nubo never connects to them.

use nubo::testcloud::emu::opennebula::{EmuConfig, OneEmu};
use nubo::testcloud::emu::openstack::{self as ost, IMAGE_ID, OstEmu};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

async fn nubo(dir: &Path, args: &[&str]) -> Output {
    let mut c = crate::support::nubo_in(dir);
    c.args(args);
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run nubo")
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    crate::support::stdout_of(&format!("nubo {args:?}"), nubo(dir, args).await)
}

const CLUSTER: &str = "network public (outbound = 'yes' and provider_id = '0')\n\
    system front (cpu.count >= 1 and memory.size >= 1g and \
      net_interface.0.connection = 'public' and \
      disk.0.image.url = 'one://127.0.0.1/5')\n\
    system wn (cpu.count >= 1 and memory.size >= 1g and \
      net_interface.0.connection = 'public' and \
      disk.0.image.url = 'one://127.0.0.1/5')\n\
    contextualize ()\n\
    deploy front 1\n\
    deploy wn 2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opennebula_cluster_through_the_cli() {
    let emu = OneEmu::start(EmuConfig {
        boot_delay: Duration::ZERO,
        ..EmuConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("cluster.radl"), CLUSTER).unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "# the emulated front end\nid = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'\n",
            emu.endpoint()
        ),
    )
    .unwrap();

    life_cycle(dir, || emu.live_vms().len(), "one", "onepass").await;
}

/// Launch, list, show (without `-a`), stop, restart, destroy; `live`
/// counts what the cloud holds.
async fn life_cycle(dir: &Path, live: impl Fn() -> usize, provider: &str, secret: &str) {
    ok(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    assert_eq!(live(), 3);
    let list = ok(dir, &["list"]).await;
    assert!(list.contains("c1") && list.contains("running"), "{list}");
    let show = |expect: &'static str| async move {
        let shown: serde_json::Value =
            serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
        let vms = shown["vms"].as_array().unwrap().clone();
        assert_eq!(vms.len(), 3);
        assert!(
            vms.iter()
                .all(|v| v["provider"] == provider && v["state"] == expect),
            "{vms:#?}"
        );
        assert!(
            !shown.to_string().contains(secret),
            "show never prints a secret"
        );
        vms
    };
    let vms = show("running").await;
    assert!(
        vms.iter()
            .all(|v| !v["addresses"].as_array().unwrap().is_empty())
    );
    ok(dir, &["stop", "c1"]).await;
    show("stopped").await;
    ok(dir, &["restart", "c1"]).await;
    show("running").await;
    ok(dir, &["destroy", "c1", "-y"]).await;
    assert_eq!(live(), 0);
    assert!(!ok(dir, &["list"]).await.contains("c1"));
}

/// The OpenStack emulator answering at once.
async fn ost_emu() -> OstEmu {
    OstEmu::start(ost::EmuConfig {
        boot_delay: Duration::ZERO,
        action_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        ..ost::EmuConfig::default()
    })
    .await
}

/// An auth line for the OpenStack emulator.
fn ost_auth(emu: &OstEmu) -> String {
    format!(
        "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
        emu.keystone()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cluster_through_the_cli() {
    let emu = ost_emu().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("cluster.radl"),
        format!(
            "network public (outbound = 'yes' and provider_id = 'public' and outports = '80')\n\
             network private (provider_id = 'private')\n\
             system front (cpu.count >= 2 and memory.size >= 2g and \
               net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
             system wn (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
             contextualize ()\n\
             deploy front 1\n\
             deploy wn 2\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("auth.dat"), ost_auth(&emu)).unwrap();
    life_cycle(dir, || emu.servers().len(), "ost", "ostpass").await;
    assert!(emu.floating_ips().is_empty(), "{:?}", emu.floating_ips());
    assert!(emu.groups().iter().all(|g| !g.name.starts_with("nubo-c1-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_auth_file_names_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("auth.dat"),
        "id = one; type = OpenNebula\nid = x type = Local\n",
    )
    .unwrap();
    let out = nubo(dir, &["list", "-a", "auth.dat"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.dat:2:"), "{err}");
}

/// Issue 5's fault injection: 20% of the server creations fail with 503
/// and one with a quota answer; the 10-VM launch ends with each VM running
/// or cleanly failed (the quota answer is final, not retried), and the
/// cloud holds nothing the state does not know. Then destroy leaves the
/// cloud empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_vms_with_transient_failures_and_a_quota_answer_end_clean() {
    let emu = ost_emu().await;
    // The first create is refused for quota; every 5th fails with 503.
    emu.inject_every("nova.create_server", ost::Fault::Status(503), 5);
    emu.inject(Some("nova.create_server"), ost::Fault::Quota(403), 1);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("cluster.radl"),
        format!(
            "network private (provider_id = 'private')\n\
             system wn (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
             contextualize ()\n\
             deploy wn 10\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("auth.dat"), ost_auth(&emu)).unwrap();
    let out = nubo(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one VM cannot be made: {stderr}"
    );
    assert!(
        stderr.contains("uota"),
        "the quota answer is reported: {stderr}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
    let vms = shown["vms"].as_array().unwrap();
    let running: Vec<&serde_json::Value> = vms.iter().filter(|v| v["state"] == "running").collect();
    assert_eq!(running.len(), 9, "{vms:#?}");
    assert!(
        vms.iter()
            .all(|v| v["state"] == "running" || v["state"] == "failed"),
        "{vms:#?}"
    );
    // 503s were retried: more creations than servers, none left over.
    let creates = emu.count("nova.create_server");
    assert!(creates >= 12, "10 VMs, 2+ failures: {creates} creates");
    let recorded: Vec<&str> = running
        .iter()
        .filter_map(|v| v["provider_vm_id"].as_str())
        .collect();
    let held: Vec<String> = emu.servers().iter().map(|s| s.id.clone()).collect();
    assert_eq!(held.len(), 9, "{held:?}");
    for id in &held {
        assert!(
            recorded.contains(&id.as_str()),
            "server {id} is not recorded: {recorded:?}"
        );
    }
    ok(dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.servers().is_empty());
}

/// Issue 5's hybrid: the front-end on OpenNebula, the workers on
/// OpenStack, from one description (`deploy SYSTEM N CLOUD`), through the
/// same commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_front_on_opennebula_workers_on_openstack() {
    let one = OneEmu::start(EmuConfig {
        boot_delay: Duration::ZERO,
        ..EmuConfig::default()
    })
    .await;
    let ost_emu = ost_emu().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("cluster.radl"),
        format!(
            "network public (outbound = 'yes' and provider_id = '0')\n\
             network private (provider_id = 'private')\n\
             system front (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'public' and \
               disk.0.image.url = 'one://127.0.0.1/5')\n\
             system wn (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
             contextualize ()\n\
             deploy front 1 one\n\
             deploy wn 2 ost\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'\n\
             id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
            one.endpoint(),
            ost_emu.keystone()
        ),
    )
    .unwrap();
    ok(
        dir,
        &["launch", "h1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "h1", "--json"]).await).unwrap();
    let placed: Vec<(String, String)> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["node"].as_str().unwrap().into(),
                v["provider"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("front".to_string(), "one".to_string()),
            ("wn-1".into(), "ost".into()),
            ("wn-2".into(), "ost".into())
        ]
    );
    assert_eq!((one.live_vms().len(), ost_emu.servers().len()), (1, 2));
    ok(dir, &["stop", "h1"]).await;
    ok(dir, &["restart", "h1"]).await;
    ok(dir, &["destroy", "h1", "-y"]).await;
    assert_eq!((one.live_vms().len(), ost_emu.servers().len()), (0, 0));
}

/// Regression: `nubo stop` then `nubo reconfigure` made a second VM for
/// every node (the executor kept only VMs recorded running, and
/// reconfigure never looked at a stopped cluster), leaving the stopped
/// ones on the cloud unrecorded. Now reconfigure starts them: the cloud
/// holds exactly the recorded VMs, running.
async fn stop_then_reconfigure_keeps_the_vms(dir: &Path, held: impl Fn() -> Vec<String>) {
    ok(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    let recorded = |shown: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["provider_vm_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let before: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
    ok(dir, &["stop", "c1"]).await;
    let plan = ok(dir, &["plan", "c1", "cluster.radl"]).await;
    assert!(
        plan.contains("0 to create") && plan.contains("3 to start"),
        "{plan}"
    );
    ok(dir, &["reconfigure", "c1"]).await;
    let after: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
    assert_eq!(recorded(&before), recorded(&after), "the same VMs");
    assert!(
        after["vms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["state"] == "running"),
        "{after:#}"
    );
    let mut on_cloud = held();
    on_cloud.sort();
    assert_eq!(
        on_cloud,
        recorded(&after),
        "the cloud holds exactly the recorded VMs"
    );
    ok(dir, &["destroy", "c1", "-y"]).await;
    assert!(held().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_then_reconfigure_on_opennebula_leaves_exactly_the_recorded_vms() {
    let emu = OneEmu::start(EmuConfig {
        boot_delay: Duration::ZERO,
        ..EmuConfig::default()
    })
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("cluster.radl"), CLUSTER).unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'\n",
            emu.endpoint()
        ),
    )
    .unwrap();
    stop_then_reconfigure_keeps_the_vms(dir, || {
        emu.live_vms().iter().map(|v| v.id.to_string()).collect()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_then_reconfigure_on_openstack_leaves_exactly_the_recorded_vms() {
    let emu = ost_emu().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("cluster.radl"),
        format!(
            "network private (provider_id = 'private')\n\
             system wn (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
             contextualize ()\n\
             deploy wn 3\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("auth.dat"), ost_auth(&emu)).unwrap();
    stop_then_reconfigure_keeps_the_vms(dir, || {
        emu.servers().iter().map(|s| s.id.clone()).collect()
    })
    .await;
}
