//! A test-cloud host: a local-provider node booted like a cloud VM.
//!
//! [`TestCloud::boot`] makes it: its directory `hosts/NAME/` (the record
//! `host.json`: index and [`HostSpec`]; the overlay upper and work
//! directories, its `/root`, its volumes, `console.log`, `init.pid`), the
//! image's files and NoCloud seed ([`super::image`]), its volumes' loop
//! devices, its network namespace `nb-H-I` with one veth per NIC (made
//! with the local provider's netlink code), and its init (the local
//! provider's `init`: namespaces and mounts by system calls, then the
//! image's init script as PID 1). It returns once sshd listens, with the
//! boot's [`Boot`] report: the timeline and cloud-init's own errors.
//!
//! [`TestCloud::stop`] kills every process (as a power-off would) and
//! removes the network and the loop devices; the files (its disk, its
//! volumes) stay. [`TestCloud::start`] boots it again: cloud-init finds the
//! same instance id in `/var/lib/cloud`, so its per-instance modules (users,
//! SSH host keys) do not run again, as on a real cloud.
//! [`TestCloud::remove`] leaves nothing, and checks it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::network::{self, Network, Role};
use super::{TestCloud, TestCloudError, image, volume};
use crate::provider::local::naming::{self, NodePaths, OVERLAID};
use crate::provider::local::{cmd, init, netlink, node};

/// How long a boot may take until sshd listens (cloud-init is Python:
/// seconds per stage on a busy machine).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// cloud-init's log, under `/var`.
const CLOUD_INIT_LOG: &str = "log/cloud-init.log";

/// Host indices run from 0 to this (veth names have 15 bytes at most).
pub const MAX_HOST_INDEX: u32 = 9999;

/// The letter after `nbH` in the host-side name of each NIC's veth.
const NIC_LETTERS: [char; 5] = ['v', 'w', 'x', 'y', 'z'];

/// One network interface: `ethN` inside, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// A network made with [`TestCloud::network`].
    pub network: String,
    /// The address the cloud's API reports, in the network's /24.
    pub ip: Ipv4Addr,
}

/// A volume of the host: a loop device of a sparse file of `size_mib`,
/// `/dev/DEV` inside. Kept while the host is stopped, removed with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// `vdb` to `vdz`, or `xvdb` to `xvdz` (EC2's Xen names).
    pub dev: String,
    pub size_mib: u32,
}

/// What a cloud boots a VM with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// The host's name in the cloud (a hostname); its directory's name.
    pub name: String,
    /// Exactly the user data the cloud's API received (NoCloud `user-data`).
    pub user_data: String,
    /// NoCloud `instance-id`: the same across stops and starts.
    pub instance_id: String,
    /// NoCloud `local-hostname`, when the cloud's metadata gives one.
    pub local_hostname: Option<String>,
    /// At least one, at most five.
    pub nics: Vec<Nic>,
    pub volumes: Vec<VolumeSpec>,
}

/// What `host.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    index: u32,
    spec: HostSpec,
}

/// One line of the init's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: SystemTime,
    /// `init`, `devices`, `cloud-init-local`, `cloud-init-network`,
    /// `cloud-init-config`, `cloud-init-final`, `sshd-start`.
    pub what: String,
    /// The exit status of a cloud-init stage.
    pub status: Option<i32>,
}

/// How one boot went.
#[derive(Debug, Clone)]
pub struct Boot {
    pub name: String,
    /// The host's init (sshd now) as seen on this machine.
    pub init_pid: u32,
    /// When `boot` or `start` was called.
    pub called: SystemTime,
    /// The init's timeline.
    pub events: Vec<Event>,
    /// When this machine saw sshd listen.
    pub sshd_up: SystemTime,
    /// cloud-init's own errors of this boot (`result.json`).
    pub cloud_init_errors: Vec<String>,
    /// The `WARNING` lines cloud-init logged in this boot
    /// (`/var/log/cloud-init.log`): among them what its schema check says
    /// of the user data (`Invalid cloud-config provided`).
    pub cloud_init_warnings: Vec<String>,
}

impl Boot {
    pub fn event(&self, what: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.what == what)
    }

    /// When the last cloud-init stage ended.
    pub fn cloud_init_done(&self) -> Option<SystemTime> {
        self.event("cloud-init-final").map(|e| e.at)
    }

    /// The cloud-init stages that exited with a failure.
    pub fn failed_stages(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.status.is_some_and(|s| s != 0))
            .collect()
    }

    /// cloud-init ran every stage without an error.
    pub fn cloud_init_ok(&self) -> bool {
        self.cloud_init_errors.is_empty()
            && self.cloud_init_warnings.is_empty()
            && self.failed_stages().is_empty()
            && self.cloud_init_done().is_some()
    }

    /// The timeline as text, seconds from the call: `+  4.21 s  what`.
    pub fn timeline(&self) -> String {
        let since = |t: SystemTime| {
            t.duration_since(self.called)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        let mut out = format!("{:+7.2} s  boot call ({})\n", 0.0, self.name);
        for e in &self.events {
            let status = e.status.map(|s| format!(" (exit {s})")).unwrap_or_default();
            out.push_str(&format!("{:+7.2} s  {}{status}\n", since(e.at), e.what));
        }
        out.push_str(&format!("{:+7.2} s  sshd listening\n", since(self.sshd_up)));
        out
    }
}

/// Parses the timeline's `EPOCH EVENT [STATUS]` lines.
pub fn parse_timeline(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let secs: f64 = f.next()?.parse().ok()?;
            let what = f.next()?.to_string();
            let status = f.next().and_then(|s| s.parse().ok());
            let at = SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)?;
            Some(Event { at, what, status })
        })
        .collect()
}

fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> TestCloudError {
    TestCloudError::Invalid {
        what,
        value: value.to_string(),
        why: why.into(),
    }
}

impl TestCloud {
    fn record_file(&self, name: &str) -> std::path::PathBuf {
        self.host_paths(name).dir.join("host.json")
    }

    fn read_record(&self, name: &str) -> Result<Record, TestCloudError> {
        let path = self.record_file(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TestCloudError::NoHost {
                    cloud: self.name.clone(),
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(TestCloudError::io("cannot read", &path, e)),
        };
        serde_json::from_str(&text)
            .map_err(|e| invalid("host record", &path.display().to_string(), e.to_string()))
    }

    /// The spec a host was booted with.
    pub fn host_spec(&self, name: &str) -> Result<HostSpec, TestCloudError> {
        Ok(self.read_record(name)?.spec)
    }

    fn netns(&self, index: u32) -> String {
        naming::netns_name(&self.key, index)
    }

    fn veth(&self, index: u32, nic: usize) -> String {
        format!("{}{}{index}", self.link_prefix(), NIC_LETTERS[nic])
    }

    /// Whether the host's init runs.
    pub fn is_running(&self, name: &str) -> bool {
        let Ok(rec) = self.read_record(name) else {
            return false;
        };
        node::running_init(&self.host_paths(name)).is_some()
            && cmd::netns_exists(&self.netns(rec.index))
    }

    /// The host's init pid (on this machine), while it runs.
    pub fn init_pid(&self, name: &str) -> Option<u32> {
        self.is_running(name)
            .then(|| node::running_init(&self.host_paths(name)))
            .flatten()
    }

    fn check_spec(&self, spec: &HostSpec) -> Result<Vec<Network>, TestCloudError> {
        naming::check_node(&spec.name)?;
        if let Some(h) = &spec.local_hostname {
            naming::check_node(h)?;
        }
        if spec.instance_id.is_empty()
            || spec.instance_id.len() > 128
            || spec.instance_id.chars().any(|c| c.is_control() || c == '/')
        {
            return Err(invalid(
                "instance id",
                &spec.instance_id,
                "it must be 1 to 128 characters, without `/` or control characters",
            ));
        }
        if spec.nics.is_empty() || spec.nics.len() > NIC_LETTERS.len() {
            return Err(invalid(
                "host spec",
                &spec.name,
                format!(
                    "a host has 1 to {} NICs, not {}",
                    NIC_LETTERS.len(),
                    spec.nics.len()
                ),
            ));
        }
        let mut nets = Vec::new();
        let others: Vec<Record> = self
            .host_names()
            .into_iter()
            .filter(|n| n != &spec.name)
            .filter_map(|n| self.read_record(&n).ok())
            .collect();
        for (i, nic) in spec.nics.iter().enumerate() {
            let net = self.find_network(&nic.network)?;
            let bad = |why: String| TestCloudError::BadAddress {
                host: spec.name.clone(),
                network: net.name.clone(),
                cidr: net.cidr(),
                ip: nic.ip,
                why,
            };
            net.check_address(nic.ip).map_err(bad)?;
            let taken = others
                .iter()
                .find(|r| r.spec.nics.iter().any(|n| n.ip == nic.ip))
                .map(|r| r.spec.name.clone())
                .or_else(|| {
                    spec.nics[..i]
                        .iter()
                        .any(|n| n.ip == nic.ip)
                        .then(|| spec.name.clone())
                });
            if let Some(other) = taken {
                return Err(bad(format!("host `{other}` has it already")));
            }
            nets.push(net);
        }
        for (i, v) in spec.volumes.iter().enumerate() {
            let b = v.dev.as_bytes();
            let letter = match b {
                [b'v', b'd', x] | [b'x', b'v', b'd', x] => Some(*x),
                _ => None,
            };
            if !letter.is_some_and(|x| (b'b'..=b'z').contains(&x)) {
                return Err(invalid(
                    "volume device",
                    &v.dev,
                    "it is vdb to vdz (or xvdb to xvdz, as EC2's Xen instances name them)",
                ));
            }
            if spec.volumes[..i].iter().any(|o| o.dev == v.dev) {
                return Err(invalid("volume device", &v.dev, "the host has it twice"));
            }
            if !(1..=65536).contains(&v.size_mib) {
                return Err(invalid(
                    "volume size",
                    &v.size_mib.to_string(),
                    "it is 1 to 65536 MiB",
                ));
            }
        }
        Ok(nets)
    }

    /// Makes the host and boots it: returns once its sshd listens, after
    /// cloud-init ran. An error leaves nothing running but keeps its
    /// directory (console log) for diagnosis: [`remove`](Self::remove) it.
    pub fn boot(&self, spec: &HostSpec) -> Result<Boot, TestCloudError> {
        let called = SystemTime::now();
        self.check_spec(spec)?;
        let np = self.host_paths(&spec.name);
        let rec = {
            let _lock = crate::provider::local::bridge::HostLock::acquire()?;
            if np.dir.exists() {
                return Err(TestCloudError::HostExists {
                    cloud: self.name.clone(),
                    name: spec.name.clone(),
                });
            }
            let used: Vec<u32> = self
                .host_names()
                .iter()
                .filter_map(|n| self.read_record(n).ok())
                .map(|r| r.index)
                .collect();
            let index = (0..=MAX_HOST_INDEX)
                .find(|i| !used.contains(i))
                .ok_or_else(|| TestCloudError::NoFreeIndex {
                    cloud: self.name.clone(),
                    max: MAX_HOST_INDEX,
                })?;
            std::fs::create_dir_all(&np.dir)
                .map_err(|e| TestCloudError::io("cannot create directory", &np.dir, e))?;
            let rec = Record {
                index,
                spec: spec.clone(),
            };
            self.write_record(&rec)?;
            rec
        };
        self.bring_up(&rec, called)
    }

    /// Boots a stopped host again (its files, volumes, addresses kept).
    pub fn start(&self, name: &str) -> Result<Boot, TestCloudError> {
        let called = SystemTime::now();
        let rec = self.read_record(name)?;
        if self.is_running(name) {
            return Err(TestCloudError::HostRunning {
                cloud: self.name.clone(),
                name: name.to_string(),
            });
        }
        self.check_spec(&rec.spec)?;
        self.bring_up(&rec, called)
    }

    /// Kills the host's processes, removes its network and loop devices;
    /// keeps its files. A stopped host stays stopped.
    pub fn stop(&self, name: &str) -> Result<(), TestCloudError> {
        let rec = self.read_record(name)?;
        self.teardown(&rec)
    }

    /// Removes the host: processes, network, loop devices, files; then
    /// checks that none is left. A host that does not exist is removed.
    pub fn remove(&self, name: &str) -> Result<(), TestCloudError> {
        naming::check_node(name)?;
        let np = self.host_paths(name);
        if !np.dir.exists() {
            return Ok(());
        }
        let index = match self.read_record(name) {
            Ok(rec) => {
                self.teardown(&rec)?;
                Some(rec.index)
            }
            // Half-made: no network or process yet, maybe a loop device.
            Err(_) => {
                volume::detach_under(&np.dir)?;
                None
            }
        };
        cmd::remove_dir_all(&np.dir)?;
        let mut left = Vec::new();
        if let Some(i) = index {
            if cmd::netns_exists(&self.netns(i)) {
                left.push(format!("network namespace {}", self.netns(i)));
            }
            for nic in 0..NIC_LETTERS.len() {
                if cmd::link_exists(&self.veth(i, nic)) {
                    left.push(format!("interface {}", self.veth(i, nic)));
                }
            }
        }
        left.extend(
            volume::loops_under(&np.dir)
                .into_iter()
                .map(|l| format!("loop device /dev/{}", l.name)),
        );
        let dir_text = np.dir.display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        left.extend(
            mounts
                .lines()
                .filter(|l| l.contains(&dir_text))
                .map(|l| format!("mount {l}")),
        );
        if np.dir.exists() {
            left.push(format!("directory {dir_text}"));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(TestCloudError::Leftovers {
                what: format!("host `{name}` of test cloud `{}`", self.name),
                leftovers: left.join(", "),
            })
        }
    }

    /// Ends every process of the host and removes its network and loop
    /// devices, keeping its files. Tolerates any half-made state.
    fn teardown(&self, rec: &Record) -> Result<(), TestCloudError> {
        let np = self.host_paths(&rec.spec.name);
        node::teardown(&self.key, Some(rec.index), &np)?;
        for nic in 1..NIC_LETTERS.len() {
            cmd::delete_link(&self.veth(rec.index, nic))?;
        }
        volume::detach_under(&np.dir)
    }

    fn bring_up(&self, rec: &Record, called: SystemTime) -> Result<Boot, TestCloudError> {
        // Whatever a crash or a stop left.
        self.teardown(rec)?;
        let np = self.host_paths(&rec.spec.name);
        match self.up(rec, &np, called) {
            Ok(boot) => Ok(boot),
            Err(e) => {
                // Nothing half-made left running; files and log kept.
                let _ = self.teardown(rec);
                Err(e)
            }
        }
    }

    fn up(&self, rec: &Record, np: &NodePaths, called: SystemTime) -> Result<Boot, TestCloudError> {
        let spec = &rec.spec;
        for d in OVERLAID {
            cmd::create_dir_all(&np.upper(d))?;
            cmd::create_dir_all(&np.work(d))?;
        }
        node::seed_root_home(np)?;
        if !image::installed(np) {
            image::install(
                np,
                &naming::machine_id(&self.key, &spec.name),
                &spec.user_data,
                &image::meta_data(&spec.instance_id, spec.local_hostname.as_deref()),
            )?;
        }
        let mut devices = Vec::new();
        if !spec.volumes.is_empty() {
            cmd::create_dir_all(&np.dir.join("volumes"))?;
        }
        for v in &spec.volumes {
            let file = volume::file(&np.dir, &v.dev);
            volume::ensure_file(&file, v.size_mib)?;
            let l = volume::attach(&file)?;
            devices.push((v.dev.clone(), l.major, l.minor));
        }
        image::write_devices(np, &devices)?;
        let log_start =
            std::fs::metadata(np.upper("var").join(CLOUD_INIT_LOG)).map_or(0, |m| m.len());
        self.setup_network(rec)?;
        let netns = cmd::netns_path(&self.netns(rec.index));
        let prepared = init::prepare(
            &netns,
            np,
            "localhost",
            &format!("{}, host {}", self.name, spec.name),
            node::clocks(),
            Path::new("/bin/sh"),
            &[image::INIT_PATH],
        )
        .map_err(|e| TestCloudError::io("cannot prepare the init of", &np.dir, e))?;
        let pid = init::start(&prepared).map_err(|e| boot_error(spec, np, &e.to_string()))?;
        node::record_init(np, pid)?;
        let sshd_up = wait_for_sshd(spec, np, pid)?;
        let root = format!("/proc/{pid}/root");
        let timeline =
            std::fs::read_to_string(format!("{root}{}", image::TIMELINE)).unwrap_or_default();
        let result =
            std::fs::read_to_string(format!("{root}{}", image::RESULT_JSON)).unwrap_or_default();
        let cloud_init_errors = serde_json::from_str::<serde_json::Value>(&result)
            .ok()
            .and_then(|v| v["v1"]["errors"].as_array().cloned())
            .map(|errs| {
                errs.iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec![format!("no readable {} after the boot", image::RESULT_JSON)]);
        let log = std::fs::read(format!("{root}/var/{CLOUD_INIT_LOG}")).unwrap_or_default();
        let cloud_init_warnings =
            String::from_utf8_lossy(log.get(log_start as usize..).unwrap_or(&[]))
                .lines()
                .filter(|l| l.contains("[WARNING]"))
                .map(str::to_string)
                .collect();
        let boot = Boot {
            name: spec.name.clone(),
            init_pid: pid,
            called,
            events: parse_timeline(&timeline),
            sshd_up,
            cloud_init_errors,
            cloud_init_warnings,
        };
        tracing::info!(host = %spec.name, "test cloud host booted\n{}", boot.timeline());
        Ok(boot)
    }

    /// The network namespace and one veth per NIC (`ethN` inside).
    fn setup_network(&self, rec: &Record) -> Result<(), TestCloudError> {
        for i in 0..rec.spec.nics.len() {
            self.plug(rec, i)?;
        }
        Ok(())
    }

    /// NIC `i` of the host: its veth, `ethI` inside with its address. NIC
    /// 0 makes the network namespace.
    fn plug(&self, rec: &Record, i: usize) -> Result<(), TestCloudError> {
        let spec = &rec.spec;
        let nic = &spec.nics[i];
        let netns = self.netns(rec.index);
        let net = self.find_network(&nic.network)?;
        let host = self.veth(rec.index, i);
        let mac_text = naming::node_mac(&self.key, &format!("{}/{i}", spec.name));
        let mac = netlink::parse_mac(&mac_text).expect("node_mac makes a MAC");
        let made = if i == 0 {
            netlink::add_node_network(&netns, &host, &net.bridge, mac, nic.ip, net.prefix_len())
        } else {
            netlink::add_nic(
                &netns,
                &host,
                &net.bridge,
                &format!("eth{i}"),
                mac,
                nic.ip,
                net.prefix_len(),
            )
        };
        made.map_err(|(what, source)| {
            TestCloudError::Local(crate::provider::local::LocalError::System {
                what: format!("{what} for host {} on network {}", spec.name, net.name),
                source,
            })
        })?;
        if net.role == Role::Private {
            network::ipv6_off(&host)?;
        }
        Ok(())
    }

    fn write_record(&self, rec: &Record) -> Result<(), TestCloudError> {
        let path = self.record_file(&rec.spec.name);
        let text = serde_json::to_string_pretty(rec).expect("a record serializes");
        std::fs::write(&path, text).map_err(|e| TestCloudError::io("cannot write", &path, e))
    }

    /// Gives the host one more NIC, last (a floating IP associated with
    /// its port, an OpenNebula NIC attached): plugged now when the host
    /// runs, and at every later start.
    pub fn attach_nic(&self, name: &str, nic: Nic) -> Result<(), TestCloudError> {
        let mut rec = self.read_record(name)?;
        rec.spec.nics.push(nic);
        self.check_spec(&rec.spec)?;
        self.write_record(&rec)?;
        if self.is_running(name) {
            self.plug(&rec, rec.spec.nics.len() - 1)?;
        }
        Ok(())
    }

    /// Takes the NIC with address `ip` off the host (never its first):
    /// the NICs after it are plugged again, one place earlier.
    pub fn detach_nic(&self, name: &str, ip: Ipv4Addr) -> Result<(), TestCloudError> {
        let mut rec = self.read_record(name)?;
        let Some(at) = rec.spec.nics.iter().position(|n| n.ip == ip) else {
            return Ok(());
        };
        if at == 0 {
            return Err(invalid(
                "NIC",
                &ip.to_string(),
                format!("it is the first NIC of host `{name}`, which stays while the host lives"),
            ));
        }
        let running = self.is_running(name);
        if running {
            for i in at..rec.spec.nics.len() {
                cmd::delete_link(&self.veth(rec.index, i))?;
            }
        }
        rec.spec.nics.remove(at);
        self.write_record(&rec)?;
        if running {
            for i in at..rec.spec.nics.len() {
                self.plug(&rec, i)?;
            }
        }
        Ok(())
    }
}

/// Waits for sshd's pid file in the host, or fails when the init dies or
/// after [`BOOT_TIMEOUT`].
fn wait_for_sshd(spec: &HostSpec, np: &NodePaths, pid: u32) -> Result<SystemTime, TestCloudError> {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let pid_file = format!("/proc/{pid}/root{}", image::SSHD_PID);
    loop {
        if Path::new(&pid_file).exists() {
            return Ok(SystemTime::now());
        }
        if node::running_init(np) != Some(pid) {
            return Err(boot_error(spec, np, "its init exited"));
        }
        if Instant::now() >= deadline {
            return Err(boot_error(
                spec,
                np,
                &format!("sshd did not listen within {} s", BOOT_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn boot_error(spec: &HostSpec, np: &NodePaths, why: &str) -> TestCloudError {
    let log = np.console_log();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail: String = lines[lines.len().saturating_sub(20)..]
        .iter()
        .map(|l| format!("\n  {l}"))
        .collect();
    TestCloudError::Boot {
        name: spec.name.clone(),
        why: why.to_string(),
        log,
        tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_lines_parse() {
        let events = parse_timeline(
            "1700000000.250000000 init\n1700000003.5 cloud-init-local 0\nbad line\n1700000009 cloud-init-final 1\n",
        );
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].what, "cloud-init-local");
        assert_eq!(events[1].status, Some(0));
        assert_eq!(events[0].status, None);
        let boot = Boot {
            name: "h".into(),
            init_pid: 1,
            called: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            events,
            sshd_up: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_010),
            cloud_init_errors: vec![],
            cloud_init_warnings: vec![],
        };
        assert_eq!(boot.failed_stages().len(), 1);
        assert!(!boot.cloud_init_ok());
        let t = boot.timeline();
        assert!(t.contains("+3.50 s  cloud-init-local (exit 0)"), "{t}");
        assert!(t.contains("+10.00 s  sshd listening"), "{t}");
    }
}
