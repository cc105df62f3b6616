//! A cluster on a cloud through the `nubo` binary, the same commands as on
//! the local provider: launch with `-a AUTH`, then list, show, stop,
//! restart and destroy without it (the launch recorded the auth). The
//! clouds are the emulators (`emu::opennebula`, `emu::openstack`); their
//! VMs' addresses lead nowhere, so the descriptions configure nothing
//! (`contextualize ()`) and nubo never connects to them.

use crate::emu::opennebula::{EmuConfig, OneEmu};
use crate::emu::openstack::{self as ost, IMAGE_ID, OstEmu};
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
    let out = nubo(dir, args).await;
    assert!(
        out.status.success(),
        "nubo {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cluster_through_the_cli() {
    let emu = OstEmu::start(ost::EmuConfig {
        boot_delay: Duration::ZERO,
        action_delay: Duration::ZERO,
        delete_delay: Duration::ZERO,
        ..ost::EmuConfig::default()
    })
    .await;
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
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
            emu.keystone()
        ),
    )
    .unwrap();
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
