//! Real hosts behind real Nova's servers. Nova's `fake.FakeDriver` (the
//! compute driver of `scripts/openstack-test-cloud.sh`) boots nothing: a
//! server is `ACTIVE` as records only. [`NovaHosts`] plays the hypervisor
//! and Neutron's data path: it watches Nova and Neutron through their own
//! APIs, as the cloud's administrator, and does to a test cloud host what
//! happened to each server:
//!
//! - an `ACTIVE` server is booted by cloud-init with the user data Nova
//!   received (`OS-EXT-SRV-ATTR:user_data`, compute microversion 2.3,
//!   admin only) and Nova's hostname for it (`OS-EXT-SRV-ATTR:hostname`)
//!   as its NoCloud `local-hostname`; one NIC per Neutron port of the
//!   server (`device_id`), in the ports' creation order, at the port's
//!   fixed address, on the test cloud network of the port's Neutron
//!   network;
//! - a floating IP associated with one of its ports is one more NIC on
//!   the test cloud network of the floating IP's external network, at the
//!   floating address (the same way the OpenStack emulator's hosts get
//!   theirs: nothing translates addresses, the host simply has the
//!   floating address on a network this machine reaches); disassociated,
//!   that NIC goes;
//! - `SHUTOFF` stops the host, `ACTIVE` again starts it, a server gone
//!   from Nova's list removes it.
//!
//! Only servers whose names start with a given prefix are backed (the real
//! cloud is shared by tests that need no hosts). The test cloud networks
//! are the real cloud's own bridges, adopted
//! ([`TestCloud::adopt_network`]): the linuxbridge agent's
//! `bridge_mappings`, where a hypervisor would plug the servers' taps.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::emu::backing::{Backing, HostOp};
use super::{Boot, HostSpec, Network, Nic, TestCloud};

/// The compute microversion asked for: 2.3 adds the `OS-EXT-SRV-ATTR`
/// attributes `user_data` and `hostname` for administrators.
pub const MICROVERSION: &str = "2.3";

/// Who the watcher is to Keystone (an administrator: it lists every
/// project's servers and reads their user data).
#[derive(Clone, Debug)]
pub struct AdminAuth {
    /// Keystone's URL, `http://HOST:PORT` (with or without `/v3`).
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project: String,
    pub user_domain: String,
    pub project_domain: String,
}

impl AdminAuth {
    /// Cloud `name` of a `clouds.yaml` (`clouds: NAME: auth: ...`), as
    /// `scripts/openstack-test-cloud.sh` writes it.
    pub fn from_clouds_yaml(text: &str, name: &str) -> Result<AdminAuth, String> {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("clouds.yaml: {e}"))?;
        let auth = &doc["clouds"][name]["auth"];
        let field = |k: &str| -> Result<String, String> {
            auth[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("clouds.yaml: clouds.{name}.auth.{k} is missing"))
        };
        Ok(AdminAuth {
            auth_url: field("auth_url")?,
            username: field("username")?,
            password: field("password")?,
            project: field("project_name")?,
            user_domain: field("user_domain_name").unwrap_or_else(|_| "Default".into()),
            project_domain: field("project_domain_name").unwrap_or_else(|_| "Default".into()),
        })
    }
}

/// What the watcher backs and where.
#[derive(Clone, Debug)]
pub struct NovaConfig {
    pub auth: AdminAuth,
    /// Neutron network name → the test cloud network its ports go on.
    pub networks: Vec<(String, Network)>,
    /// Only servers whose names start with this are backed.
    pub name_prefix: String,
    /// How often Nova and Neutron are asked.
    pub period: Duration,
}

/// What the watcher last did to a server's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Running,
    Stopped,
}

struct Tracked {
    seen: Seen,
    /// Floating addresses given to the host as NICs.
    floating: BTreeSet<Ipv4Addr>,
}

/// The watcher; stops when dropped (the hosts stay until the test cloud
/// is destroyed).
pub struct NovaHosts {
    task: tokio::task::JoinHandle<()>,
    boots: Arc<Mutex<Vec<(String, Boot)>>>,
    errors: Arc<Mutex<Vec<String>>>,
    backed: Arc<Mutex<BTreeSet<String>>>,
}

impl Drop for NovaHosts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NovaHosts {
    /// Starts watching on the current tokio runtime.
    pub fn start(cloud: TestCloud, config: NovaConfig) -> NovaHosts {
        let boots = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let backed = Arc::new(Mutex::new(BTreeSet::new()));
        let watcher = Watcher {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a plain HTTP client builds"),
            backing: Arc::new(Backing::new(cloud)),
            period: config.period,
            config,
            session: None,
            net_names: HashMap::new(),
            seen: HashMap::new(),
            boots: boots.clone(),
            errors: errors.clone(),
            backed: backed.clone(),
        };
        let task = tokio::spawn(watcher.run());
        NovaHosts {
            task,
            boots,
            errors,
            backed,
        }
    }

    /// Every boot so far: (the server's name, boot).
    pub fn boots(&self) -> Vec<(String, Boot)> {
        self.boots.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What went wrong so far (a boot that failed, a call refused).
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The ids of the servers that have a host now (booted or stopped).
    pub fn backed(&self) -> BTreeSet<String> {
        self.backed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A token and the endpoints of its catalog.
struct Session {
    token: String,
    compute: String,
    network: String,
}

struct Watcher {
    http: reqwest::Client,
    backing: Arc<Backing>,
    config: NovaConfig,
    period: Duration,
    session: Option<Session>,
    /// Neutron network id → name.
    net_names: HashMap<String, String>,
    seen: HashMap<String, Tracked>,
    boots: Arc<Mutex<Vec<(String, Boot)>>>,
    errors: Arc<Mutex<Vec<String>>>,
    backed: Arc<Mutex<BTreeSet<String>>>,
}

/// An answer that was not 2xx, or no answer.
#[derive(Debug)]
struct CallError {
    status: Option<u16>,
    text: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

impl Watcher {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(self.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round().await {
                // An expired token: a new one next round.
                if e.status == Some(401) {
                    self.session = None;
                    continue;
                }
                self.error(format!("watching Nova: {e}"));
            }
        }
    }

    fn error(&self, e: String) {
        tracing::warn!(error = %e, "real Nova test cloud");
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    /// `POST /v3/auth/tokens`: the token and the public compute and
    /// network endpoints.
    async fn login(&self) -> Result<Session, CallError> {
        let a = &self.config.auth;
        let base = a.auth_url.trim_end_matches('/').trim_end_matches("/v3");
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": a.username, "domain": {"name": a.user_domain}, "password": a.password}}},
            "scope": {"project": {"name": a.project, "domain": {"name": a.project_domain}}},
        }});
        let resp = self
            .http
            .post(format!("{base}/v3/auth/tokens"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| CallError {
                status: None,
                text: format!(
                    "Keystone at {base}: {}",
                    crate::provider::describe_http_error(&e)
                ),
            })?;
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(CallError {
                status: Some(status),
                text: format!("Keystone refused the administrator's login: {text}"),
            });
        }
        let token = token.ok_or_else(|| CallError {
            status: Some(status),
            text: "Keystone answered no X-Subject-Token".into(),
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| CallError {
            status: Some(status),
            text: format!("Keystone's token answer is not JSON: {e}"),
        })?;
        let endpoint = |kind: &str| -> Result<String, CallError> {
            v["token"]["catalog"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["type"] == kind)
                .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
                .find(|e| e["interface"] == "public")
                .and_then(|e| e["url"].as_str())
                .map(|u| u.trim_end_matches('/').to_string())
                .ok_or_else(|| CallError {
                    status: None,
                    text: format!("the catalog has no public {kind} endpoint"),
                })
        };
        Ok(Session {
            token,
            compute: endpoint("compute")?,
            network: endpoint("network")?,
        })
    }

    /// `GET URL` with the token (and the compute microversion): its JSON.
    async fn get(&self, url: &str) -> Result<Value, CallError> {
        let s = self.session.as_ref().expect("logged in");
        let resp = self
            .http
            .get(url)
            .header("X-Auth-Token", &s.token)
            .header("Accept", "application/json")
            .header("OpenStack-API-Version", format!("compute {MICROVERSION}"))
            .header("X-OpenStack-Nova-API-Version", MICROVERSION)
            .send()
            .await
            .map_err(|e| CallError {
                status: None,
                text: format!("GET {url}: {}", crate::provider::describe_http_error(&e)),
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(CallError {
                status: Some(status),
                text: format!("GET {url}: {text}"),
            });
        }
        serde_json::from_str(&text).map_err(|e| CallError {
            status: Some(status),
            text: format!("GET {url}: not JSON: {e}"),
        })
    }

    /// The name of Neutron network `id` (the list is read again for an id
    /// not seen yet).
    async fn net_name(&mut self, id: &str) -> Result<Option<String>, CallError> {
        if !self.net_names.contains_key(id) {
            let url = format!("{}/v2.0/networks", self.session.as_ref().unwrap().network);
            let nets = self.get(&url).await?;
            for n in nets["networks"].as_array().into_iter().flatten() {
                if let (Some(i), Some(name)) = (n["id"].as_str(), n["name"].as_str()) {
                    self.net_names.insert(i.to_string(), name.to_string());
                }
            }
        }
        Ok(self.net_names.get(id).cloned())
    }

    /// The test cloud network of Neutron network `id`.
    async fn test_net(&mut self, id: &str) -> Result<Option<Network>, CallError> {
        let Some(name) = self.net_name(id).await? else {
            return Ok(None);
        };
        Ok(self
            .config
            .networks
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, net)| net.clone()))
    }

    async fn round(&mut self) -> Result<(), CallError> {
        if self.session.is_none() {
            self.session = Some(self.login().await?);
        }
        let (compute, network) = {
            let s = self.session.as_ref().unwrap();
            (s.compute.clone(), s.network.clone())
        };
        let servers = self
            .get(&format!("{compute}/servers/detail?all_tenants=1"))
            .await?;
        let ports = self.get(&format!("{network}/v2.0/ports")).await?;
        let fips = self.get(&format!("{network}/v2.0/floatingips")).await?;
        let empty = Vec::new();
        let servers = servers["servers"].as_array().unwrap_or(&empty);
        let ports = ports["ports"].as_array().unwrap_or(&empty);
        let fips = fips["floatingips"].as_array().unwrap_or(&empty);

        let mut listed = BTreeSet::new();
        for s in servers {
            let (Some(id), Some(name), Some(status)) =
                (s["id"].as_str(), s["name"].as_str(), s["status"].as_str())
            else {
                continue;
            };
            if !name.starts_with(&self.config.name_prefix) {
                continue;
            }
            listed.insert(id.to_string());
            let want = match status {
                "ACTIVE" => Seen::Running,
                "SHUTOFF" => Seen::Stopped,
                // BUILD, ERROR, REBOOT, DELETED...: nothing to do yet.
                _ => continue,
            };
            let mut own: Vec<&Value> = ports.iter().filter(|p| p["device_id"] == id).collect();
            own.sort_by(|a, b| {
                let key = |p: &Value| {
                    (
                        p["created_at"].as_str().unwrap_or_default().to_string(),
                        p["id"].as_str().unwrap_or_default().to_string(),
                    )
                };
                key(a).cmp(&key(b))
            });
            let had = self.seen.get(id).map(|t| t.seen);
            match (had, want) {
                (None, Seen::Running) => {
                    let Some(spec) = self.spec(s, id, name, &own).await? else {
                        continue;
                    };
                    self.seen.insert(
                        id.to_string(),
                        Tracked {
                            seen: Seen::Running,
                            floating: BTreeSet::new(),
                        },
                    );
                    self.submit(id, name, HostOp::Boot(spec));
                }
                // A server first seen stopped never ran here: no host.
                (None, Seen::Stopped) => continue,
                (Some(a), b) if a == b => {}
                (Some(_), Seen::Stopped) => {
                    self.seen.get_mut(id).unwrap().seen = Seen::Stopped;
                    self.submit(id, name, HostOp::Stop);
                }
                (Some(_), Seen::Running) => {
                    self.seen.get_mut(id).unwrap().seen = Seen::Running;
                    self.submit(id, name, HostOp::Start);
                }
            }
            self.floating(id, name, &own, fips).await?;
        }
        let gone: Vec<String> = self
            .seen
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.seen.remove(&id);
            self.submit(&id, &id, HostOp::Remove);
        }
        Ok(())
    }

    /// The host of an `ACTIVE` server: `None` (said in the errors) when a
    /// port of it is on a network nothing backs.
    async fn spec(
        &mut self,
        s: &Value,
        id: &str,
        name: &str,
        ports: &[&Value],
    ) -> Result<Option<HostSpec>, CallError> {
        let mut nics = Vec::new();
        for p in ports {
            let net_id = p["network_id"].as_str().unwrap_or_default();
            let Some(net) = self.test_net(net_id).await? else {
                self.error(format!(
                    "server {name} ({id}): its port {} is on Neutron network {net_id}, which no test cloud network backs",
                    p["id"]
                ));
                return Ok(None);
            };
            let ip = p["fixed_ips"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["ip_address"].as_str()?.parse::<Ipv4Addr>().ok())
                .next();
            let Some(ip) = ip else {
                self.error(format!(
                    "server {name} ({id}): its port {} has no IPv4 address",
                    p["id"]
                ));
                return Ok(None);
            };
            nics.push(Nic {
                network: net.name.clone(),
                ip,
            });
        }
        if nics.is_empty() {
            // Nova is ACTIVE before Neutron lists the port as the server's
            // only if nubo made none: wait for the next round.
            return Ok(None);
        }
        let user_data = match s["OS-EXT-SRV-ATTR:user_data"].as_str() {
            Some(b64) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    self.error(format!(
                        "server {name} ({id}): its user data is not base64: {e}"
                    ));
                    return Ok(None);
                }
            },
            None if s.get("OS-EXT-SRV-ATTR:user_data").is_some() => String::new(),
            None => {
                self.error(format!(
                    "server {name} ({id}): Nova shows no OS-EXT-SRV-ATTR:user_data (microversion {MICROVERSION} as an administrator)"
                ));
                return Ok(None);
            }
        };
        Ok(Some(HostSpec {
            name: id.to_string(),
            user_data,
            instance_id: id.to_string(),
            local_hostname: s["OS-EXT-SRV-ATTR:hostname"]
                .as_str()
                .filter(|h| crate::provider::local::naming::check_node(h).is_ok())
                .map(str::to_string),
            nics,
            volumes: Vec::new(),
        }))
    }

    /// Floating IPs of the server's ports, as NICs of its host.
    async fn floating(
        &mut self,
        id: &str,
        name: &str,
        own: &[&Value],
        fips: &[Value],
    ) -> Result<(), CallError> {
        if !self.seen.contains_key(id) {
            return Ok(());
        }
        let mut want: Vec<(Ipv4Addr, String)> = Vec::new();
        for f in fips {
            let on_ours = f["port_id"]
                .as_str()
                .is_some_and(|p| own.iter().any(|o| o["id"] == p));
            let addr = f["floating_ip_address"]
                .as_str()
                .and_then(|a| a.parse::<Ipv4Addr>().ok());
            if let (true, Some(addr)) = (on_ours, addr) {
                want.push((
                    addr,
                    f["floating_network_id"].as_str().unwrap_or_default().into(),
                ));
            }
        }
        let had = self.seen[id].floating.clone();
        for (addr, net_id) in &want {
            if had.contains(addr) {
                continue;
            }
            let Some(net) = self.test_net(net_id).await? else {
                self.error(format!(
                    "server {name} ({id}): floating IP {addr} is of Neutron network {net_id}, which no test cloud network backs"
                ));
                continue;
            };
            self.seen.get_mut(id).unwrap().floating.insert(*addr);
            self.submit(
                id,
                name,
                HostOp::AttachNic(Nic {
                    network: net.name.clone(),
                    ip: *addr,
                }),
            );
        }
        for addr in had {
            if !want.iter().any(|(a, _)| *a == addr) {
                self.seen.get_mut(id).unwrap().floating.remove(&addr);
                self.submit(id, name, HostOp::DetachNic(addr));
            }
        }
        Ok(())
    }

    fn submit(&self, id: &str, name: &str, op: HostOp) {
        let boots = self.boots.clone();
        let errors = self.errors.clone();
        let backed = self.backed.clone();
        let (name, id_owned) = (name.to_string(), id.to_string());
        let what = match &op {
            HostOp::Boot(_) => "boot",
            HostOp::Stop => "stop",
            HostOp::Start => "start",
            HostOp::Remove => "remove",
            HostOp::AttachNic(_) => "floating IP attach",
            HostOp::DetachNic(_) => "floating IP detach",
        };
        let removing = matches!(op, HostOp::Remove);
        self.backing.submit(
            id,
            op,
            Box::new(move |outcome| {
                let lock = |m: &Arc<Mutex<BTreeSet<String>>>| {
                    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
                    if removing {
                        g.remove(&id_owned);
                    } else {
                        g.insert(id_owned.clone());
                    }
                };
                match outcome {
                    Ok(Some(boot)) => {
                        lock(&backed);
                        boots
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((name, boot));
                    }
                    Ok(None) => lock(&backed),
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!(
                            "{what} of the host of server {name} ({id_owned}): {e}"
                        )),
                }
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_auth_from_the_scripts_clouds_yaml() {
        let text = "clouds:\n  nubo-admin:\n    auth:\n      auth_url: http://127.0.0.1:15000/v3\n      username: admin\n      password: s3cret\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n";
        let a = AdminAuth::from_clouds_yaml(text, "nubo-admin").unwrap();
        assert_eq!(a.auth_url, "http://127.0.0.1:15000/v3");
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("admin", "s3cret")
        );
        assert_eq!(a.project, "admin");
        let e = AdminAuth::from_clouds_yaml(text, "nubo").unwrap_err();
        assert!(e.contains("clouds.nubo.auth.auth_url is missing"), "{e}");
    }
}
