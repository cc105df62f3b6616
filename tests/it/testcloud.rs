//! Test-cloud hosts: booted by Debian's cloud-init from the user data
//! nubo's OpenStack provider sends, reached over OpenSSH, stopped, started
//! and removed without a trace. Root only; run under the shared lock
//! (`flock /var/tmp/nubo-system-tests.lock cargo test --test it testcloud`).

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nubo::provider::cloud::userdata;
use nubo::provider::local::keys;
use nubo::testcloud::{HostSpec, Nic, Role, TestCloud, VolumeSpec};

use crate::support::testcloud::{
    Guard, can_run, new_cloud, reachable_from_here, sweep_stale, traces,
};

fn ssh(key: &Path, user: &str, ip: Ipv4Addr, command: &str) -> Output {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@{ip}"))
        .arg(command)
        .output()
        .expect("ssh runs")
}

/// Runs `command` as cloudadm and returns its standard output, trimmed.
fn run(key: &Path, ip: Ipv4Addr, command: &str) -> String {
    let out = ssh(key, "cloudadm", ip, command);
    assert!(
        out.status.success(),
        "`{command}` on {ip} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the process lives (a zombie, not yet reaped by whoever
/// adopted it, has ended).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.to_string()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

#[test]
fn cloud_init_boots_a_host_from_nubos_user_data() {
    if !can_run() {
        return;
    }
    sweep_stale();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let root = PathBuf::from(format!("/tmp/nubo-tc-{}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let cloud_name = format!("it-{}-{nanos:08x}", std::process::id());
    let cloud = TestCloud::new(&root, &cloud_name).unwrap();
    let guard = Guard {
        root: root.clone(),
        cloud: cloud.clone(),
    };
    let key = root.join("id_ed25519");
    keys::ensure_keypair(&key, "nubo@testcloud").unwrap();
    let public_key = std::fs::read_to_string(keys::public_path(&key)).unwrap();

    let private = cloud.network("private", Role::Private).unwrap();
    let public = cloud.network("public", Role::Public).unwrap();
    assert_ne!(private.octet, public.octet);
    for net in [&private, &public] {
        assert!(net.octet >= 224, "{} outside 10.250.224.0/19", net.cidr());
    }

    // The user data nubo's OpenStack provider sends. No local-hostname in
    // the metadata: the host name must come from the user data.
    let front_ip = public.address(10);
    let front = HostSpec {
        name: "front".into(),
        user_data: userdata::cloud_config("front", "cloudadm", &public_key),
        instance_id: "i-front-0001".into(),
        local_hostname: None,
        nics: vec![
            Nic {
                network: "private".into(),
                ip: private.address(10),
            },
            Nic {
                network: "public".into(),
                ip: front_ip,
            },
        ],
        volumes: vec![VolumeSpec {
            dev: "vdb".into(),
            size_mib: 64,
        }],
    };
    let wn_ip = private.address(11);
    let wn = HostSpec {
        name: "wn-1".into(),
        user_data: userdata::cloud_config("wn-1", "cloudadm", &public_key),
        instance_id: "i-wn-0002".into(),
        local_hostname: None,
        nics: vec![Nic {
            network: "private".into(),
            ip: wn_ip,
        }],
        volumes: vec![],
    };
    // Both at once, as a cloud boots them.
    let t0 = Instant::now();
    let (front_boot, wn_boot) = std::thread::scope(|s| {
        let a = s.spawn(|| cloud.boot(&front));
        let b = s.spawn(|| cloud.boot(&wn));
        (a.join().unwrap(), b.join().unwrap())
    });
    let both = t0.elapsed();
    let front_boot = front_boot.unwrap();
    let wn_boot = wn_boot.unwrap();
    eprintln!("front:\n{}", front_boot.timeline());
    eprintln!("wn-1:\n{}", wn_boot.timeline());
    eprintln!("two hosts booted at once in {:.2} s", both.as_secs_f64());
    for boot in [&front_boot, &wn_boot] {
        assert!(
            boot.cloud_init_ok(),
            "cloud-init reported problems with nubo's user data on {}: errors {:?}, warnings {:?}, failed stages {:?}",
            boot.name,
            boot.cloud_init_errors,
            boot.cloud_init_warnings,
            boot.failed_stages()
        );
    }

    // Logged in with the key as the user cloud-init made, with sudo.
    assert_eq!(run(&key, front_ip, "sudo -n id -u"), "0");
    let since_call = |t: std::time::SystemTime, b: &nubo::testcloud::Boot| {
        t.duration_since(b.called).map_or(0.0, |d| d.as_secs_f64())
    };
    eprintln!(
        "front: boot call +0.00 s, cloud-init done +{:.2} s, sshd listening +{:.2} s, first SSH command (sudo) done +{:.2} s",
        since_call(front_boot.cloud_init_done().unwrap(), &front_boot),
        since_call(front_boot.sshd_up, &front_boot),
        since_call(std::time::SystemTime::now(), &front_boot)
    );
    assert_eq!(run(&key, front_ip, "hostname"), "front");
    assert_eq!(run(&key, front_ip, "id -un"), "cloudadm");
    // cloud-init, not the image, made the host keys.
    let host_key = run(&key, front_ip, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    if let Ok(machine) = std::fs::read_to_string("/etc/ssh/ssh_host_ed25519_key.pub") {
        assert_ne!(host_key.split(' ').nth(1), machine.split(' ').nth(1));
    }
    // No key of the cluster for root; root cannot log in.
    let root_keys = run(
        &key,
        front_ip,
        "sudo -n cat /root/.ssh/authorized_keys 2>/dev/null || true",
    );
    let key_body = public_key.split(' ').nth(1).unwrap();
    assert!(
        !root_keys.contains(key_body) || root_keys.contains("command="),
        "root has the cluster key unrestricted: {root_keys}"
    );
    let as_root = ssh(&key, "root", front_ip, "true");
    assert!(!as_root.status.success(), "root logged in");
    assert!(
        String::from_utf8_lossy(&as_root.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&as_root.stderr)
    );

    // The private network: not from this machine, yes from the front-end.
    assert!(
        !reachable_from_here(wn_ip),
        "{wn_ip} reachable from the host"
    );
    assert!(!reachable_from_here(private.address(10)));
    assert!(reachable_from_here(front_ip));
    run(
        &key,
        front_ip,
        &format!("timeout 5 bash -c '</dev/tcp/{wn_ip}/22'"),
    );

    // The volume: a block device of 64 MiB that the host formats and mounts.
    let size = run(&key, front_ip, "sudo -n blockdev --getsize64 /dev/vdb");
    assert_eq!(size, (64u64 << 20).to_string());
    run(
        &key,
        front_ip,
        "sudo -n mkfs.ext4 -q /dev/vdb && sudo -n mount /dev/vdb /mnt && \
         echo kept | sudo -n tee /mnt/on-volume >/dev/null && echo kept >~/on-disk && sync",
    );

    // Stop and start: files on the disk and the volume stay; cloud-init's
    // per-instance modules do not run again (same host key).
    let pid = front_boot.init_pid;
    let t = Instant::now();
    cloud.stop("front").unwrap();
    let stop_secs = t.elapsed().as_secs_f64();
    assert!(!alive(pid), "init still alive");
    assert!(!cloud.is_running("front"));
    assert!(!reachable_from_here(front_ip));
    let t = Instant::now();
    let again = cloud.start("front").unwrap();
    let start_secs = t.elapsed().as_secs_f64();
    eprintln!("front after start:\n{}", again.timeline());
    eprintln!("stop {stop_secs:.2} s, start {start_secs:.2} s");
    assert!(
        again.cloud_init_ok(),
        "{:?} {:?}",
        again.cloud_init_errors,
        again.cloud_init_warnings
    );
    assert_eq!(run(&key, front_ip, "cat ~/on-disk"), "kept");
    assert_eq!(
        run(&key, front_ip, "cat /etc/ssh/ssh_host_ed25519_key.pub"),
        host_key
    );
    assert_eq!(
        run(
            &key,
            front_ip,
            "sudo -n mount /dev/vdb /mnt && cat /mnt/on-volume"
        ),
        "kept"
    );
    assert_eq!(run(&key, front_ip, "hostname"), "front");

    // Remove leaves nothing.
    let netns_inodes: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&cloud.netns_prefix())
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    assert_eq!(netns_inodes.len(), 2);
    cloud.remove("front").unwrap();
    cloud.remove("wn-1").unwrap();
    let networks = cloud.networks().unwrap();
    cloud.delete_network("private").unwrap();
    cloud.delete_network("public").unwrap();
    let left = traces(&cloud, &root, &netns_inodes, &networks);
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(cloud.host_names().is_empty());
    drop(guard);
    assert!(!root.exists());
}

/// Boots `specs` at once, as a cloud does, and checks that cloud-init was
/// happy with each.
fn boot_all(cloud: &TestCloud, specs: &[&HostSpec]) {
    std::thread::scope(|s| {
        let boots: Vec<_> = specs.iter().map(|h| s.spawn(|| cloud.boot(h))).collect();
        for b in boots {
            let boot = b.join().unwrap().unwrap();
            assert!(
                boot.cloud_init_ok(),
                "cloud-init on {}: {:?} {:?}",
                boot.name,
                boot.cloud_init_errors,
                boot.cloud_init_warnings
            );
        }
    });
}

fn private_host(name: &str, user_data: String, ip: Ipv4Addr) -> HostSpec {
    HostSpec {
        name: name.into(),
        user_data,
        instance_id: format!("i-{name}"),
        local_hostname: None,
        nics: vec![Nic {
            network: "private".into(),
            ip,
        }],
        volumes: vec![],
    }
}

/// Issue 15, items 2 to 4 at the SSH layer: workers with only a private
/// address are reached through the front-end's one connection (both host
/// keys pinned); the login user runs commands as root with `sudo -n`, and
/// one without sudo rights is told apart; a new host at a removed one's
/// address is refused until its old key is forgotten (IM issue 313).
#[test]
fn private_hosts_through_the_front_with_sudo_and_a_reused_address() {
    use nubo::ssh::{KnownHosts, Pool, SshError, SshTarget, wait_for_ssh};
    if !can_run() {
        return;
    }
    let (guard, root, cloud) = new_cloud("jump");
    let key = root.join("id_ed25519");
    keys::ensure_keypair(&key, "nubo@testcloud").unwrap();
    let public_key = std::fs::read_to_string(keys::public_path(&key)).unwrap();
    let private = cloud.network("private", Role::Private).unwrap();
    let public = cloud.network("public", Role::Public).unwrap();
    let front_ip = public.address(10);
    let front = HostSpec {
        name: "front".into(),
        user_data: userdata::cloud_config("front", "cloudadm", &public_key),
        instance_id: "i-front".into(),
        local_hostname: None,
        nics: vec![
            Nic {
                network: "public".into(),
                ip: front_ip,
            },
            Nic {
                network: "private".into(),
                ip: private.address(10),
            },
        ],
        volumes: vec![],
    };
    let (wn_ip, plain_ip) = (private.address(11), private.address(12));
    let wn = private_host(
        "wn-1",
        userdata::cloud_config("wn-1", "cloudadm", &public_key),
        wn_ip,
    );
    // The same user, without the sudo rule: Debian's sudoers then asks
    // for a password.
    let no_sudo_data = userdata::cloud_config("plain", "cloudadm", &public_key)
        .replace("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n", "");
    assert!(!no_sudo_data.contains("sudo:"));
    let plain = private_host("plain", no_sudo_data, plain_ip);
    boot_all(&cloud, &[&front, &wn, &plain]);
    assert!(!reachable_from_here(wn_ip));

    let known_path = root.join("known_hosts");
    let known = KnownHosts::open(&known_path).unwrap();
    let front_target = SshTarget::new(front_ip, 22, "cloudadm", &key);
    let through =
        |ip: Ipv4Addr| SshTarget::new(ip, 22, "cloudadm", &key).through(front_target.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = Pool::new(known.clone(), Duration::from_secs(20));
        let deadline = Instant::now() + Duration::from_secs(60);
        // Up, through the front-end: the worker's SSH answers on a channel
        // of the front-end's connection.
        let first = wait_for_ssh(&through(wn_ip), &known, deadline)
            .await
            .unwrap();
        drop(first);
        let wn_session = pool.get(&through(wn_ip)).await.unwrap();
        let plain_session = pool.get(&through(plain_ip)).await.unwrap();
        let out = wn_session
            .exec_checked("hostname; id -un; sudo -n id -un")
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "wn-1\ncloudadm\nroot\n");
        assert_eq!(wn_session.sudo_refusal().await.unwrap(), None);
        let refusal = plain_session
            .sudo_refusal()
            .await
            .unwrap()
            .expect("refused");
        assert!(refusal.contains("password is required"), "{refusal}");
        // One connection to the front-end carries both workers: its sshd
        // sees a single client connection from this machine.
        let front_session = pool.get(&front_target).await.unwrap();
        let conns = front_session
            .exec_checked("ss -Htn state established '( sport = :22 )' | wc -l")
            .await
            .unwrap();
        assert_eq!(
            conns.stdout_text().trim(),
            "1",
            "connections to the front's sshd"
        );
        // Both host keys pinned, under their own addresses.
        let text = std::fs::read_to_string(&known_path).unwrap();
        for ip in [front_ip, wn_ip, plain_ip] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{ip} "))),
                "{ip} not in known_hosts:\n{text}"
            );
        }
        pool.close_all().await;
    });

    // wn-1 goes; a new host gets its address (and new host keys).
    cloud.remove("wn-1").unwrap();
    let again = private_host(
        "wn-9",
        userdata::cloud_config("wn-9", "cloudadm", &public_key),
        wn_ip,
    );
    boot_all(&cloud, &[&again]);
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let err = wait_for_ssh(&through(wn_ip), &known, deadline)
            .await
            .unwrap_err();
        assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
        known.forget(&wn_ip.to_string(), 22).unwrap();
        let s = wait_for_ssh(&through(wn_ip), &known, deadline)
            .await
            .unwrap();
        assert_eq!(
            s.exec_checked("hostname").await.unwrap().stdout_text(),
            "wn-9\n"
        );
    });
    drop(guard);
    assert!(!root.exists());
}

/// Runs the `nubo` binary in `dir` and returns its standard output.
async fn nubo_ok(dir: &Path, args: &[&str]) -> String {
    let mut c = crate::support::nubo_in(dir);
    c.args(args);
    let out = tokio::process::Command::from(c)
        .output()
        .await
        .expect("nubo runs");
    crate::support::stdout_of(&format!("nubo {args:?}"), out)
}

/// Issue 15, item 1 on OpenStack: `nubo launch` against the OpenStack
/// emulator backed by test-cloud hosts. The front-end gets a floating IP
/// (a NIC on the public bridge), the worker only a private address; both
/// are booted by cloud-init from the user data nubo sent, which makes the
/// login user `cloudadm` with sudo; nubo configures the worker through the
/// front-end (a recipe that writes under /etc, so through sudo), and
/// `destroy` leaves no server, floating IP or security group on the cloud
/// and no host on this machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cluster_on_cloud_init_hosts_configured_through_the_front() {
    use nubo::testcloud::emu::openstack::{EmuConfig, IMAGE_ID};
    if !can_run() {
        return;
    }
    let OstTestCloud {
        guard,
        root,
        cloud,
        emu,
        dir,
    } = ost_test_cloud("ost", EmuConfig::default()).await;
    let image = format!(
        "disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and disk.0.os.credentials.username = 'cloudadm'"
    );
    std::fs::write(
        dir.join("c.radl"),
        format!(
            "network public (outbound = 'yes' and provider_id = 'public')\n\
             network private (provider_id = 'private')\n\
             system front (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               net_interface.1.connection = 'private' and {image})\n\
             system wn (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {image})\n\
             configure mark (\n@begin\n- name: the mark\n  file:\n    path: /etc/nubo-mark\n    content: \"{{{{ node.name }}}}\\n\"\n@end\n)\n\
             contextualize (\n system front configure mark step 1\n system wn configure mark step 1\n)\n\
             deploy front 1\n\
             deploy wn 1\n"
        ),
    )
    .unwrap();
    let called = std::time::SystemTime::now();
    nubo_ok(&dir, &["launch", "c1", "c.radl", "-a", "auth.dat", "-y"]).await;
    let configured = std::time::SystemTime::now();

    let servers = emu.servers();
    assert_eq!(servers.len(), 2, "{servers:#?}");
    let shown: serde_json::Value =
        serde_json::from_str(&nubo_ok(&dir, &["show", "c1", "--json"]).await).unwrap();
    let since = |t: std::time::SystemTime| t.duration_since(called).unwrap().as_secs_f64();
    let ms_since = |v: &serde_json::Value| {
        v.as_i64().map(|ms| {
            (ms - called
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64) as f64
                / 1000.0
        })
    };
    for node in ["front", "wn-1"] {
        let s = servers
            .iter()
            .find(|s| s.name.ends_with(node))
            .unwrap_or_else(|| panic!("no server for {node}: {servers:#?}"));
        let boot = s.boot.as_ref().expect("booted by the test cloud");
        assert!(
            boot.cloud_init_ok(),
            "cloud-init on {}: {:?} {:?}",
            s.name,
            boot.cloud_init_errors,
            boot.cloud_init_warnings
        );
        let step = shown["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["node"] == node)
            .unwrap_or_else(|| panic!("no step of {node}: {shown:#}"));
        assert_eq!(step["status"], "ok", "{step:#}");
        let mut line = format!("timeline of {node} (seconds since `nubo launch` started):");
        line += &format!(
            "\n  {:7.2}  API call: server create reached the host",
            since(boot.called)
        );
        for e in &boot.events {
            line += &format!(
                "\n  {:7.2}  {}{}",
                since(e.at),
                e.what,
                e.status.map(|c| format!(" (exit {c})")).unwrap_or_default()
            );
        }
        line += &format!(
            "\n  {:7.2}  sshd listening (cloud-init done)",
            since(boot.sshd_up)
        );
        if let (Some(a), Some(b)) = (ms_since(&step["started_at"]), ms_since(&step["ended_at"])) {
            line +=
                &format!("\n  {a:7.2}  SSH up: nubo runs its first step\n  {b:7.2}  configured");
        }
        line += &format!("\n  {:7.2}  nubo launch returned", since(configured));
        eprintln!("{line}");
    }
    let addresses = |node: &str| -> Vec<Ipv4Addr> {
        shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["node"] == node)
            .unwrap_or_else(|| panic!("no {node} in {shown:#}"))["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect()
    };
    let wn_ips = addresses("wn-1");
    assert_eq!(wn_ips.len(), 1, "the worker has only a private address");
    assert!(!reachable_from_here(wn_ips[0]));
    assert!(addresses("front").iter().any(|ip| reachable_from_here(*ip)));

    for node in ["front", "wn-1"] {
        let who = nubo_ok(
            &dir,
            &[
                "ssh",
                "c1",
                node,
                "--",
                "id -un; hostname; cat /etc/nubo-mark",
            ],
        )
        .await;
        assert_eq!(who, format!("cloudadm\n{node}\n{node}\n"), "on {node}");
    }

    // Must-show 3: wn-1's server is deleted behind nubo's back; `nubo
    // reconfigure` makes a new one, which gets the same address (the
    // lowest free) and new host keys, and is configured without a
    // host-key error (IM issue 313).
    let host_key = "cat /etc/ssh/ssh_host_ed25519_key.pub";
    let old_key = nubo_ok(&dir, &["ssh", "c1", "wn-1", "--", host_key]).await;
    let old_wn = servers.iter().find(|s| s.name.ends_with("wn-1")).unwrap();
    assert!(
        emu.delete_server(&old_wn.id, Duration::from_secs(60)).await,
        "wn-1's server is gone"
    );
    nubo_ok(&dir, &["reconfigure", "c1"]).await;
    let shown: serde_json::Value =
        serde_json::from_str(&nubo_ok(&dir, &["show", "c1", "--json"]).await).unwrap();
    let again: Vec<Ipv4Addr> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["node"] == "wn-1")
        .unwrap()["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.parse().ok())
        .collect();
    assert_eq!(again, wn_ips, "the new wn-1 has the old one's address");
    let new_key = nubo_ok(&dir, &["ssh", "c1", "wn-1", "--", host_key]).await;
    assert_ne!(old_key, new_key, "a new VM, new host keys");
    assert_eq!(
        nubo_ok(&dir, &["ssh", "c1", "wn-1", "--", "cat /etc/nubo-mark"]).await,
        "wn-1\n",
        "the new wn-1 is configured"
    );
    let servers = emu.servers();
    assert_eq!(servers.len(), 2, "{servers:#?}");

    let netns: Vec<u64> = servers
        .iter()
        .filter_map(|s| s.boot.as_ref())
        .filter_map(|b| std::fs::metadata(format!("/proc/{}/ns/net", b.init_pid)).ok())
        .map(|m| m.ino())
        .collect();
    nubo_ok(&dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.servers().is_empty(), "{:#?}", emu.servers());
    assert!(emu.floating_ips().is_empty(), "{:#?}", emu.floating_ips());
    assert!(
        emu.groups().iter().all(|g| g.name == "default"),
        "{:#?}",
        emu.groups()
    );
    assert_eq!(cloud.host_names(), Vec::<String>::new());
    drop(emu);
    let networks = cloud.networks().unwrap();
    drop(guard);
    let left = traces(&cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// Runs `nubo-testcloud ARGS` as the README says and launches a front-end
/// and a worker on it with `nubo`: the binary's first line is the auth
/// line, the others what the description needs (given to `radl`, which
/// returns the description); the worker is configured as `cloudadm`;
/// after `destroy` and SIGTERM nothing of it is left.
async fn by_hand(tag: &str, args: &[&str], radl: impl Fn(&[String]) -> String) {
    use tokio::io::AsyncBufReadExt;
    sweep_stale();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let root = PathBuf::from(format!(
        "/tmp/nubo-tc-{}-{tag}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&root).unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_nubo-testcloud"))
        .args(args)
        .arg("--root")
        .arg(&root)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let auth = out.next_line().await.unwrap().expect("the auth line");
    let mut notes = Vec::new();
    while notes.len() < 2 {
        let Ok(Ok(Some(l))) =
            tokio::time::timeout(Duration::from_millis(500), out.next_line()).await
        else {
            break;
        };
        notes.push(l);
    }
    assert!(auth.starts_with("id = "), "{auth}");
    let dir = root.join("nubo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("auth.dat"), format!("{auth}\n")).unwrap();
    std::fs::write(dir.join("c.radl"), radl(&notes)).unwrap();
    nubo_ok(&dir, &["launch", "c1", "c.radl", "-a", "auth.dat", "-y"]).await;
    let got = nubo_ok(
        &dir,
        &["ssh", "c1", "wn-1", "--", "id -un; cat /etc/nubo-mark"],
    )
    .await;
    assert_eq!(got, "cloudadm\nwn-1\n");
    let cloud = TestCloud::existing(&root)
        .into_iter()
        .next()
        .expect("the binary's test cloud");
    let networks = cloud.networks().unwrap();
    let netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&cloud.netns_prefix())
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    assert_eq!(netns.len(), 2);
    nubo_ok(&dir, &["destroy", "c1", "-y"]).await;
    // OpenNebula and EC2 answer a termination at once and remove after.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cloud.host_names().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cloud.host_names().is_empty());
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.id().unwrap() as i32, libc::SIGTERM) };
    let status = server.wait().await.unwrap();
    assert!(status.success(), "nubo-testcloud: {status}");
    let left = traces(&cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
    assert!(TestCloud::existing(&root).is_empty());
    std::fs::remove_dir_all(&root).unwrap();
}

/// `FEATURES` of a `# image: FEATURES` line.
fn image_of(notes: &[String]) -> String {
    notes
        .iter()
        .find_map(|l| l.strip_prefix("# image: "))
        .unwrap_or_else(|| panic!("no image line in {notes:?}"))
        .to_string()
}

const MARK: &str = "configure mark (\n@begin\n- name: the mark\n  file:\n    path: /etc/nubo-mark\n    content: \"{{ node.name }}\\n\"\n@end\n)\n\
     contextualize (\n system front configure mark step 1\n system wn configure mark step 1\n)\n\
     deploy front 1\ndeploy wn 1\n";

/// Issue 15, must-show 6: `nubo-testcloud openstack` run as the README
/// says gives a working `nubo launch`: a front-end with a floating IP, a
/// worker configured through it as `cloudadm`; nothing left after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nubo_testcloud_openstack_by_hand_gives_a_working_launch() {
    if !can_run() {
        return;
    }
    by_hand("bin-ost", &["openstack", "--listen", "127.0.0.1:0"], |notes| {
        let features = image_of(notes);
        format!(
            "network public (outbound = 'yes')\n\
             network private ()\n\
             system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               net_interface.1.connection = 'private' and {features})\n\
             system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {features})\n{MARK}"
        )
    })
    .await;
}

/// `nubo-testcloud opennebula`, the same way: a front-end on the public
/// virtual network, a worker on the private one reached through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nubo_testcloud_opennebula_by_hand_gives_a_working_launch() {
    if !can_run() {
        return;
    }
    by_hand("bin-one", &["opennebula", "--listen", "127.0.0.1:0"], |notes| {
        let features = image_of(notes);
        format!(
            "network public (outbound = 'yes' and provider_id = 'public')\n\
             network private (provider_id = 'private')\n\
             system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               net_interface.1.connection = 'private' and {features})\n\
             system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {features})\n{MARK}"
        )
    })
    .await;
}

/// `nubo-testcloud ec2 --moto URL` beside a running moto_server: every
/// node in the subnet it made, reached directly (as from inside the VPC).
#[cfg(feature = "ec2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nubo_testcloud_ec2_by_hand_gives_a_working_launch() {
    if !can_run() {
        return;
    }
    let Some(moto) = crate::support::moto::Moto::start() else {
        return;
    };
    by_hand("bin-ec2", &["ec2", "--moto", &moto.endpoint()], |notes| {
        let features = image_of(notes);
        let net = notes
            .iter()
            .find_map(|l| l.strip_prefix("# network: "))
            .and_then(|l| l.split(" (").next())
            .unwrap_or_else(|| panic!("no network line in {notes:?}"))
            .to_string();
        format!(
            "network private ({net})\n\
             system front (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'front' and {features})\n\
             system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {features})\n{MARK}"
        )
    })
    .await;
}

/// Issue 15, must-show 4: an image whose cloud-init grants the login user
/// no sudo. The launch fails with the error naming the node, the user and
/// what to change; `destroy` then leaves nothing on the cloud or the
/// machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_user_without_sudo_fails_the_launch_clearly_and_leaks_nothing() {
    use nubo::testcloud::emu::openstack::{EmuConfig, IMAGE_ID};
    if !can_run() {
        return;
    }
    let OstTestCloud {
        guard,
        root,
        cloud,
        emu,
        dir,
    } = ost_test_cloud(
        "nosudo",
        EmuConfig {
            no_sudo_images: vec![IMAGE_ID.to_string()],
            ..EmuConfig::default()
        },
    )
    .await;
    std::fs::write(
        dir.join("c.radl"),
        format!(
            "network public (outbound = 'yes')\n\
             system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and disk.0.os.credentials.username = 'cloudadm')\n\
             configure mark (\n@begin\n- name: the mark\n  file:\n    path: /etc/nubo-mark\n    content: x\n@end\n)\n\
             contextualize (\n system front configure mark step 1\n)\n\
             deploy front 1\n"
        ),
    )
    .unwrap();
    let mut c = crate::support::nubo_in(&dir);
    c.args(["launch", "c1", "c.radl", "-a", "auth.dat", "-y"]);
    let out = tokio::process::Command::from(c).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for what in [
        "cannot run the configuration as root on front",
        "it logs in as `cloudadm`, who cannot use sudo without a password",
        "Give `cloudadm` sudo without a password",
    ] {
        assert!(stderr.contains(what), "{what:?} not in:\n{stderr}");
    }
    let netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&cloud.netns_prefix())
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    nubo_ok(&dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.servers().is_empty(), "{:#?}", emu.servers());
    assert!(emu.floating_ips().is_empty(), "{:#?}", emu.floating_ips());
    assert!(emu.groups().iter().all(|g| g.name == "default"));
    assert!(cloud.host_names().is_empty());
    drop(emu);
    let networks = cloud.networks().unwrap();
    drop(guard);
    let left = traces(&cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// Issue 15, must-show 5: a system with `disk.1.size = 1GB and
/// disk.1.mount_path = '/data'` on the OpenStack test cloud: each node
/// gets a volume (Nova's `block_device_mapping_v2`, a loop device in the
/// host), which nubo's built-in step formats and mounts at /data, a
/// filesystem of about 1 GiB; `destroy` deletes the volumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_1_becomes_a_mounted_volume_on_each_node_and_goes_with_destroy() {
    use nubo::testcloud::emu::openstack::{EmuConfig, IMAGE_ID};
    if !can_run() {
        return;
    }
    let OstTestCloud {
        guard,
        root,
        cloud,
        emu,
        dir,
    } = ost_test_cloud("vol", EmuConfig::default()).await;
    let image = format!(
        "disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and disk.0.os.credentials.username = 'cloudadm' and \
         disk.1.size = 1GB and disk.1.mount_path = '/data'"
    );
    std::fs::write(
        dir.join("c.radl"),
        format!(
            "network public (outbound = 'yes')\n\
             network private ()\n\
             system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               net_interface.1.connection = 'private' and {image})\n\
             system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {image})\n\
             contextualize ()\n\
             deploy front 1\n\
             deploy wn 1\n"
        ),
    )
    .unwrap();
    nubo_ok(&dir, &["launch", "c1", "c.radl", "-a", "auth.dat", "-y"]).await;
    let volumes = emu.volumes();
    assert_eq!(volumes.len(), 2, "{volumes:#?}");
    assert!(volumes.iter().all(|v| v.size_gib == 1 && v.device == "vdb"));
    data_is_a_mounted_gib(&dir).await;
    let netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&cloud.netns_prefix())
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    nubo_ok(&dir, &["destroy", "c1", "-y"]).await;
    assert!(emu.volumes().is_empty(), "{:#?}", emu.volumes());
    assert!(emu.servers().is_empty());
    drop(emu);
    let networks = cloud.networks().unwrap();
    drop(guard);
    let left = traces(&cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// The OpenStack emulator backed by a test cloud of this test's own
/// (networks `public`, external, and `private`), and a directory `nubo/`
/// under its root with `auth.dat` for it.
struct OstTestCloud {
    guard: Guard,
    root: PathBuf,
    cloud: TestCloud,
    emu: nubo::testcloud::emu::openstack::OstEmu,
    dir: PathBuf,
}

/// [`OstTestCloud`] from `config` (its networks and hosts set here).
async fn ost_test_cloud(
    tag: &str,
    config: nubo::testcloud::emu::openstack::EmuConfig,
) -> OstTestCloud {
    use nubo::testcloud::emu::openstack::{EmuConfig, OstEmu, network};
    let (guard, root, cloud) = new_cloud(tag);
    let emu = OstEmu::start(EmuConfig {
        networks: vec![
            network("a1e3b0c4-0000-4000-8000-000000000001", "public", true, ""),
            network("a1e3b0c4-0000-4000-8000-000000000002", "private", false, ""),
        ],
        hosts: Some(cloud.clone()),
        ..config
    })
    .await;
    let dir = root.join("nubo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
            emu.keystone()
        ),
    )
    .unwrap();
    OstTestCloud {
        guard,
        root,
        cloud,
        emu,
        dir,
    }
}

/// On front and wn-1 of cluster `c1` (state in `dir`), /data is /dev/vdb,
/// ext4, of about 1 GiB.
async fn data_is_a_mounted_gib(dir: &Path) {
    for node in ["front", "wn-1"] {
        let out = nubo_ok(
            dir,
            &[
                "ssh",
                "c1",
                node,
                "--",
                "findmnt -n -o SOURCE,FSTYPE /data; df -B1M --output=size /data | tail -1",
            ],
        )
        .await;
        let mut lines = out.lines();
        let mount = lines.next().unwrap_or_default();
        assert!(
            mount.starts_with("/dev/vdb") && mount.ends_with("ext4"),
            "{node}: /data is {mount:?}"
        );
        let mib: u64 = lines.next().unwrap_or_default().trim().parse().unwrap_or(0);
        assert!((900..=1100).contains(&mib), "{node}: /data has {mib} MiB");
    }
}

/// Must-show 5 on OpenNebula: `disk.1` becomes a volatile DISK (SIZE in
/// MB, TARGET vdb) of each VM, a loop device in its host, formatted and
/// mounted at /data by nubo's built-in step; gone with `destroy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_1_on_opennebula_becomes_a_mounted_volatile_disk() {
    use nubo::testcloud::emu::opennebula::{EmuConfig, OneEmu};
    if !can_run() {
        return;
    }
    let (guard, root, cloud) = new_cloud("vol-one");
    let emu = OneEmu::start(EmuConfig {
        hosts: Some(cloud.clone()),
        ..EmuConfig::default()
    })
    .await;
    let dir = root.join("nubo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("auth.dat"),
        format!(
            "id = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'\n",
            emu.endpoint()
        ),
    )
    .unwrap();
    let image = "disk.0.image.url = 'one://127.0.0.1/5' and disk.0.os.credentials.username = 'cloudadm' and \
         disk.1.size = 1GB and disk.1.mount_path = '/data'";
    std::fs::write(
        dir.join("c.radl"),
        format!(
            "network public (outbound = 'yes' and provider_id = 'public')\n\
             network private (provider_id = 'private')\n\
             system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
               net_interface.1.connection = 'private' and {image})\n\
             system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and {image})\n\
             contextualize ()\n\
             deploy front 1\n\
             deploy wn 1\n"
        ),
    )
    .unwrap();
    nubo_ok(&dir, &["launch", "c1", "c.radl", "-a", "auth.dat", "-y"]).await;
    data_is_a_mounted_gib(&dir).await;
    let netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&cloud.netns_prefix())
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    nubo_ok(&dir, &["destroy", "c1", "-y"]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !emu.live_vms().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(emu.live_vms().is_empty());
    assert!(cloud.host_names().is_empty());
    drop(emu);
    let networks = cloud.networks().unwrap();
    drop(guard);
    let left = traces(&cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}
