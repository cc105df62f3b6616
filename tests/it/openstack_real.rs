//! The OpenStack provider through the `nubo` binary against real
//! OpenStack services: Debian 12's Keystone, Glance, Placement, Nova (fake
//! virt driver) and Neutron, run on this machine by
//! `scripts/openstack-test-cloud.sh` (README, "Real OpenStack for tests").
//! The emulator's tests (`openstack.rs`, `cloud_cli.rs`) cover faults; these
//! show that what nubo asks of the API reference is what the real services
//! answer. What is left behind is checked with the `openstack` client.
//!
//! Opt-in: `NUBO_OPENSTACK_REAL=1` runs them (as root; the script installs
//! and starts the services, or finds them running; `.ci/run` starts them
//! before the tests and stops them after); without it they skip, visibly,
//! and under `NUBO_REQUIRE_SYSTEM_TESTS=1` that skip is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The real cloud as the tests use it (here and in `slurm_cluster.rs`).
pub(crate) struct Real {
    pub(crate) auth_line: String,
    pub(crate) clouds_yaml: PathBuf,
    pub(crate) image_id: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/openstack-test-cloud.sh")
}

/// Starts the services once per test process (the script is idempotent:
/// a running cloud is left as it is), or `None` when the switch is off.
pub(crate) fn real() -> Option<&'static Real> {
    if std::env::var("NUBO_OPENSTACK_REAL").as_deref() != Ok("1") {
        crate::support::skip_or_fail(
            "NUBO_OPENSTACK_REAL is not 1: the real-OpenStack tests need the services of scripts/openstack-test-cloud.sh (.ci/run starts them and sets it)",
        );
        return None;
    }
    static CLOUD: OnceLock<Result<Real, String>> = OnceLock::new();
    let cloud = CLOUD.get_or_init(|| {
        let out = Command::new(script())
            .arg("start")
            .output()
            .map_err(|e| format!("run {}: {e}", script().display()))?;
        if !out.status.success() {
            return Err(format!(
                "openstack-test-cloud.sh start: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let auth_line = stdout
            .lines()
            .rfind(|l| l.starts_with("id = ost;"))
            .ok_or_else(|| format!("no auth line in the script's output: {stdout}"))?
            .to_string();
        let dir =
            std::env::var("NUBO_OST_DIR").unwrap_or_else(|_| "/var/lib/nubo-openstack".into());
        let clouds_yaml = Path::new(&dir).join("clouds.yaml");
        let mut real = Real {
            auth_line,
            clouds_yaml,
            image_id: String::new(),
        };
        let image = real.openstack(&["image", "show", "debian-12-fake"]);
        real.image_id = image["id"]
            .as_str()
            .ok_or("the image has no id")?
            .to_string();
        Ok(real)
    });
    match cloud {
        Ok(real) => Some(real),
        Err(e) => panic!("NUBO_OPENSTACK_REAL=1 but the real OpenStack cannot start: {e}"),
    }
}

impl Real {
    /// `openstack --os-cloud nubo ARGS -f json`, as the test project.
    pub(crate) fn openstack(&self, args: &[&str]) -> Value {
        let out = Command::new("openstack")
            .env("OS_CLIENT_CONFIG_FILE", &self.clouds_yaml)
            .args(["--os-cloud", "nubo"])
            .args(args)
            .args(["-f", "json"])
            .output()
            .expect("run openstack");
        assert!(
            out.status.success(),
            "openstack {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("openstack {args:?} answered no JSON ({e})"))
    }

    /// `openstack WHAT list EXTRA`.
    pub(crate) fn list(&self, what: &[&str], extra: &[&str]) -> Vec<Value> {
        let mut args = what.to_vec();
        args.push("list");
        args.extend_from_slice(extra);
        match self.openstack(&args) {
            Value::Array(items) => items,
            other => panic!("openstack {what:?} list: {other}"),
        }
    }

    /// A directory with the auth file and a description, for one cluster.
    fn workdir(&self, radl: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        write_private(
            &tmp.path().join("auth.dat"),
            &format!("{}\n", self.auth_line),
        );
        std::fs::write(tmp.path().join("cluster.radl"), radl).unwrap();
        tmp
    }

    /// Nothing of the cluster is left: no server, port, floating IP,
    /// security group or key pair that is the cluster's, by name, by the
    /// servers' ids and by the floating addresses it had.
    pub(crate) fn assert_nothing_of(
        &self,
        cluster: &str,
        server_ids: &[String],
        floating: &[String],
    ) {
        let prefix = format!("nubo-{cluster}-");
        let servers = self.list(&["server"], &[]);
        assert!(
            servers.iter().all(|s| {
                let name = s["Name"].as_str().unwrap_or("");
                let id = s["ID"].as_str().unwrap_or("");
                !name.starts_with(&prefix) && !server_ids.iter().any(|i| i == id)
            }),
            "servers left: {servers:#?}"
        );
        let ports = self.list(&["port"], &["--long"]);
        for id in server_ids {
            let of_server = self.list(&["port"], &["--device-id", id]);
            assert!(
                of_server.is_empty(),
                "ports of server {id} left: {of_server:#?}"
            );
        }
        assert!(
            ports
                .iter()
                .all(|p| !p["Name"].as_str().unwrap_or("").starts_with(&prefix)),
            "ports left: {ports:#?}"
        );
        let fips = self.list(&["floating", "ip"], &[]);
        assert!(
            fips.iter().all(|f| {
                let addr = f["Floating IP Address"].as_str().unwrap_or("");
                !floating.iter().any(|a| a == addr)
            }),
            "floating IPs left: {fips:#?}"
        );
        let groups = self.list(&["security", "group"], &[]);
        assert!(
            groups
                .iter()
                .all(|g| !g["Name"].as_str().unwrap_or("").starts_with(&prefix)),
            "security groups left: {groups:#?}"
        );
        let keys = self.list(&["keypair"], &[]);
        assert!(
            keys.iter()
                .all(|k| !k["Name"].as_str().unwrap_or("").contains(cluster)),
            "key pairs left: {keys:#?}"
        );
    }
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn nubo(dir: &Path, args: &[&str]) -> Output {
    crate::support::nubo_in(dir)
        .args(args)
        .output()
        .expect("run nubo")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    crate::support::stdout_of(&format!("nubo {args:?}"), nubo(dir, args))
}

fn shown_vms(dir: &Path, cluster: &str) -> Vec<Value> {
    let shown: Value = serde_json::from_str(&ok(dir, &["show", cluster, "--json"])).unwrap();
    shown["vms"].as_array().unwrap().clone()
}

/// A failed test still destroys its cluster, so the shared cloud keeps
/// room for the next run.
struct DestroyOnPanic<'a> {
    dir: &'a Path,
    cluster: &'a str,
}

impl Drop for DestroyOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let out = nubo(self.dir, &["destroy", self.cluster, "-y"]);
            eprintln!(
                "cleanup: nubo destroy {}: {}\n{}",
                self.cluster,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A cluster name no earlier run left behind.
fn cluster_name(base: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{base}{:x}", (std::process::id() ^ nanos) & 0xffff)
}

fn ids_and_floating(real: &Real, vms: &[Value]) -> (Vec<String>, Vec<String>) {
    let ids: Vec<String> = vms
        .iter()
        .map(|v| v["provider_vm_id"].as_str().unwrap().to_string())
        .collect();
    let external: Vec<String> = real
        .list(&["floating", "ip"], &[])
        .iter()
        .filter_map(|f| f["Floating IP Address"].as_str().map(str::to_string))
        .collect();
    let floating = vms
        .iter()
        .flat_map(|v| v["addresses"].as_array().unwrap().clone())
        .filter_map(|a| a.as_str().map(str::to_string))
        .filter(|a| external.contains(a))
        .collect();
    (ids, floating)
}

/// One VM with a public and a private interface: launch, show, stop,
/// restart, destroy; the cloud keeps nothing of it.
#[test]
fn one_vm_life_cycle_on_real_openstack() {
    let Some(real) = real() else { return };
    let cluster = cluster_name("osr");
    let tmp = real.workdir(&format!(
        "network public (outbound = 'yes' and provider_id = 'public' and outports = '80')\n\
         network private (provider_id = 'private')\n\
         system front (cpu.count >= 1 and memory.size >= 1g and \
           net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
           disk.0.image.url = 'ost://127.0.0.1/{}')\n\
         contextualize ()\n\
         deploy front 1\n",
        real.image_id
    ));
    let dir = tmp.path();
    let _cleanup = DestroyOnPanic {
        dir,
        cluster: &cluster,
    };
    ok(
        dir,
        &["launch", &cluster, "cluster.radl", "-a", "auth.dat", "-y"],
    );
    let vms = shown_vms(dir, &cluster);
    assert_eq!(vms.len(), 1, "{vms:#?}");
    assert_eq!(vms[0]["state"], "running", "{vms:#?}");
    let (ids, floating) = ids_and_floating(real, &vms);
    assert_eq!(
        floating.len(),
        1,
        "the public interface has a floating IP: {vms:#?}"
    );
    let server = real.openstack(&["server", "show", &ids[0]]);
    assert_eq!(server["status"], "ACTIVE", "{server:#}");

    ok(dir, &["stop", &cluster]);
    assert_eq!(shown_vms(dir, &cluster)[0]["state"], "stopped");
    assert_eq!(
        real.openstack(&["server", "show", &ids[0]])["status"],
        "SHUTOFF"
    );
    ok(dir, &["restart", &cluster]);
    assert_eq!(shown_vms(dir, &cluster)[0]["state"], "running");
    assert_eq!(
        real.openstack(&["server", "show", &ids[0]])["status"],
        "ACTIVE"
    );

    ok(dir, &["destroy", &cluster, "-y"]);
    assert!(!ok(dir, &["list"]).contains(&cluster));
    real.assert_nothing_of(&cluster, &ids, &floating);
}

/// Ten VMs: each on the cheapest flavor that fits (m1.medium, 2 VCPUs and
/// 4 GiB, for the front-end's 2 CPUs and 2 GiB; m1.tiny, 1 VCPU and 512
/// MiB, for the workers), a security group with the public network's
/// `outports`, a floating IP on the front-end only; destroy leaves nothing.
#[test]
fn ten_vms_cheapest_flavors_outports_and_one_floating_ip_on_real_openstack() {
    let Some(real) = real() else { return };
    let cluster = cluster_name("osr10");
    let tmp = real.workdir(&format!(
        "network public (outbound = 'yes' and provider_id = 'public' and outports = '80,8000:8010/tcp,53/udp')\n\
         network private (provider_id = 'private')\n\
         system front (cpu.count >= 2 and memory.size >= 2g and \
           net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
           disk.0.image.url = 'ost://127.0.0.1/{img}')\n\
         system wn (cpu.count >= 1 and memory.size >= 512m and \
           net_interface.0.connection = 'private' and \
           disk.0.image.url = 'ost://127.0.0.1/{img}')\n\
         contextualize ()\n\
         deploy front 1\n\
         deploy wn 9\n",
        img = real.image_id
    ));
    let dir = tmp.path();
    let _cleanup = DestroyOnPanic {
        dir,
        cluster: &cluster,
    };
    ok(
        dir,
        &["launch", &cluster, "cluster.radl", "-a", "auth.dat", "-y"],
    );
    let vms = shown_vms(dir, &cluster);
    assert_eq!(vms.len(), 10, "{vms:#?}");
    assert!(vms.iter().all(|v| v["state"] == "running"), "{vms:#?}");
    let (ids, floating) = ids_and_floating(real, &vms);

    // Flavors, as Nova holds them.
    let prefix = format!("nubo-{cluster}-");
    let servers: Vec<Value> = real
        .list(&["server"], &["--long"])
        .into_iter()
        .filter(|s| s["Name"].as_str().unwrap_or("").starts_with(&prefix))
        .collect();
    assert_eq!(servers.len(), 10, "{servers:#?}");
    for s in &servers {
        let name = s["Name"].as_str().unwrap();
        let want = if name == format!("{prefix}front") {
            "m1.medium"
        } else {
            "m1.tiny"
        };
        assert_eq!(s["Flavor Name"], want, "{s:#}");
        assert_eq!(s["Status"], "ACTIVE", "{s:#}");
    }

    // One floating IP, the front-end's.
    let fips: Vec<Value> = real
        .list(&["floating", "ip"], &[])
        .into_iter()
        .filter(|f| {
            floating
                .iter()
                .any(|a| f["Floating IP Address"] == a.as_str())
        })
        .collect();
    assert_eq!(fips.len(), 1, "{fips:#?}");
    let front = vms.iter().find(|v| v["node"] == "front").unwrap();
    let front_addrs = front["addresses"].as_array().unwrap();
    assert!(
        front_addrs
            .iter()
            .any(|a| *a == fips[0]["Floating IP Address"])
    );
    assert!(
        front_addrs
            .iter()
            .any(|a| *a == fips[0]["Fixed IP Address"])
    );

    // The public network's group: SSH and the outports, from anywhere.
    let rules = real.list(
        &["security", "group", "rule"],
        &[&format!("{prefix}public")],
    );
    let open = |proto: &str, range: &str| {
        rules.iter().any(|r| {
            r["Direction"] == "ingress"
                && r["IP Protocol"] == proto
                && r["Port Range"] == range
                && r["IP Range"] == "0.0.0.0/0"
        })
    };
    for (proto, range) in [
        ("tcp", "22:22"),
        ("tcp", "80:80"),
        ("tcp", "8000:8010"),
        ("udp", "53:53"),
    ] {
        assert!(
            open(proto, range),
            "{proto} {range} is not open: {rules:#?}"
        );
    }

    ok(dir, &["destroy", &cluster, "-y"]);
    real.assert_nothing_of(&cluster, &ids, &floating);
}

/// Real Nova's quota: project `nubo-quota` may hold 2 instances, and 3 are
/// asked. The launch ends as the walk's rules say: two VMs running, one
/// cleanly failed with Nova's quota answer, exit 1; Nova holds exactly the
/// two recorded servers; destroy leaves nothing.
#[test]
fn a_real_nova_quota_ends_with_two_running_and_one_cleanly_failed() {
    let Some(real) = real() else { return };
    let out = Command::new(script())
        .args(["auth", "quota"])
        .output()
        .expect("run the script");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(line.contains("tenant = nubo-quota"), "{line}");
    let quota = Real {
        auth_line: line,
        clouds_yaml: real.clouds_yaml.clone(),
        image_id: real.image_id.clone(),
    };
    let cluster = cluster_name("osrq");
    let tmp = quota.workdir(&format!(
        "network private (provider_id = 'private')\n\
         system wn (cpu.count >= 1 and memory.size >= 512m and \
           net_interface.0.connection = 'private' and \
           disk.0.image.url = 'ost://127.0.0.1/{}')\n\
         contextualize ()\n\
         deploy wn 3\n",
        real.image_id
    ));
    let dir = tmp.path();
    let _cleanup = DestroyOnPanic {
        dir,
        cluster: &cluster,
    };
    let out = nubo(
        dir,
        &["launch", &cluster, "cluster.radl", "-a", "auth.dat", "-y"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one VM cannot be made: {stderr}"
    );
    assert!(
        stderr.contains("Quota exceeded for instances"),
        "Nova's quota answer is reported: {stderr}"
    );
    let vms = shown_vms(dir, &cluster);
    let running: Vec<&Value> = vms.iter().filter(|v| v["state"] == "running").collect();
    let failed = vms.iter().filter(|v| v["state"] == "failed").count();
    assert_eq!((running.len(), failed), (2, 1), "{vms:#?}");
    // What Nova holds of the project is what the state records.
    let recorded: Vec<&str> = running
        .iter()
        .filter_map(|v| v["provider_vm_id"].as_str())
        .collect();
    let held: Vec<Value> = quota_servers();
    assert_eq!(held.len(), 2, "{held:#?}");
    for s in &held {
        let id = s["ID"].as_str().unwrap();
        assert!(
            recorded.contains(&id),
            "server {id} is not recorded: {vms:#?}"
        );
        assert_eq!(s["Status"], "ACTIVE", "{s:#}");
    }
    let ids: Vec<String> = recorded.iter().map(|s| s.to_string()).collect();
    ok(dir, &["destroy", &cluster, "-y"]);
    assert!(quota_servers().is_empty());
    real.assert_nothing_of(&cluster, &ids, &[]);
}

/// The servers of project `nubo-quota`, as its user sees them.
fn quota_servers() -> Vec<Value> {
    let out = Command::new(script())
        .args(["openstack-quota", "server", "list", "-f", "json"])
        .output()
        .expect("run the script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON server list")
}
