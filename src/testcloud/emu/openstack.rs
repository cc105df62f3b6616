//! An OpenStack cloud in the test process: Keystone, Nova, Neutron and
//! Glance over HTTP (hyper) on `127.0.0.1:0`, keeping tokens, servers,
//! ports, floating IPs and security groups in memory.
//!
//! Written from the published OpenStack API references: Identity API v3,
//! Compute API v2.1 (no microversion), Networking API v2.0 and Image API
//! v2. Implemented:
//!
//! - Keystone: `POST /identity/v3/auth/tokens` with the `password` method
//!   (user by name and domain, project scope by name and domain or by id)
//!   or the `application_credential` method (by id); `201 Created`, the
//!   token in `X-Subject-Token`, `expires_at` and the service catalog in
//!   the body; refused credentials are `401` with Keystone's error body.
//!   The catalog has, per configured region, public endpoints pointing at
//!   this server (`/REGION/compute/v2.1`, `/REGION/network`,
//!   `/REGION/image`) and `internal`/`admin` ones at a port where nothing
//!   listens, so picking the wrong interface fails.
//! - Every other call needs a live token in `X-Auth-Token` (else `401`).
//! - Nova: `GET /servers` and `/servers/detail` (`limit`, `marker`,
//!   `servers_links`), `POST /servers` (`name`, `imageRef`, `flavorRef`,
//!   `networks` by `uuid`, `security_groups` by name or id, base64
//!   `user_data`, `metadata`; `202`), `GET`/`DELETE /servers/{id}`,
//!   `POST /servers/{id}/action` with `os-stop`/`os-start` (`409` in the
//!   wrong state), `GET /flavors/detail`, `GET
//!   /flavors/{id}/os-extra_specs`. A server is `BUILD` until
//!   [`EmuConfig::boot_delay`] has passed, then `ACTIVE`; `os-stop` and
//!   `os-start` pass through the `powering-off`/`powering-on` task states;
//!   a deleted server keeps task state `deleting` for
//!   [`EmuConfig::delete_delay`], then is gone (`404`).
//! - Neutron: `GET /v2.0/networks`, `GET /v2.0/ports` (`device_id`),
//!   `GET`/`POST /v2.0/floatingips`, `PUT`/`DELETE
//!   /v2.0/floatingips/{id}`, `GET`/`POST /v2.0/security-groups` (`name`
//!   filter; new groups get the two default egress rules), `DELETE
//!   /v2.0/security-groups/{id}` (`409 SecurityGroupInUse` while a server
//!   uses it), `POST /v2.0/security-group-rules` (`409` for a duplicate).
//!   Each server gets a port per network with a fixed IP from the
//!   network's documentation range (192.0.2.0/24, 198.51.100.0/24);
//!   floating IPs come from 203.0.113.0/24. Nobody connects to them.
//! - Glance: `GET /v2/images/{id}`.
//!
//! Quotas ([`EmuConfig::instance_quota`], [`EmuConfig::floating_ip_quota`])
//! answer as Nova (`403`, "Quota exceeded for instances") and Neutron
//! (`409 OverQuota`) do; with [`EmuConfig::quota_recheck`], as Nova's
//! conductor does for creates that passed the API together (`ERROR`). Tests make the next calls of an operation fail
//! ([`Fault`]): any status with the service's error body, a quota answer,
//! a slow answer.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::EmuError;
use super::backing::{Backing, HostOp, Outcome};
use crate::provider::openstack::keystone::format_timestamp;
use crate::testcloud::{
    Boot, HostSpec, Network, Nic, Role, TestCloud, TestCloudError, VolumeSpec as HostVolume,
};

/// A flavor as seeded.
#[derive(Clone, Debug)]
pub struct EmuFlavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    /// MiB.
    pub ram: u64,
    /// GiB.
    pub disk: u64,
    pub extra_specs: BTreeMap<String, String>,
}

pub fn flavor(id: &str, name: &str, vcpus: u64, ram: u64, disk: u64) -> EmuFlavor {
    EmuFlavor {
        id: id.into(),
        name: name.into(),
        vcpus,
        ram,
        disk,
        extra_specs: BTreeMap::new(),
    }
}

/// A Neutron network as seeded.
#[derive(Clone, Debug)]
pub struct EmuNetwork {
    pub id: String,
    pub name: String,
    /// `router:external`: a floating IP pool.
    pub external: bool,
    /// The first three octets of its /24.
    pub prefix: String,
}

pub fn network(id: &str, name: &str, external: bool, prefix: &str) -> EmuNetwork {
    EmuNetwork {
        id: id.into(),
        name: name.into(),
        external,
        prefix: prefix.into(),
    }
}

/// The emulated cloud.
#[derive(Clone, Debug)]
pub struct EmuConfig {
    pub username: String,
    pub password: String,
    pub user_domain: String,
    pub project: String,
    pub project_id: String,
    pub project_domain: String,
    /// Application credentials: (id, secret).
    pub app_creds: Vec<(String, String)>,
    /// Regions with endpoints, in catalog order.
    pub regions: Vec<String>,
    /// Whether the catalog lists Neutron and Glance.
    pub with_network: bool,
    pub with_image: bool,
    pub token_ttl: Duration,
    pub boot_delay: Duration,
    /// From `os-stop`/`os-start` to SHUTOFF/ACTIVE.
    pub action_delay: Duration,
    pub delete_delay: Duration,
    pub flavors: Vec<EmuFlavor>,
    /// Images by id: (name, status).
    pub images: BTreeMap<String, (String, String)>,
    /// Images whose cloud-init grants no sudo: with hosts behind the
    /// servers, the user data's `sudo:` entries are dropped before such a
    /// host boots, so its login user is made without sudo rights.
    pub no_sudo_images: Vec<String>,
    pub networks: Vec<EmuNetwork>,
    /// At most this many servers.
    pub instance_quota: Option<usize>,
    /// Nova's quota recheck: creates that arrive together all pass the
    /// API's quota check (`202`), and the conductor's recheck puts those
    /// past [`EmuConfig::instance_quota`] in `ERROR`, fault "Quota exceeded
    /// for instances: ...", when their boot would end (as Debian 12's Nova
    /// 26 does; without hosts behind the servers).
    pub quota_recheck: bool,
    /// Ids of networks no router joins to an external network: a floating
    /// IP for a port on one is refused as Neutron refuses it (`404
    /// ExternalGatewayForFloatingIPNotFound`, nothing made).
    pub unrouted: Vec<String>,
    /// At most this many floating IPs.
    pub floating_ip_quota: Option<usize>,
    /// Nova's `max_limit`: the most servers one page holds.
    pub page_limit: usize,
    /// Real hosts behind the servers: each network becomes a network of
    /// this test cloud (external ones public, the others private) and
    /// takes its addresses from it; each server a host booted by
    /// cloud-init with its user data, `ACTIVE` once its sshd listens; a
    /// floating IP a NIC on the public network. Without it servers are
    /// records only and addresses are in documentation ranges.
    pub hosts: Option<TestCloud>,
}

/// The fault of a server Nova's scheduler found no host for.
pub const NO_VALID_HOST: &str = "No valid host was found. There are not enough hosts available.";

pub const IMAGE_ID: &str = "6f8a3c52-1b8e-4f31-9c55-0d2b7e1a9f10";

impl Default for EmuConfig {
    fn default() -> Self {
        EmuConfig {
            username: "alice".into(),
            password: "ostpass".into(),
            user_domain: "Default".into(),
            project: "demo".into(),
            project_id: "8d1f6c2b7e3a4c1d9b5e0a2f4c6d8e10".into(),
            project_domain: "Default".into(),
            app_creds: vec![("ac-5b2e".into(), "ac-secret".into())],
            regions: vec!["RegionOne".into()],
            with_network: true,
            with_image: true,
            token_ttl: Duration::from_secs(3600),
            boot_delay: Duration::from_millis(100),
            action_delay: Duration::from_millis(40),
            delete_delay: Duration::from_millis(60),
            flavors: vec![
                flavor("1", "m1.tiny", 1, 512, 1),
                flavor("2", "m1.small", 1, 2048, 20),
                flavor("3", "m1.medium", 2, 4096, 40),
                flavor("4", "m1.large", 4, 8192, 80),
                flavor("5", "m1.xlarge", 8, 16384, 160),
                flavor("6", "c1.medium", 2, 2048, 20),
            ],
            images: [(
                IMAGE_ID.to_string(),
                ("ubuntu-22.04".to_string(), "active".to_string()),
            )]
            .into_iter()
            .collect(),
            networks: vec![
                network(
                    "a1e3b0c4-0000-4000-8000-000000000001",
                    "public",
                    true,
                    "203.0.113",
                ),
                network(
                    "a1e3b0c4-0000-4000-8000-000000000002",
                    "private",
                    false,
                    "192.0.2",
                ),
                network(
                    "a1e3b0c4-0000-4000-8000-000000000003",
                    "storage",
                    false,
                    "198.51.100",
                ),
            ],
            instance_quota: None,
            quota_recheck: false,
            unrouted: Vec::new(),
            floating_ip_quota: None,
            page_limit: 1000,
            hosts: None,
            no_sudo_images: Vec::new(),
        }
    }
}

/// A failure to answer with instead of the operation's result.
#[derive(Clone, Debug)]
pub enum Fault {
    /// This status, with the service's error body.
    Status(u16),
    /// A quota answer: 403 or 413 (Nova), 409 (Neutron `OverQuota`).
    Quota(u16),
    /// Answer normally, after this long.
    Slow(Duration),
}

struct Injected {
    op: Option<String>,
    fault: Fault,
    times: usize,
    /// Answer only every `every`-th matching call (1: each one).
    every: usize,
    seen: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Transition {
    None,
    Booting(Instant),
    Stopping(Instant),
    Starting(Instant),
    Deleting(Instant),
    /// Waiting for its host (boot, stop, start, removal).
    Host,
}

/// A server as the emulator keeps it.
#[derive(Clone, Debug)]
pub struct EmuServer {
    pub id: String,
    pub name: String,
    pub status: String,
    pub task_state: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub flavor_id: String,
    pub image_id: String,
    /// Network ids, in port order.
    pub networks: Vec<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// `user_data`, decoded.
    pub user_data: Option<String>,
    pub fault: Option<String>,
    /// The last boot of its host, when hosts back the servers.
    pub boot: Option<Boot>,
    transition: Transition,
}

/// A volume made from a server's `block_device_mapping_v2` (`source_type
/// blank`, `destination_type volume`), attached to it.
#[derive(Clone, Debug)]
pub struct EmuVolume {
    pub id: String,
    pub size_gib: u32,
    pub volume_type: Option<String>,
    pub server_id: String,
    /// `vdb`, ...
    pub device: String,
    pub delete_on_termination: bool,
}

#[derive(Clone, Debug)]
pub struct EmuPort {
    pub id: String,
    pub network_id: String,
    pub device_id: String,
    pub ip: String,
}

#[derive(Clone, Debug)]
pub struct EmuFloatingIp {
    pub id: String,
    pub address: String,
    pub network_id: String,
    pub port_id: Option<String>,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmuRule {
    pub id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct EmuGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: Vec<EmuRule>,
}

/// One call as it arrived.
#[derive(Clone, Debug)]
pub struct Call {
    pub op: String,
    pub region: Option<String>,
    pub method: String,
    pub path: String,
}

struct State {
    config: EmuConfig,
    /// Flavors no host has room for ([`OstEmu::set_no_room`]).
    no_room: std::collections::BTreeSet<String>,
    tokens: HashMap<String, Instant>,
    next_id: u64,
    servers: BTreeMap<String, EmuServer>,
    ports: BTreeMap<String, EmuPort>,
    floating_ips: BTreeMap<String, EmuFloatingIp>,
    groups: BTreeMap<String, EmuGroup>,
    volumes: BTreeMap<String, EmuVolume>,
    next_ip: HashMap<String, u32>,
    faults: Vec<Injected>,
    calls: Vec<Call>,
    unauthorized: usize,
    backing: Option<Arc<Backing>>,
    /// Every boot of a host, in the order they ended: (server name, boot).
    boots: Vec<(String, Boot)>,
    /// This state, for the callbacks of host operations.
    me: Weak<Mutex<State>>,
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }

    /// The next address of the network with `prefix`: counting up from
    /// `.10`; with hosts behind the servers, the lowest one no port or
    /// floating IP holds (a freed address comes back, as from a real
    /// pool: a new VM may get a removed one's address and host keys differ).
    fn ip(&mut self, prefix: &str) -> String {
        if self.backing.is_some() {
            let used: Vec<&str> = self
                .ports
                .values()
                .map(|p| p.ip.as_str())
                .chain(self.floating_ips.values().map(|f| f.address.as_str()))
                .collect();
            if let Some(ip) = (10..255)
                .map(|n| format!("{prefix}.{n}"))
                .find(|ip| !used.contains(&ip.as_str()))
            {
                return ip;
            }
        }
        let n = self.next_ip.entry(prefix.to_string()).or_insert(10);
        let ip = format!("{prefix}.{n}");
        *n += 1;
        ip
    }

    /// Moves servers along their transitions.
    fn advance(&mut self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        let recheck = self
            .config
            .instance_quota
            .filter(|_| self.config.quota_recheck);
        let mut booted = self
            .servers
            .values()
            .filter(|s| s.status == "ACTIVE" || s.status == "SHUTOFF")
            .count();
        for s in self.servers.values_mut() {
            match s.transition {
                Transition::Booting(t) if now >= t && recheck.is_some_and(|q| booted >= q) => {
                    let q = recheck.unwrap_or_default();
                    s.status = "ERROR".into();
                    s.task_state = None;
                    s.transition = Transition::None;
                    s.fault = Some(format!(
                        "Quota exceeded for instances: Requested 1, but already used {booted} of {q} instances"
                    ));
                }
                Transition::Booting(t) | Transition::Starting(t) if now >= t => {
                    if matches!(s.transition, Transition::Booting(_)) {
                        booted += 1;
                    }
                    s.status = "ACTIVE".into();
                    s.task_state = None;
                    s.transition = Transition::None;
                }
                Transition::Stopping(t) if now >= t => {
                    s.status = "SHUTOFF".into();
                    s.task_state = None;
                    s.transition = Transition::None;
                }
                Transition::Deleting(t) if now >= t => gone.push(s.id.clone()),
                _ => {}
            }
        }
        for id in gone {
            self.forget_server(&id);
        }
    }

    /// A deleted server goes, with its ports; its floating IPs stay,
    /// unattached.
    fn forget_server(&mut self, id: &str) {
        self.servers.remove(id);
        self.volumes
            .retain(|_, v| v.server_id != id || !v.delete_on_termination);
        let ports: Vec<String> = self
            .ports
            .values()
            .filter(|p| p.device_id == id)
            .map(|p| p.id.clone())
            .collect();
        for p in ports {
            self.ports.remove(&p);
            for f in self.floating_ips.values_mut() {
                if f.port_id.as_deref() == Some(p.as_str()) {
                    f.port_id = None;
                }
            }
        }
    }

    /// Queues `op` for server `id`'s host; `then` records its outcome in
    /// this state (if the server is still there).
    fn host_op(
        &self,
        id: &str,
        op: HostOp,
        then: impl FnOnce(&mut State, &str, Outcome) + Send + 'static,
    ) {
        let Some(backing) = &self.backing else {
            return;
        };
        let me = self.me.clone();
        let server = id.to_string();
        backing.submit(
            id,
            op,
            Box::new(move |outcome| {
                if let Some(state) = me.upgrade() {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    then(&mut st, &server, outcome);
                }
            }),
        );
    }

    /// The server's state after its host booted (or failed to).
    fn booted(&mut self, id: &str, outcome: Outcome) {
        let Some(s) = self.servers.get_mut(id) else {
            return;
        };
        if s.transition != Transition::Host {
            return;
        }
        s.transition = Transition::None;
        s.task_state = None;
        match outcome {
            Ok(boot) => {
                s.status = "ACTIVE".into();
                if let Some(b) = &boot {
                    self.boots.push((s.name.clone(), b.clone()));
                }
                s.boot = boot;
            }
            Err(e) => {
                s.status = "ERROR".into();
                s.fault = Some(e.to_string());
            }
        }
    }

    /// Starts deleting server `id` (its host removed first, if any);
    /// false if there is no such server.
    fn delete_server(&mut self, id: &str) -> bool {
        let delay = self.config.delete_delay;
        let hosted = self.backing.is_some();
        let Some(s) = self.servers.get_mut(id) else {
            return false;
        };
        s.task_state = Some("deleting".into());
        if !hosted {
            s.transition = Transition::Deleting(Instant::now() + delay);
            return true;
        }
        s.transition = Transition::Host;
        self.host_op(id, HostOp::Remove, |st, id, outcome| match outcome {
            Ok(_) => st.forget_server(id),
            Err(e) => {
                if let Some(s) = st.servers.get_mut(id) {
                    s.status = "ERROR".into();
                    s.task_state = None;
                    s.transition = Transition::None;
                    s.fault = Some(format!("its host was not removed: {e}"));
                }
            }
        });
        true
    }

    /// A floating IP's NIC on the host of the server behind `port`.
    fn float(&self, fip: &EmuFloatingIp, port: &str, attach: bool) {
        let (Some(p), Some(net)) = (self.ports.get(port), self.network(&fip.network_id)) else {
            return;
        };
        let Ok(ip) = fip.address.parse::<Ipv4Addr>() else {
            return;
        };
        let op = if attach {
            HostOp::AttachNic(Nic {
                network: net.name.clone(),
                ip,
            })
        } else {
            HostOp::DetachNic(ip)
        };
        let address = fip.address.clone();
        self.host_op(&p.device_id, op, move |st, id, outcome| {
            if let Err(e) = outcome
                && let Some(s) = st.servers.get_mut(id)
            {
                s.fault = Some(format!("floating IP {address}: {e}"));
            }
        });
    }

    fn take_fault(&mut self, op: &str) -> Option<Fault> {
        // Every matching injection counts the call; the first due answers.
        let mut due = None;
        for (i, f) in self.faults.iter_mut().enumerate() {
            if f.op.as_deref().is_some_and(|o| o != op) {
                continue;
            }
            f.seen += 1;
            if due.is_none() && f.seen % f.every == 0 {
                due = Some(i);
            }
        }
        let i = due?;
        let fault = self.faults[i].fault.clone();
        self.faults[i].times -= 1;
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    fn network(&self, id: &str) -> Option<&EmuNetwork> {
        self.config.networks.iter().find(|n| n.id == id)
    }
}

/// A running emulator; stops when dropped.
pub struct OstEmu {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OstEmu {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OstEmu {
    /// Starts the emulator on 127.0.0.1 (a free port).
    pub async fn start(config: EmuConfig) -> OstEmu {
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        OstEmu::start_on(config, bind)
            .await
            .unwrap_or_else(|e| panic!("the OpenStack emulator cannot start: {e}"))
    }

    /// Starts the emulator on `bind`; with [`EmuConfig::hosts`], first
    /// makes the test cloud's networks.
    pub async fn start_on(mut config: EmuConfig, bind: SocketAddr) -> Result<OstEmu, EmuError> {
        let backing = match config.hosts.clone() {
            Some(cloud) => {
                let nets: Vec<(String, bool)> = config
                    .networks
                    .iter()
                    .map(|n| (n.name.clone(), n.external))
                    .collect();
                let made = {
                    let cloud = cloud.clone();
                    tokio::task::spawn_blocking(move || {
                        nets.iter()
                            .map(|(name, external)| {
                                let role = if *external {
                                    Role::Public
                                } else {
                                    Role::Private
                                };
                                cloud.network(name, role)
                            })
                            .collect::<Result<Vec<Network>, TestCloudError>>()
                    })
                    .await
                    .map_err(|e| EmuError::Io(std::io::Error::other(e)))??
                };
                for (n, net) in config.networks.iter_mut().zip(made) {
                    let [a, b, c, _] = net.address(0).octets();
                    n.prefix = format!("{a}.{b}.{c}");
                }
                Some(Arc::new(Backing::new(cloud)))
            }
            None => None,
        };
        let state = Arc::new_cyclic(|me| {
            Mutex::new(State {
                backing,
                boots: Vec::new(),
                me: me.clone(),
                config,
                tokens: HashMap::new(),
                next_id: 0,
                servers: BTreeMap::new(),
                ports: BTreeMap::new(),
                floating_ips: BTreeMap::new(),
                groups: BTreeMap::new(),
                volumes: BTreeMap::new(),
                next_ip: HashMap::new(),
                faults: Vec::new(),
                no_room: Default::default(),
                calls: Vec::new(),
                unauthorized: 0,
            })
        });
        let shared = state.clone();
        let (addr, task) =
            super::serve_on(bind, move |addr, req| serve(shared.clone(), addr, req)).await?;
        Ok(OstEmu { addr, state, task })
    }

    /// Keystone's URL, as an auth file's `host`.
    pub fn keystone(&self) -> String {
        format!("http://{}/identity", self.addr)
    }

    /// Answers the next `times` calls of `op` (any if `None`) with `fault`.
    pub fn inject(&self, op: Option<&str>, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.push(Injected {
            op: op.map(str::to_string),
            fault,
            times,
            every: 1,
            seen: 0,
        });
    }

    /// Forgets every injected fault: the cloud answers normally again.
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Answers every `every`-th call of `op` with `fault`, for good (a
    /// steady failure rate: `every = 5` fails 20% of the calls).
    pub fn inject_every(&self, op: &str, fault: Fault, every: usize) {
        self.state.lock().unwrap().faults.push(Injected {
            op: Some(op.to_string()),
            fault,
            times: usize::MAX,
            every: every.max(1),
            seen: 0,
        });
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn ops(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.op).collect()
    }

    pub fn count(&self, op: &str) -> usize {
        self.calls().iter().filter(|c| c.op == op).count()
    }

    /// How many calls were answered 401 for want of a live token.
    pub fn unauthorized(&self) -> usize {
        self.state.lock().unwrap().unauthorized
    }

    /// Revokes every token issued so far.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    pub fn servers(&self) -> Vec<EmuServer> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.servers.values().cloned().collect()
    }

    pub fn server(&self, id: &str) -> Option<EmuServer> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.servers.get(id).cloned()
    }

    /// Every boot of a host behind a server so far, in the order they
    /// ended: (server name, boot), deleted servers' among them.
    pub fn boots(&self) -> Vec<(String, Boot)> {
        self.state.lock().unwrap().boots.clone()
    }

    pub fn ports(&self) -> Vec<EmuPort> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.ports.values().cloned().collect()
    }

    /// The volumes made with servers (and not deleted with them).
    pub fn volumes(&self) -> Vec<EmuVolume> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.volumes.values().cloned().collect()
    }

    pub fn floating_ips(&self) -> Vec<EmuFloatingIp> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.floating_ips.values().cloned().collect()
    }

    pub fn groups(&self) -> Vec<EmuGroup> {
        self.state
            .lock()
            .unwrap()
            .groups
            .values()
            .cloned()
            .collect()
    }

    /// Deletes a server behind its user's back (as an operator would);
    /// true once it is gone, false if it is still there after `within`.
    pub async fn delete_server(&self, id: &str, within: Duration) -> bool {
        self.state.lock().unwrap().delete_server(id);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.server(id).is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Forces a server into `ERROR` with a fault message.
    /// Whether servers of flavor `flavor_id` find a host: without room,
    /// a new one goes to `ERROR` at once with the fault Nova's scheduler
    /// gives when no compute host fits ([`NO_VALID_HOST`]), as a cloud out
    /// of capacity for that size answers.
    pub fn set_no_room(&self, flavor_id: &str, no_room: bool) {
        let mut st = self.state.lock().unwrap();
        if no_room {
            st.no_room.insert(flavor_id.to_string());
        } else {
            st.no_room.remove(flavor_id);
        }
    }

    pub fn fail_server(&self, id: &str, message: &str) {
        let mut st = self.state.lock().unwrap();
        let s = st.servers.get_mut(id).unwrap();
        s.status = "ERROR".into();
        s.task_state = None;
        s.fault = Some(message.into());
        s.transition = Transition::None;
    }

    /// A running server made outside nubo (with whatever metadata), on
    /// the first non-external network.
    pub fn add_server(&self, name: &str, metadata: &[(&str, &str)]) -> String {
        let mut st = self.state.lock().unwrap();
        let net = st
            .config
            .networks
            .iter()
            .find(|n| !n.external)
            .unwrap()
            .clone();
        let id = st.id();
        let port = st.id();
        let ip = st.ip(&net.prefix);
        st.ports.insert(
            port.clone(),
            EmuPort {
                id: port,
                network_id: net.id.clone(),
                device_id: id.clone(),
                ip,
            },
        );
        st.servers.insert(
            id.clone(),
            EmuServer {
                id: id.clone(),
                name: name.into(),
                status: "ACTIVE".into(),
                task_state: None,
                metadata: metadata
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                flavor_id: "1".into(),
                image_id: IMAGE_ID.into(),
                networks: vec![net.id],
                security_groups: Vec::new(),
                user_data: None,
                fault: None,
                boot: None,
                transition: Transition::None,
            },
        );
        id
    }

    /// A floating IP (unattached) with this description.
    pub fn add_floating_ip(&self, description: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let net = st
            .config
            .networks
            .iter()
            .find(|n| n.external)
            .unwrap()
            .clone();
        let id = st.id();
        let address = st.ip(&net.prefix);
        st.floating_ips.insert(
            id.clone(),
            EmuFloatingIp {
                id: id.clone(),
                address,
                network_id: net.id,
                port_id: None,
                description: description.into(),
            },
        );
        id
    }

    /// A security group with this name and description.
    pub fn add_group(&self, name: &str, description: &str) -> String {
        let mut st = self.state.lock().unwrap();
        make_group(&mut st, name, description)
    }
}

use super::Answer;

fn answer(status: u16, content_type: &str, body: String) -> Answer {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_answer(status: u16, body: Value) -> Answer {
    answer(status, "application/json", body.to_string())
}

fn no_content() -> Answer {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Svc {
    Identity,
    Compute,
    Network,
    Image,
}

/// The error body each service writes for a status.
fn error(svc: Svc, status: u16, message: &str) -> Answer {
    match svc {
        Svc::Identity => {
            let title = match status {
                400 => "Bad Request",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "Not Found",
                _ => "Error",
            };
            json_answer(
                status,
                json!({"error": {"code": status, "title": title, "message": message}}),
            )
        }
        Svc::Compute => {
            let key = match status {
                400 => "badRequest",
                401 => {
                    return json_answer(
                        401,
                        json!({"error": {"code": 401, "title": "Unauthorized", "message": message}}),
                    );
                }
                403 => "forbidden",
                404 => "itemNotFound",
                409 => "conflictingRequest",
                413 | 429 => "overLimit",
                503 => {
                    return answer(
                        503,
                        "text/html",
                        format!(
                            "<html><body><h1>503 Service Unavailable</h1>{message}</body></html>\n"
                        ),
                    );
                }
                _ => "computeFault",
            };
            let mut inner = json!({"code": status, "message": message});
            if key == "overLimit" {
                inner["retryAfter"] = json!("0");
            }
            json_answer(status, json!({ key: inner }))
        }
        Svc::Network => {
            if status == 401 {
                return json_answer(
                    401,
                    json!({"error": {"code": 401, "title": "Unauthorized", "message": message}}),
                );
            }
            let kind = match status {
                400 => "BadRequest",
                403 => "PolicyNotAuthorized",
                404 => "NotFound",
                409 => "Conflict",
                _ => "HTTPInternalServerError",
            };
            json_answer(
                status,
                json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}),
            )
        }
        // Glance (webob) answers in the type the request accepts: nubo
        // asks for JSON, and gets the HTML page's text as `message`, its
        // `<br />`s and blank lines included (as Debian 12's Glance 25 does).
        Svc::Image => {
            let title = match status {
                400 => "Bad Request",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "Not Found",
                409 => "Conflict",
                503 => "Service Unavailable",
                _ => "Internal Server Error",
            };
            json_answer(
                status,
                json!({"message": format!("{message}<br /><br />\n\n\n"),
                    "code": format!("{status} {title}"), "title": title}),
            )
        }
    }
}

fn fault_answer(svc: Svc, fault: &Fault) -> Option<Answer> {
    match fault {
        Fault::Slow(_) => None,
        Fault::Status(s) => Some(error(
            svc,
            *s,
            match s {
                401 => "The request you have made requires authentication.",
                403 => "Policy doesn't allow this operation to be performed.",
                404 => "The resource could not be found.",
                409 => {
                    "Cannot perform this action while the instance is in task_state powering-off"
                }
                429 | 413 => "This request was rate-limited.",
                503 => "No server is available to handle this request.",
                _ => "Unexpected API Error. Please report this.",
            },
        )),
        Fault::Quota(s) => Some(match (svc, s) {
            (Svc::Network, _) => json_answer(
                409,
                json!({"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['floatingip'].", "detail": ""}}),
            ),
            (_, 413) => error(
                Svc::Compute,
                413,
                "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores",
            ),
            _ => error(
                Svc::Compute,
                403,
                "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances",
            ),
        }),
    }
}

/// The operation a request names, its service and region.
fn route(method: &Method, segs: &[&str]) -> (String, Svc, Option<String>) {
    let op = |s: &str| s.to_string();
    if segs == ["identity", "v3", "auth", "tokens"] && method == Method::POST {
        return (op("keystone.auth"), Svc::Identity, None);
    }
    let (region, svc, rest) = match segs {
        [r, "compute", "v2.1", rest @ ..] => (r, Svc::Compute, rest),
        [r, "network", "v2.0", rest @ ..] => (r, Svc::Network, rest),
        [r, "image", "v2", rest @ ..] => (r, Svc::Image, rest),
        _ => return (op("unknown"), Svc::Compute, None),
    };
    let name = match (svc, method.as_str(), rest) {
        (Svc::Compute, "GET", ["servers"] | ["servers", "detail"]) => "nova.list_servers",
        (Svc::Compute, "POST", ["servers"]) => "nova.create_server",
        (Svc::Compute, "GET", ["servers", _]) => "nova.show_server",
        (Svc::Compute, "DELETE", ["servers", _]) => "nova.delete_server",
        (Svc::Compute, "POST", ["servers", _, "action"]) => "nova.server_action",
        (Svc::Compute, "GET", ["flavors", "detail"]) => "nova.list_flavors",
        (Svc::Compute, "GET", ["flavors", _, "os-extra_specs"]) => "nova.flavor_extra_specs",
        (Svc::Network, "GET", ["networks"]) => "neutron.list_networks",
        (Svc::Network, "GET", ["ports"]) => "neutron.list_ports",
        (Svc::Network, "GET", ["floatingips"]) => "neutron.list_floatingips",
        (Svc::Network, "POST", ["floatingips"]) => "neutron.create_floatingip",
        (Svc::Network, "PUT", ["floatingips", _]) => "neutron.update_floatingip",
        (Svc::Network, "DELETE", ["floatingips", _]) => "neutron.delete_floatingip",
        (Svc::Network, "GET", ["security-groups"]) => "neutron.list_security_groups",
        (Svc::Network, "POST", ["security-groups"]) => "neutron.create_security_group",
        (Svc::Network, "DELETE", ["security-groups", _]) => "neutron.delete_security_group",
        (Svc::Network, "POST", ["security-group-rules"]) => "neutron.create_security_group_rule",
        (Svc::Image, "GET", ["images", _]) => "glance.show_image",
        _ => "unknown",
    };
    (op(name), svc, Some(region.to_string()))
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

async fn serve(
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = query(req.uri().query());
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(answer(400, "text/plain", "bad body\n".into())),
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_component)
        .collect();
    let seg_refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (op, svc, region) = route(&method, &seg_refs);
    let fault = {
        let mut st = state.lock().unwrap();
        st.calls.push(Call {
            op: op.clone(),
            region: region.clone(),
            method: method.to_string(),
            path: path.clone(),
        });
        st.take_fault(&op)
    };
    if let Some(f) = &fault {
        if let Fault::Slow(d) = f {
            tokio::time::sleep(*d).await;
        } else if let Some(a) = fault_answer(svc, f) {
            return Ok(a);
        }
    }
    let mut st = state.lock().unwrap();
    st.advance();
    if op == "unknown" {
        return Ok(error(svc, 404, "The resource could not be found."));
    }
    if let Some(r) = &region
        && !st.config.regions.contains(r)
    {
        return Ok(error(svc, 404, "The resource could not be found."));
    }
    let json_body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(_) => return Ok(error(svc, 400, "Malformed request body")),
        }
    };
    if svc == Svc::Identity {
        return Ok(keystone(&mut st, addr, &json_body));
    }
    let live = token
        .as_ref()
        .and_then(|t| st.tokens.get(t))
        .is_some_and(|exp| Instant::now() < *exp);
    if !live {
        st.unauthorized += 1;
        return Ok(error(
            svc,
            401,
            "The request you have made requires authentication.",
        ));
    }
    let rest: Vec<&str> = seg_refs.iter().skip(3).copied().collect();
    Ok(match svc {
        Svc::Compute => nova(&mut st, &op, &rest, &q, &json_body, addr, region.as_deref()),
        Svc::Network => neutron(&mut st, &op, &rest, &q, &json_body),
        Svc::Image => glance(&st, &rest),
        Svc::Identity => unreachable!(),
    })
}

// ---- Keystone ----

fn keystone(st: &mut State, addr: SocketAddr, body: &Value) -> Answer {
    let refused = || {
        error(
            Svc::Identity,
            401,
            "The request you have made requires authentication.",
        )
    };
    let identity = &body["auth"]["identity"];
    let Some(methods) = identity["methods"].as_array() else {
        return error(
            Svc::Identity,
            400,
            "Invalid input for field 'identity': 'methods' is a required property",
        );
    };
    let c = st.config.clone();
    let (user_name, project_ok) = match methods.first().and_then(Value::as_str) {
        Some("password") => {
            let user = &identity["password"]["user"];
            let ok = user["name"] == json!(c.username)
                && user["domain"]["name"] == json!(c.user_domain)
                && user["password"] == json!(c.password);
            if !ok {
                return refused();
            }
            let project = &body["auth"]["scope"]["project"];
            let by_id = project["id"] == json!(c.project_id);
            let by_name = project["name"] == json!(c.project)
                && project["domain"]["name"] == json!(c.project_domain);
            (c.username.clone(), by_id || by_name)
        }
        Some("application_credential") => {
            let ac = &identity["application_credential"];
            let ok = c
                .app_creds
                .iter()
                .any(|(id, secret)| ac["id"] == json!(id) && ac["secret"] == json!(secret));
            if !ok {
                return refused();
            }
            (c.username.clone(), true)
        }
        _ => {
            return error(
                Svc::Identity,
                400,
                "Attempted to authenticate with an unsupported method.",
            );
        }
    };
    if !project_ok {
        return refused();
    }
    let n = st.tokens.len() as u64 + st.next_id;
    st.next_id += 1;
    let token = format!("gAAAAAB-emu-token-{n:08}");
    st.tokens
        .insert(token.clone(), Instant::now() + c.token_ttl);
    let base = format!("http://{addr}");
    let dead = "http://127.0.0.1:9";
    let mut catalog = Vec::new();
    let mut services = vec![("compute", "nova", "compute/v2.1")];
    if c.with_network {
        services.push(("network", "neutron", "network"));
    }
    if c.with_image {
        services.push(("image", "glance", "image"));
    }
    for (i, (kind, name, suffix)) in services.into_iter().enumerate() {
        let mut endpoints = Vec::new();
        for region in &c.regions {
            for (iface, host) in [
                ("internal", dead),
                ("public", base.as_str()),
                ("admin", dead),
            ] {
                endpoints.push(json!({
                    "id": format!("ep-{i}-{region}-{iface}"),
                    "interface": iface,
                    "region_id": region,
                    "region": region,
                    "url": format!("{host}/{region}/{suffix}"),
                }));
            }
        }
        catalog.push(
            json!({"type": kind, "name": name, "id": format!("svc-{i}"), "endpoints": endpoints}),
        );
    }
    let now = SystemTime::now();
    let body = json!({"token": {
        "methods": methods,
        "expires_at": format_timestamp(now + c.token_ttl),
        "issued_at": format_timestamp(now),
        "user": {"id": "u-0001", "name": user_name, "domain": {"id": "default", "name": c.user_domain}},
        "project": {"id": c.project_id, "name": c.project, "domain": {"id": "default", "name": c.project_domain}},
        "roles": [{"id": "r-member", "name": "member"}],
        "catalog": catalog,
    }});
    Response::builder()
        .status(StatusCode::CREATED)
        .header("content-type", "application/json")
        .header("x-subject-token", token)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

// ---- Nova ----

fn server_json(st: &State, s: &EmuServer, addr: SocketAddr, region: &str) -> Value {
    let mut addresses = serde_json::Map::new();
    if s.status != "BUILD" {
        for p in st.ports.values().filter(|p| p.device_id == s.id) {
            let Some(net) = st.network(&p.network_id) else {
                continue;
            };
            let mut list = vec![
                json!({"addr": p.ip, "version": 4, "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}),
            ];
            for f in st
                .floating_ips
                .values()
                .filter(|f| f.port_id.as_deref() == Some(p.id.as_str()))
            {
                list.push(
                    json!({"addr": f.address, "version": 4, "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}),
                );
            }
            addresses.insert(net.name.clone(), Value::Array(list));
        }
    }
    let vm_state = match s.status.as_str() {
        "BUILD" => "building",
        "ACTIVE" => "active",
        "SHUTOFF" => "stopped",
        "ERROR" => "error",
        _ => "active",
    };
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": vm_state,
        "metadata": s.metadata,
        "addresses": addresses,
        "flavor": {"id": s.flavor_id, "links": []},
        "image": {"id": s.image_id, "links": []},
        "tenant_id": st.config.project_id,
        "user_id": "u-0001",
        "security_groups": s.security_groups.iter()
            .filter_map(|g| st.groups.get(g)).map(|g| json!({"name": g.name})).collect::<Vec<_>>(),
        "links": [{"rel": "self", "href": format!("http://{addr}/{region}/compute/v2.1/servers/{}", s.id)}],
    });
    if let Some(f) = &s.fault {
        v["fault"] = json!({"code": 500, "message": f, "created": "2024-01-01T00:00:00Z"});
    }
    v
}

/// A server's name as a hostname, as Nova's metadata gives it: letters,
/// digits and `-`, other characters as `-`, at most 63.
fn hostname_of(name: &str) -> String {
    let mut h: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    h = h.trim_matches('-').to_string();
    if h.is_empty() {
        "server".to_string()
    } else {
        h
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let s = s.trim_end_matches('=');
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'\n' | b'\r' => continue,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn nova(
    st: &mut State,
    op: &str,
    rest: &[&str],
    q: &BTreeMap<String, String>,
    body: &Value,
    addr: SocketAddr,
    region: Option<&str>,
) -> Answer {
    let region = region.unwrap_or_default();
    let not_found = |id: &str| {
        error(
            Svc::Compute,
            404,
            &format!("Instance {id} could not be found."),
        )
    };
    match op {
        "nova.list_servers" => {
            let detail = rest.len() == 2;
            let limit = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(st.config.page_limit)
                .min(st.config.page_limit);
            let mut list: Vec<&EmuServer> = st.servers.values().collect();
            if let Some(m) = q.get("marker") {
                match list.iter().position(|s| &s.id == m) {
                    Some(i) => list.drain(..=i),
                    None => {
                        return error(Svc::Compute, 400, &format!("marker [{m}] not found"));
                    }
                };
            }
            let page: Vec<&EmuServer> = list.into_iter().take(limit).collect();
            let servers: Vec<Value> = page
                .iter()
                .map(|s| {
                    if detail {
                        server_json(st, s, addr, region)
                    } else {
                        json!({"id": s.id, "name": s.name, "links": []})
                    }
                })
                .collect();
            let mut v = json!({ "servers": servers });
            if page.len() == limit
                && let Some(last) = page.last()
            {
                v["servers_links"] = json!([{"rel": "next", "href": format!(
                    "http://{addr}/{region}/compute/v2.1/servers{}?limit={limit}&marker={}",
                    if detail { "/detail" } else { "" }, last.id)}]);
            }
            json_answer(200, v)
        }
        "nova.show_server" => match st.servers.get(rest[1]) {
            Some(s) => json_answer(200, json!({"server": server_json(st, s, addr, region)})),
            None => not_found(rest[1]),
        },
        "nova.create_server" => create_server(st, body, addr, region),
        "nova.delete_server" => {
            if st.delete_server(rest[1]) {
                no_content()
            } else {
                not_found(rest[1])
            }
        }
        "nova.server_action" => {
            let delay = st.config.action_delay;
            let id = rest[1];
            let Some(s) = st.servers.get_mut(id) else {
                return not_found(id);
            };
            let Some((action, _)) = body.as_object().and_then(|o| o.iter().next()) else {
                return error(Svc::Compute, 400, "Malformed request body");
            };
            let vm_state = if s.status == "SHUTOFF" {
                "stopped"
            } else {
                "active"
            };
            let busy = s.task_state.clone();
            let conflict = |what: &str| {
                error(
                    Svc::Compute,
                    409,
                    &format!("Cannot '{action}' instance {id} while it is in {what}"),
                )
            };
            match action.as_str() {
                "os-stop" => {
                    if let Some(t) = busy {
                        return conflict(&format!("task_state {t}"));
                    }
                    if s.status != "ACTIVE" {
                        return conflict(&format!("vm_state {vm_state}"));
                    }
                    s.task_state = Some("powering-off".into());
                    s.transition = Transition::Stopping(Instant::now() + delay);
                    if st.backing.is_some() {
                        s.transition = Transition::Host;
                        st.host_op(id, HostOp::Stop, |st, id, outcome| {
                            let Some(s) = st.servers.get_mut(id) else {
                                return;
                            };
                            s.transition = Transition::None;
                            s.task_state = None;
                            match outcome {
                                Ok(_) => s.status = "SHUTOFF".into(),
                                Err(e) => {
                                    s.status = "ERROR".into();
                                    s.fault = Some(e.to_string());
                                }
                            }
                        });
                    }
                }
                "os-start" => {
                    if let Some(t) = busy {
                        return conflict(&format!("task_state {t}"));
                    }
                    if s.status != "SHUTOFF" {
                        return conflict(&format!("vm_state {vm_state}"));
                    }
                    s.task_state = Some("powering-on".into());
                    s.transition = Transition::Starting(Instant::now() + delay);
                    if st.backing.is_some() {
                        s.transition = Transition::Host;
                        st.host_op(id, HostOp::Start, State::booted);
                    }
                }
                other => {
                    return error(
                        Svc::Compute,
                        400,
                        &format!("There is no such action: {other}"),
                    );
                }
            }
            answer(202, "application/json", String::new())
        }
        "nova.list_flavors" => {
            let flavors: Vec<Value> = st
                .config
                .flavors
                .iter()
                .map(|f| {
                    json!({"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
                        "OS-FLV-EXT-DATA:ephemeral": 0, "swap": "", "rxtx_factor": 1.0,
                        "os-flavor-access:is_public": true, "OS-FLV-DISABLED:disabled": false,
                        "links": []})
                })
                .collect();
            json_answer(200, json!({ "flavors": flavors }))
        }
        "nova.flavor_extra_specs" => match st.config.flavors.iter().find(|f| f.id == rest[1]) {
            Some(f) => json_answer(200, json!({"extra_specs": f.extra_specs})),
            None => error(
                Svc::Compute,
                404,
                &format!("Flavor {} could not be found.", rest[1]),
            ),
        },
        _ => error(Svc::Compute, 404, "The resource could not be found."),
    }
}

fn create_server(st: &mut State, body: &Value, addr: SocketAddr, region: &str) -> Answer {
    let bad = |m: &str| error(Svc::Compute, 400, m);
    let s = &body["server"];
    let Some(name) = s["name"].as_str().filter(|n| !n.is_empty()) else {
        return bad("Invalid input for field/attribute name.");
    };
    let image = s["imageRef"].as_str().unwrap_or_default();
    if !st.config.images.contains_key(image) {
        return bad(&format!("Image {image} could not be found."));
    }
    let flavor = s["flavorRef"].as_str().unwrap_or_default();
    if !st.config.flavors.iter().any(|f| f.id == flavor) {
        return bad("Invalid flavorRef provided.");
    }
    let mut networks = Vec::new();
    match &s["networks"] {
        Value::Null => {
            if let Some(n) = st.config.networks.iter().find(|n| !n.external) {
                networks.push(n.id.clone());
            }
        }
        Value::Array(list) => {
            for n in list {
                let id = n["uuid"].as_str().unwrap_or_default();
                if st.network(id).is_none() {
                    return bad(&format!("Network {id} could not be found."));
                }
                networks.push(id.to_string());
            }
        }
        _ => return bad("Invalid input for field/attribute networks."),
    }
    let mut groups = Vec::new();
    if let Some(list) = s["security_groups"].as_array() {
        for g in list {
            let key = g["name"].as_str().unwrap_or_default();
            let found = st
                .groups
                .values()
                .find(|x| x.id == key || x.name == key)
                .map(|x| x.id.clone());
            match found {
                Some(id) => groups.push(id),
                None => {
                    return bad(&format!(
                        "Unable to find security_group with name or id '{key}'"
                    ));
                }
            }
        }
    }
    let user_data = match s["user_data"].as_str() {
        Some(u) => match base64_decode(u) {
            Some(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            None => return bad("User data needs to be valid base 64."),
        },
        None => None,
    };
    let mut metadata = BTreeMap::new();
    if let Some(m) = s["metadata"].as_object() {
        for (k, v) in m {
            let Some(v) = v.as_str() else {
                return bad("Invalid input for field/attribute metadata.");
            };
            if k.len() > 255 || v.len() > 255 {
                return bad("Invalid input for field/attribute metadata.");
            }
            metadata.insert(k.clone(), v.to_string());
        }
    }
    // Empty volumes to make with the server (Nova's "blank" mappings).
    let mut volumes = Vec::new();
    if let Some(list) = s["block_device_mapping_v2"].as_array() {
        for b in list {
            let blank = b["source_type"] == "blank" && b["destination_type"] == "volume";
            if !blank {
                return bad(
                    "Only blank volumes (source_type blank, destination_type volume) are supported here.",
                );
            }
            let Some(size) = b["volume_size"].as_u64().filter(|n| (1..=1024).contains(n)) else {
                return bad("Invalid input for field/attribute volume_size.");
            };
            let device = b["device_name"]
                .as_str()
                .map(|d| d.trim_start_matches("/dev/").to_string())
                .unwrap_or_else(|| format!("vd{}", char::from(b'b' + volumes.len() as u8)));
            volumes.push((
                size as u32,
                device,
                b["volume_type"].as_str().map(str::to_string),
                b["delete_on_termination"].as_bool().unwrap_or(false),
            ));
        }
    }
    if let Some(quota) = st.config.instance_quota
        && !st.config.quota_recheck
        && st.servers.len() >= quota
    {
        return error(
            Svc::Compute,
            403,
            &format!(
                "Quota exceeded for instances: Requested 1, but already used {} of {quota} instances",
                st.servers.len()
            ),
        );
    }
    let id = st.id();
    for net in &networks {
        let prefix = st.network(net).unwrap().prefix.clone();
        let port = st.id();
        let ip = st.ip(&prefix);
        st.ports.insert(
            port.clone(),
            EmuPort {
                id: port,
                network_id: net.clone(),
                device_id: id.clone(),
                ip,
            },
        );
    }
    for (size_gib, device, volume_type, delete_on_termination) in &volumes {
        let vid = st.id();
        st.volumes.insert(
            vid.clone(),
            EmuVolume {
                id: vid,
                size_gib: *size_gib,
                volume_type: volume_type.clone(),
                server_id: id.clone(),
                device: device.clone(),
                delete_on_termination: *delete_on_termination,
            },
        );
    }
    let boot = st.config.boot_delay;
    let no_room = st.no_room.contains(flavor);
    let transition = if no_room {
        Transition::None
    } else if st.backing.is_some() {
        let nics = st
            .ports
            .values()
            .filter(|p| p.device_id == id)
            .filter_map(|p| {
                Some(Nic {
                    network: st.network(&p.network_id)?.name.clone(),
                    ip: p.ip.parse().ok()?,
                })
            })
            .collect();
        let mut host_data = user_data.clone().unwrap_or_default();
        if st.config.no_sudo_images.iter().any(|i| i == image) {
            host_data = host_data
                .lines()
                .filter(|l| !l.trim_start().starts_with("sudo:"))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let spec = HostSpec {
            name: id.clone(),
            user_data: host_data,
            instance_id: id.clone(),
            // Nova's metadata `hostname`: the server's name, as a hostname.
            local_hostname: Some(hostname_of(name)),
            nics,
            volumes: volumes
                .iter()
                .map(|(size_gib, device, _, _)| HostVolume {
                    dev: device.clone(),
                    size_mib: size_gib * 1024,
                })
                .collect(),
        };
        st.host_op(&id, HostOp::Boot(spec), State::booted);
        Transition::Host
    } else {
        Transition::Booting(Instant::now() + boot)
    };
    st.servers.insert(
        id.clone(),
        EmuServer {
            id: id.clone(),
            name: name.to_string(),
            status: if no_room { "ERROR" } else { "BUILD" }.into(),
            task_state: (!no_room).then(|| "spawning".into()),
            metadata,
            flavor_id: flavor.to_string(),
            image_id: image.to_string(),
            networks,
            security_groups: groups.clone(),
            user_data,
            fault: no_room.then(|| NO_VALID_HOST.into()),
            boot: None,
            transition,
        },
    );
    let location = format!("http://{addr}/{region}/compute/v2.1/servers/{id}");
    let v = json!({"server": {
        "id": id,
        "links": [{"rel": "self", "href": location}],
        "OS-DCF:diskConfig": "MANUAL",
        // Nova echoes the request's `security_groups` as given (nubo gives
        // ids), or the project's `default`; the server's details name them.
        "security_groups": match &body["server"]["security_groups"] {
            Value::Null => json!([{"name": "default"}]),
            given => given.clone(),
        },
        "adminPass": "kJTmMkszoB6A",
    }});
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("content-type", "application/json")
        .header("location", location)
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap()
}

// ---- Neutron ----

fn make_group(st: &mut State, name: &str, description: &str) -> String {
    let id = st.id();
    let mut rules = Vec::new();
    for ethertype in ["IPv4", "IPv6"] {
        let rid = st.id();
        rules.push(EmuRule {
            id: rid,
            direction: "egress".into(),
            ethertype: ethertype.into(),
            protocol: None,
            min: None,
            max: None,
            remote_ip_prefix: None,
            remote_group_id: None,
        });
    }
    st.groups.insert(
        id.clone(),
        EmuGroup {
            id: id.clone(),
            name: name.into(),
            description: description.into(),
            rules,
        },
    );
    id
}

fn group_json(st: &State, g: &EmuGroup) -> Value {
    json!({
        "id": g.id, "name": g.name, "description": g.description,
        "project_id": st.config.project_id, "tenant_id": st.config.project_id, "stateful": true,
        "security_group_rules": g.rules.iter().map(|r| rule_json(st, g, r)).collect::<Vec<_>>(),
    })
}

fn rule_json(st: &State, g: &EmuGroup, r: &EmuRule) -> Value {
    json!({
        "id": r.id, "security_group_id": g.id, "direction": r.direction, "ethertype": r.ethertype,
        "protocol": r.protocol, "port_range_min": r.min, "port_range_max": r.max,
        "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
        "description": "", "project_id": st.config.project_id,
    })
}

/// Neutron's answer when no router joins a port's network to the external
/// network of a floating IP.
fn unreachable(st: &State, external: &str, port: &str) -> Option<Answer> {
    let p = st.ports.get(port)?;
    if !st.config.unrouted.contains(&p.network_id) {
        return None;
    }
    Some(json_answer(
        404,
        json!({"NeutronError": {"type": "ExternalGatewayForFloatingIPNotFound",
            "message": format!("External network {external} is not reachable from subnet {}-subnet.  Therefore, cannot associate Port {port} with a Floating IP.", p.network_id),
            "detail": ""}}),
    ))
}

fn fip_json(st: &State, f: &EmuFloatingIp) -> Value {
    let fixed = f
        .port_id
        .as_ref()
        .and_then(|p| st.ports.get(p))
        .map(|p| p.ip.clone());
    json!({
        "id": f.id, "floating_ip_address": f.address, "floating_network_id": f.network_id,
        "port_id": f.port_id, "fixed_ip_address": fixed,
        "status": if f.port_id.is_some() { "ACTIVE" } else { "DOWN" },
        "description": f.description, "router_id": null, "project_id": st.config.project_id,
        "tenant_id": st.config.project_id,
    })
}

fn neutron(
    st: &mut State,
    op: &str,
    rest: &[&str],
    q: &BTreeMap<String, String>,
    body: &Value,
) -> Answer {
    let bad = |m: &str| error(Svc::Network, 400, m);
    match op {
        "neutron.list_networks" => {
            let nets: Vec<Value> = st
                .config
                .networks
                .iter()
                .map(|n| {
                    json!({"id": n.id, "name": n.name, "status": "ACTIVE", "admin_state_up": true,
                        "router:external": n.external, "shared": n.external,
                        "subnets": [format!("sub-{}", n.id)], "project_id": st.config.project_id})
                })
                .collect();
            json_answer(200, json!({ "networks": nets }))
        }
        "neutron.list_ports" => {
            let ports: Vec<Value> = st
                .ports
                .values()
                .filter(|p| q.get("device_id").is_none_or(|d| d == &p.device_id))
                .map(|p| {
                    let groups = st
                        .servers
                        .get(&p.device_id)
                        .map(|s| s.security_groups.clone())
                        .unwrap_or_default();
                    json!({"id": p.id, "network_id": p.network_id, "device_id": p.device_id,
                        "device_owner": "compute:nova", "status": "ACTIVE",
                        "fixed_ips": [{"subnet_id": format!("sub-{}", p.network_id), "ip_address": p.ip}],
                        "security_groups": groups})
                })
                .collect();
            json_answer(200, json!({ "ports": ports }))
        }
        "neutron.list_floatingips" => {
            let list: Vec<Value> = st
                .floating_ips
                .values()
                .filter(|f| {
                    q.get("port_id")
                        .is_none_or(|p| Some(p) == f.port_id.as_ref())
                })
                .map(|f| fip_json(st, f))
                .collect();
            json_answer(200, json!({ "floatingips": list }))
        }
        "neutron.create_floatingip" => {
            let f = &body["floatingip"];
            let net_id = f["floating_network_id"].as_str().unwrap_or_default();
            let Some(net) = st.network(net_id).cloned() else {
                return error(
                    Svc::Network,
                    404,
                    &format!("Network {net_id} could not be found."),
                );
            };
            if !net.external {
                return bad(&format!(
                    "Bad floatingip request: Network {net_id} is not a valid external network."
                ));
            }
            let port_id = f["port_id"].as_str().map(str::to_string);
            if let Some(p) = &port_id
                && !st.ports.contains_key(p)
            {
                return error(Svc::Network, 404, &format!("Port {p} could not be found."));
            }
            if let Some(p) = &port_id
                && let Some(refused) = unreachable(st, &net.id, p)
            {
                return refused;
            }
            if let Some(quota) = st.config.floating_ip_quota
                && st.floating_ips.len() >= quota
            {
                return json_answer(
                    409,
                    json!({"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['floatingip'].", "detail": ""}}),
                );
            }
            let id = st.id();
            let address = st.ip(&net.prefix);
            let fip = EmuFloatingIp {
                id: id.clone(),
                address,
                network_id: net.id,
                port_id,
                description: f["description"].as_str().unwrap_or_default().to_string(),
            };
            let v = fip_json(st, &fip);
            if let Some(p) = &fip.port_id {
                st.float(&fip, p, true);
            }
            st.floating_ips.insert(id, fip);
            json_answer(201, json!({ "floatingip": v }))
        }
        "neutron.update_floatingip" => {
            let id = rest[1];
            let port = body["floatingip"]["port_id"].as_str().map(str::to_string);
            if let Some(p) = &port
                && !st.ports.contains_key(p)
            {
                return error(Svc::Network, 404, &format!("Port {p} could not be found."));
            }
            let Some(network) = st.floating_ips.get(id).map(|f| f.network_id.clone()) else {
                return error(
                    Svc::Network,
                    404,
                    &format!("Floating IP {id} could not be found"),
                );
            };
            if let Some(p) = &port
                && let Some(refused) = unreachable(st, &network, p)
            {
                return refused;
            }
            let Some(f) = st.floating_ips.get_mut(id) else {
                return error(
                    Svc::Network,
                    404,
                    &format!("Floating IP {id} could not be found"),
                );
            };
            let before = std::mem::replace(&mut f.port_id, port.clone());
            let f = f.clone();
            if before != port {
                if let Some(p) = &before {
                    st.float(&f, p, false);
                }
                if let Some(p) = &port {
                    st.float(&f, p, true);
                }
            }
            json_answer(200, json!({"floatingip": fip_json(st, &f)}))
        }
        "neutron.delete_floatingip" => match st.floating_ips.remove(rest[1]) {
            Some(f) => {
                if let Some(p) = &f.port_id {
                    st.float(&f, p, false);
                }
                no_content()
            }
            None => error(
                Svc::Network,
                404,
                &format!("Floating IP {} could not be found", rest[1]),
            ),
        },
        "neutron.list_security_groups" => {
            let list: Vec<Value> = st
                .groups
                .values()
                .filter(|g| q.get("name").is_none_or(|n| n == &g.name))
                .map(|g| group_json(st, g))
                .collect();
            json_answer(200, json!({ "security_groups": list }))
        }
        "neutron.create_security_group" => {
            let g = &body["security_group"];
            let Some(name) = g["name"].as_str() else {
                return bad("Invalid input for name.");
            };
            let description = g["description"].as_str().unwrap_or_default();
            if description.len() > 255 {
                return bad("Invalid input for description.");
            }
            let id = make_group(st, name, description);
            let v = group_json(st, &st.groups[&id]);
            json_answer(201, json!({ "security_group": v }))
        }
        "neutron.delete_security_group" => {
            let id = rest[1];
            if !st.groups.contains_key(id) {
                return error(
                    Svc::Network,
                    404,
                    &format!("Security group {id} does not exist"),
                );
            }
            if st
                .servers
                .values()
                .any(|s| s.security_groups.iter().any(|g| g == id))
            {
                return json_answer(
                    409,
                    json!({"NeutronError": {"type": "SecurityGroupInUse",
                        "message": format!("Security Group {id} in use."), "detail": ""}}),
                );
            }
            st.groups.remove(id);
            no_content()
        }
        "neutron.create_security_group_rule" => {
            let r = &body["security_group_rule"];
            let gid = r["security_group_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !st.groups.contains_key(&gid) {
                return error(
                    Svc::Network,
                    404,
                    &format!("Security group {gid} does not exist"),
                );
            }
            let direction = r["direction"].as_str().unwrap_or_default();
            if direction != "ingress" && direction != "egress" {
                return bad("Invalid input for direction.");
            }
            let protocol = r["protocol"].as_str().map(str::to_string);
            if let Some(p) = &protocol
                && !["tcp", "udp", "icmp"].contains(&p.as_str())
            {
                return bad(&format!("Security group rule protocol {p} not supported."));
            }
            let (min, max) = (r["port_range_min"].as_u64(), r["port_range_max"].as_u64());
            if let (Some(a), Some(b)) = (min, max)
                && (a > b || b > 65535)
            {
                return bad("For TCP/UDP protocols, port_range_min must be <= port_range_max");
            }
            let remote_group_id = r["remote_group_id"].as_str().map(str::to_string);
            if let Some(rg) = &remote_group_id
                && !st.groups.contains_key(rg)
            {
                return error(
                    Svc::Network,
                    404,
                    &format!("Security group {rg} does not exist"),
                );
            }
            let mut rule = EmuRule {
                id: String::new(),
                direction: direction.into(),
                ethertype: r["ethertype"].as_str().unwrap_or("IPv4").into(),
                protocol,
                min,
                max,
                remote_ip_prefix: r["remote_ip_prefix"].as_str().map(str::to_string),
                remote_group_id,
            };
            let same = |x: &EmuRule| {
                EmuRule {
                    id: String::new(),
                    ..x.clone()
                } == rule
            };
            if let Some(existing) = st.groups[&gid].rules.iter().find(|x| same(x)) {
                return json_answer(
                    409,
                    json!({"NeutronError": {"type": "SecurityGroupRuleExists",
                        "message": format!("Security group rule already exists. Rule id is {}.", existing.id),
                        "detail": ""}}),
                );
            }
            rule.id = st.id();
            let g = st.groups.get_mut(&gid).unwrap();
            g.rules.push(rule.clone());
            let g = g.clone();
            json_answer(
                201,
                json!({"security_group_rule": rule_json(st, &g, &rule)}),
            )
        }
        _ => error(Svc::Network, 404, "The resource could not be found."),
    }
}

// ---- Glance ----

fn glance(st: &State, rest: &[&str]) -> Answer {
    let id = rest[1];
    match st.config.images.get(id) {
        Some((name, status)) => json_answer(
            200,
            json!({"id": id, "name": name, "status": status, "visibility": "public",
                "disk_format": "qcow2", "container_format": "bare", "min_disk": 0, "min_ram": 0,
                "size": 637_534_208, "self": format!("/v2/images/{id}"), "schema": "/v2/schemas/image"}),
        ),
        None => error(Svc::Image, 404, &format!("No image found with ID {id}")),
    }
}
