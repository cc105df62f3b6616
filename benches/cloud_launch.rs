//! `nubo launch` of a cluster of N VMs on the OpenStack test cloud: the
//! OpenStack emulator (`nubo::testcloud::emu::openstack`, in this process,
//! on 127.0.0.1) with a real host behind every server, booted by Debian's
//! cloud-init from the user data nubo sends (`nubo::testcloud`).
//!
//! Run with `cargo bench --bench cloud_launch` as root (with what
//! `scripts/install-local-deps.sh` installs: cloud-init, sudo, OpenSSH).
//! Without root or those tools it prints `SKIPPED:` and succeeds; with
//! `NUBO_REQUIRE_SYSTEM_TESTS=1` that is a failure.
//!
//! For each size N (1, 10 and 50; `NUBO_BENCH_QUICK=1`: 1 and 2, as CI
//! runs it; `NUBO_BENCH_SIZES=1,5` overrides) a fresh test cloud under
//! `/tmp/nubo-tc-PID-bench-HEX` with networks `public` (external: the
//! floating IPs, reached from this machine) and `private` (no route from
//! this machine), and a cluster of one front-end (`front`: a floating IP
//! and a private address) and N-1 workers (`wn-1`...: a private address
//! only, so nubo configures them through the front-end over SSH jumps), all
//! with the image's login user `cloudadm` and one step each: a `file`
//! writing `/etc/nubo-mark` with the node's name (as root, so through
//! `sudo`). Then:
//!
//! - `nubo launch NAME NAME.radl -a NAME.auth -y` (the release binary)
//!   from start to exit: the API calls, the boots (each runs cloud-init's
//!   four stages before its sshd listens), nubo's polling (every 5 s, its
//!   default for OpenStack), the SSH connections and the steps;
//! - checked: N servers `ACTIVE` on the emulator, N VMs running and N steps
//!   `ok` in `nubo show NAME --json`, the workers with one private address
//!   only, every address in the test cloud's 10.250.224.0/19, cloud-init
//!   without an error on every host, and `/etc/nubo-mark` holding its
//!   node's name on every node, read with `nubo ssh NAME NODE`;
//! - from the emulator's boots: the time from the server's create call to
//!   its sshd listening (cloud-init done), median and max, so the reader
//!   sees how much of the launch is the boot;
//! - `nubo destroy NAME -y`, timed, then checked: no server or floating IP
//!   left on the emulator, no host left in the test cloud.
//!
//! The test cloud is destroyed after each size, also when the benchmark
//! fails (a guard); a later run (or the tests) sweeps what a killed run
//! left. `NUBO_BENCH_ROUNDS` (default 1) repeats each size, each round on
//! a fresh test cloud, and reports the round with the fastest launch.
//! Traffic goes only to 127.0.0.1 (the emulator) and to the test cloud's
//! hosts in 10.250.224.0/19.

#[path = "support/mod.rs"]
mod support;

use nubo::testcloud::emu::openstack::{EmuConfig, IMAGE_ID, OstEmu, network};
use nubo::testcloud::{Role, TestCloud};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};
use support::{Workspace, secs};

const BENCH: &str = "cloud_launch";
const DEFAULT_SIZES: [u32; 3] = [1, 10, 50];
/// Quick mode's sizes: a front-end alone, and one worker behind it.
const QUICK_SIZES: [u32; 2] = [1, 2];
/// Concurrent `nubo ssh` checks.
const CHECKERS: usize = 5;

fn sizes() -> Result<Vec<u32>, String> {
    match std::env::var("NUBO_BENCH_SIZES") {
        Err(_) if support::quick() => Ok(QUICK_SIZES.to_vec()),
        Err(_) => Ok(DEFAULT_SIZES.to_vec()),
        Ok(v) => v
            .split(',')
            .map(|s| match s.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => Ok(n),
                _ => Err(format!(
                    "NUBO_BENCH_SIZES must be VM counts from 1 to 100 separated by commas, not {v:?}"
                )),
            })
            .collect(),
    }
}

fn main() -> ExitCode {
    let (rounds, sizes) = match (support::env_count("NUBO_BENCH_ROUNDS", 1), sizes()) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = unavailable() {
        return support::skip(BENCH, &why);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{BENCH}: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    sweep_stale_clouds();
    let ws = match Workspace::new("cloud") {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    support::measure_and_publish(
        BENCH,
        || measure(&rt, &ws, rounds, &sizes),
        |rows, b, a| report(rows, rounds, b, a),
    )
}

/// Why test-cloud hosts cannot boot here, if they cannot (as the tests'
/// `tests/it/support/testcloud.rs::can_run` decides).
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "needs root (test-cloud hosts are namespaces, mounts and bridges): run as root".into(),
        );
    }
    if let Err(e) = nubo::provider::local::LocalProvider::check_host() {
        return Some(format!(
            "test-cloud hosts cannot run here: {e} (scripts/install-local-deps.sh)"
        ));
    }
    for (tool, package) in [
        ("/usr/bin/cloud-init", "cloud-init"),
        ("/usr/bin/sudo", "sudo"),
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/ssh", "openssh-client"),
        ("/usr/sbin/losetup", "mount"),
        ("/usr/sbin/mkfs.ext4", "e2fsprogs"),
    ] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} is missing: scripts/install-local-deps.sh installs {package}"
            ));
        }
    }
    None
}

/// Destroys the test clouds of runs killed before their guards ran:
/// `/tmp/nubo-tc-PID-...` of a process that is gone (the tests' roots
/// too, as the tests' own sweep does).
fn sweep_stale_clouds() {
    for err in TestCloud::sweep_dead_runs(Path::new("/tmp"), "nubo-tc-") {
        eprintln!("sweeping: {err}");
    }
}

/// A test cloud of the benchmark's own, destroyed with its root when
/// dropped (after the emulator and the cluster, declared after it).
struct CloudGuard {
    root: PathBuf,
    cloud: TestCloud,
    done: bool,
}

impl CloudGuard {
    fn new() -> Result<CloudGuard, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = PathBuf::from(format!(
            "/tmp/nubo-tc-{}-bench-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        match TestCloud::new(&root, &format!("bench-{nanos:08x}")) {
            Ok(cloud) => Ok(CloudGuard {
                root,
                cloud,
                done: false,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&root);
                Err(format!("cannot make a test cloud: {e}"))
            }
        }
    }

    /// Destroys the cloud; an error if anything of it is left.
    fn destroy(&mut self) -> Result<(), String> {
        self.done = true;
        let mut last = String::new();
        // A host whose boot or removal was still under way when a failure
        // dropped the emulator can appear after a first sweep.
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            match self.cloud.destroy() {
                Ok(()) => {
                    let _ = std::fs::remove_dir_all(&self.root);
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("destroying the test cloud: {last}"))
    }
}

impl Drop for CloudGuard {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = self.destroy()
        {
            eprintln!("{BENCH}: {e}");
        }
    }
}

/// A cluster launched on the test cloud: `nubo destroy --force` when
/// dropped, unless `gone` (a checked `nubo destroy` ran).
struct Launched<'w> {
    ws: &'w Workspace,
    name: String,
    auth: String,
    gone: bool,
}

impl Launched<'_> {
    fn nubo(&self, args: &[&str]) -> Result<support::Timed, String> {
        self.ws.run_nubo(args)
    }
}

impl Drop for Launched<'_> {
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        let out = self
            .ws
            .nubo(&["destroy", &self.name, "-a", &self.auth, "-y", "--force"])
            .stdin(std::process::Stdio::null())
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("{BENCH}: cleanup of {}: {out:?}", self.name);
        }
    }
}

/// One size, measured.
struct Row {
    vms: u32,
    launch: Duration,
    boot_median: Duration,
    boot_max: Duration,
    destroy: Duration,
    /// Seconds after the launch started: the first create call reaching the
    /// cloud, the last one, the last sshd listening, the launch's exit.
    timeline: [f64; 4],
    /// Servers created within a second of the first.
    first_second: usize,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    ws: &Workspace,
    rounds: u32,
    sizes: &[u32],
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &n in sizes {
        let mut best: Option<Row> = None;
        for round in 1..=rounds {
            eprintln!("{BENCH}: round {round} of {rounds}: {n} VM(s)");
            let row = one(rt, ws, n)?;
            eprintln!(
                "{BENCH}: {n} VM(s): launch {}, boot median {} max {}, destroy {}",
                secs(row.launch),
                secs(row.boot_median),
                secs(row.boot_max),
                secs(row.destroy)
            );
            if best.as_ref().is_none_or(|b| row.launch < b.launch) {
                best = Some(row);
            }
        }
        rows.extend(best);
    }
    Ok(rows)
}

/// The cluster's description: `front` with a floating IP, `n - 1`
/// workers on the private network only, one step each.
fn cluster_radl(n: u32) -> String {
    let image = format!(
        "disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}' and \
         disk.0.os.credentials.username = 'cloudadm'"
    );
    let mut radl = format!(
        "network public (outbound = 'yes' and provider_id = 'public')\n\
         network private (provider_id = 'private')\n\
         system front (cpu.count >= 1 and memory.size >= 1g and \
           net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and \
           net_interface.1.connection = 'private' and {image})\n\
         system wn (cpu.count >= 1 and memory.size >= 1g and \
           net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and \
           {image})\n\
         configure mark (\n@begin\n- name: the mark\n  file:\n    path: /etc/nubo-mark\n    \
           content: \"{{{{ node.name }}}}\\n\"\n@end\n)\n"
    );
    if n > 1 {
        radl.push_str(&format!(
            "contextualize (\n system front configure mark step 1\n \
             system wn configure mark step 1\n)\ndeploy front 1\ndeploy wn {}\n",
            n - 1
        ));
    } else {
        radl.push_str("contextualize (\n system front configure mark step 1\n)\ndeploy front 1\n");
    }
    radl
}

/// 10.250.224.0/19, the test clouds' addresses.
fn in_test_cloud_range(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 10 && b == 250 && c >= 224
}

fn one(rt: &tokio::runtime::Runtime, ws: &Workspace, n: u32) -> Result<Row, String> {
    // Dropped in reverse: the cluster (its forced destroy talks to the
    // emulator), the emulator, then the test cloud.
    let mut cloud = CloudGuard::new()?;
    let emu = rt
        .block_on(OstEmu::start_on(
            EmuConfig {
                networks: vec![
                    network("a1e3b0c4-0000-4000-8000-000000000001", "public", true, ""),
                    network("a1e3b0c4-0000-4000-8000-000000000002", "private", false, ""),
                ],
                hosts: Some(cloud.cloud.clone()),
                ..EmuConfig::default()
            },
            SocketAddr::from(([127, 0, 0, 1], 0)),
        ))
        .map_err(|e| format!("the OpenStack emulator cannot start: {e}"))?;
    let networks = cloud
        .cloud
        .networks()
        .map_err(|e| format!("the test cloud's networks: {e}"))?;
    let private = networks
        .iter()
        .find(|net| net.role == Role::Private)
        .ok_or("the test cloud has no private network")?
        .clone();

    let name = ws.cluster_name(&format!("n{n}"));
    let auth = ws.write(
        &format!("{name}.auth"),
        &format!(
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; \
             tenant = demo; domain = Default\n",
            emu.keystone()
        ),
    )?;
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", auth.display()))?;
    let radl = ws.write(&format!("{name}.radl"), &cluster_radl(n))?;
    let auth = auth.display().to_string();
    let radl = radl.display().to_string();

    let mut cluster = Launched {
        ws,
        name: name.clone(),
        auth: auth.clone(),
        gone: false,
    };
    let started = SystemTime::now();
    let launched = cluster.nubo(&["launch", &name, &radl, "-a", &auth, "-y"])?;

    // The cloud: N servers, every one ACTIVE, each booted by cloud-init.
    let servers = emu.servers();
    let active = servers.iter().filter(|s| s.status == "ACTIVE").count();
    if servers.len() != n as usize || active != n as usize {
        return Err(format!(
            "{name}: {} servers, {active} ACTIVE on the emulator; {n} ACTIVE expected: {:?}",
            servers.len(),
            servers
                .iter()
                .map(|s| (&s.name, &s.status, &s.fault))
                .collect::<Vec<_>>()
        ));
    }
    let boots = emu.boots();
    if boots.len() != n as usize {
        return Err(format!(
            "{name}: {} host boots on the test cloud, {n} expected",
            boots.len()
        ));
    }
    for (server, boot) in &boots {
        if !boot.cloud_init_ok() {
            return Err(format!(
                "{name}: cloud-init on {server}: errors {:?}, warnings {:?}\n{}",
                boot.cloud_init_errors,
                boot.cloud_init_warnings,
                boot.timeline()
            ));
        }
    }
    let mut boot_times: Vec<Duration> = boots
        .iter()
        .map(|(_, b)| b.sshd_up.duration_since(b.called).unwrap_or_default())
        .collect();
    boot_times.sort();
    let mid = boot_times.len() / 2;
    let boot_median = if boot_times.len() % 2 == 1 {
        boot_times[mid]
    } else {
        (boot_times[mid - 1] + boot_times[mid]) / 2
    };
    let boot_max = *boot_times.last().ok_or("no boot")?;
    let since = |t: SystemTime| t.duration_since(started).unwrap_or_default().as_secs_f64();
    let timeline = [
        boots
            .iter()
            .map(|(_, b)| since(b.called))
            .fold(f64::MAX, f64::min),
        boots
            .iter()
            .map(|(_, b)| since(b.called))
            .fold(0.0, f64::max),
        boots
            .iter()
            .map(|(_, b)| since(b.sshd_up))
            .fold(0.0, f64::max),
        launched.wall.as_secs_f64(),
    ];
    let first_second = boots
        .iter()
        .filter(|(_, b)| since(b.called) < timeline[0] + 1.0)
        .count();

    // nubo's record: N VMs running, N steps ok, the addresses as asked.
    let shown = cluster.nubo(&["show", &name, "--json"])?;
    let shown: serde_json::Value =
        serde_json::from_str(&shown.stdout).map_err(|e| format!("nubo show {name} --json: {e}"))?;
    let vms = shown["vms"].as_array().cloned().unwrap_or_default();
    let running: Vec<&serde_json::Value> = vms.iter().filter(|v| v["state"] == "running").collect();
    if running.len() != n as usize {
        return Err(format!(
            "{name}: {} VMs running, {n} expected: {vms:?}",
            running.len()
        ));
    }
    let steps = shown["steps"].as_array().cloned().unwrap_or_default();
    let ok = steps.iter().filter(|s| s["status"] == "ok").count();
    if steps.len() != n as usize || ok != n as usize {
        return Err(format!(
            "{name}: {} steps recorded, {ok} ok; {n} ok expected: {steps:?}",
            steps.len()
        ));
    }
    let mut nodes = Vec::new();
    for v in &running {
        let node = v["node"].as_str().ok_or("a VM without a node name")?;
        let addresses: Vec<Ipv4Addr> = v["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect();
        if addresses.is_empty() || !addresses.iter().all(|ip| in_test_cloud_range(*ip)) {
            return Err(format!(
                "{name}: {node}'s addresses {addresses:?} are not all in the test cloud's \
                 10.250.224.0/19"
            ));
        }
        if node != "front" {
            let [_, _, c, _] = addresses[0].octets();
            if addresses.len() != 1 || c != private.octet {
                return Err(format!(
                    "{name}: worker {node} has {addresses:?}, not one address on the private \
                     network {}",
                    private.cidr()
                ));
            }
        }
        nodes.push(node.to_string());
    }
    let expected: Vec<String> = std::iter::once("front".to_string())
        .chain((1..n).map(|i| format!("wn-{i}")))
        .collect();
    let mut sorted = nodes.clone();
    sorted.sort();
    let mut want = expected.clone();
    want.sort();
    if sorted != want {
        return Err(format!("{name}: nodes {sorted:?}, expected {want:?}"));
    }

    // Every node's mark, read through nubo's own way in (the workers'
    // through the front-end).
    // (Commands are made here: the workspace is not shared with threads.)
    let mut checks: Vec<Vec<(String, std::process::Command)>> =
        (0..CHECKERS).map(|_| Vec::new()).collect();
    for (i, node) in expected.iter().enumerate() {
        let mut c = ws.nubo(&["ssh", &name, node, "--", "cat /etc/nubo-mark"]);
        c.stdin(std::process::Stdio::null());
        checks[i % CHECKERS].push((node.clone(), c));
    }
    let marks: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = checks
            .into_iter()
            .map(|batch| {
                let name = &name;
                s.spawn(move || {
                    batch
                        .into_iter()
                        .map(|(node, mut c)| mark_ok(name, &node, &mut c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("a check panicked".to_string())])
            })
            .collect()
    });
    for m in marks {
        m?;
    }

    // Destroy: nothing left on the cloud or the machine.
    let destroyed = cluster.nubo(&["destroy", &name, "-y"])?;
    cluster.gone = true;
    let servers = emu.servers();
    if !servers.is_empty() {
        return Err(format!(
            "{name}: servers left after destroy: {:?}",
            servers.iter().map(|s| &s.name).collect::<Vec<_>>()
        ));
    }
    let ips = emu.floating_ips();
    if !ips.is_empty() {
        return Err(format!(
            "{name}: floating IPs left after destroy: {:?}",
            ips.iter().map(|f| &f.address).collect::<Vec<_>>()
        ));
    }
    let hosts = cloud.cloud.host_names();
    if !hosts.is_empty() {
        return Err(format!(
            "{name}: test-cloud hosts left after destroy: {hosts:?}"
        ));
    }
    drop(cluster);
    drop(emu);
    cloud.destroy()?;
    Ok(Row {
        vms: n,
        launch: launched.wall,
        boot_median,
        boot_max,
        destroy: destroyed.wall,
        timeline,
        first_second,
    })
}

/// Runs `nubo ssh NAME NODE -- cat /etc/nubo-mark`; the node's name and a
/// newline expected.
fn mark_ok(name: &str, node: &str, c: &mut std::process::Command) -> Result<(), String> {
    let out = c
        .output()
        .map_err(|e| format!("nubo ssh {name} {node}: cannot start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "nubo ssh {name} {node} -- cat /etc/nubo-mark: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if stdout != format!("{node}\n") {
        return Err(format!(
            "{name}: /etc/nubo-mark on {node} holds {stdout:?}, not {:?}",
            format!("{node}\n")
        ));
    }
    Ok(())
}

fn report(rows: &[Row], rounds: u32, before: &str, after: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "| VMs | `nubo launch` wall | per VM | boot: API call → sshd, median | max | \
         `nubo destroy` |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.vms,
            secs(r.launch),
            secs(r.launch / r.vms),
            secs(r.boot_median),
            secs(r.boot_max),
            secs(r.destroy),
        ));
    }
    out.push('\n');
    let command = if support::quick() {
        "NUBO_BENCH_QUICK=1 cargo bench --bench cloud_launch"
    } else {
        "cargo bench --bench cloud_launch"
    };
    out.push_str(&format!("command: `{command}`\n"));
    let rounds_note = if rounds == 1 {
        "one round".to_string()
    } else {
        format!("the fastest launch of {rounds} rounds")
    };
    out.push_str(&format!(
        "times: {rounds_note} per size, each on a fresh test cloud (the OpenStack emulator on \
         127.0.0.1 with a host booted by Debian's cloud-init behind every server); a cluster of \
         1 front-end with a floating IP and N-1 workers with a private address only, reached \
         through the front-end; one step per node (a `file` under /etc, through sudo as \
         `cloudadm`); launch = `nubo launch` from start to exit, checked (N servers ACTIVE, N \
         steps ok, cloud-init without errors, /etc/nubo-mark right on every node through `nubo \
         ssh`); boot = from a server's create call to its sshd listening after cloud-init, \
         from the emulator; destroy = `nubo destroy -y`, checked (no server, floating IP or \
         host left)\n"
    ));
    out.push_str(
        "nubo's OpenStack provider looks at a server every 5 s (its default poll interval), so \
         `nubo launch` goes on up to 5 s after a server's sshd listens before it connects, and \
         `nubo destroy` waits in the same steps for the servers to go\n",
    );
    for r in rows {
        let [first, last, up, exit] = r.timeline;
        out.push_str(&format!(
            "{} VM(s), seconds after `nubo launch` started: servers created {first:.2} to \
             {last:.2} ({} of them within the first second), the last sshd listening {up:.2}, \
             launch exited {exit:.2}\n",
            r.vms, r.first_second
        ));
    }
    out.push_str(&format!("machine: before {before}; after {after}\n"));
    out
}
