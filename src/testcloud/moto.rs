//! Real hosts behind moto's EC2 instances. moto (`moto_server`) is the real
//! EC2 API of the tests; it keeps instances as records only. [`MotoHosts`]
//! watches them through EC2's own `DescribeInstances` and does to a test
//! cloud host what happened to each instance: a running one is booted by
//! cloud-init with the user data moto received (`DescribeInstanceAttribute
//! userData`) at its private address, a stopped one is stopped, a started
//! one started, a terminated one removed.
//!
//! An instance's EBS volumes other than its root (its block device
//! mappings `/dev/sdX`) are loop devices the host sees as `/dev/xvdX`, as
//! a Xen instance on EC2 does, and its NoCloud `local-hostname` is EC2's
//! `ip-A-B-C-D` name.
//!
//! moto chooses the private addresses itself, from the subnet's range: the
//! instances must be in a subnet whose CIDR is the test cloud network's
//! /24 (make the network first, then the VPC and subnet with its
//! [`Network::cidr`]). moto's public addresses cannot be chosen and lead
//! nowhere, so the network is a public one (this machine reaches it), as
//! nubo would run inside the VPC: describe such clusters without a public
//! network. Instances in other subnets are left alone.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{InstanceAttributeName, InstanceStateName};
use base64::Engine as _;

use super::emu::backing::{Backing, HostOp};
use super::{Boot, HostSpec, Network, Nic, TestCloud};

/// What the watcher last did to an instance's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Running,
    Stopped,
    Gone,
}

/// The watcher; stops when dropped (the hosts stay until the test cloud
/// is destroyed).
pub struct MotoHosts {
    task: tokio::task::JoinHandle<()>,
    boots: Arc<Mutex<Vec<(String, Boot)>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Drop for MotoHosts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MotoHosts {
    /// Watches moto at `endpoint` (`http://127.0.0.1:PORT`) in `region`
    /// every `period`, for instances in subnet `subnet`, whose range is
    /// `network`'s.
    pub fn start(
        cloud: TestCloud,
        network: Network,
        endpoint: &str,
        region: &str,
        subnet: &str,
        period: Duration,
    ) -> MotoHosts {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                "AKIDNUBOTESTCLOUD",
                "nubo-testcloud",
                None,
                None,
                "nubo test cloud",
            ))
            .endpoint_url(endpoint)
            .build();
        let client = Client::from_conf(conf);
        let boots = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let watcher = Watcher {
            client,
            backing: Arc::new(Backing::new(cloud)),
            network,
            subnet: subnet.to_string(),
            seen: HashMap::new(),
            boots: boots.clone(),
            errors: errors.clone(),
        };
        let task = tokio::spawn(watcher.run(period));
        MotoHosts {
            task,
            boots,
            errors,
        }
    }

    /// Every boot so far: (the instance's node, from nubo's tags, else
    /// its id; boot).
    pub fn boots(&self) -> Vec<(String, Boot)> {
        self.boots.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What went wrong so far (a boot that failed, a call moto refused).
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

struct Watcher {
    client: Client,
    backing: Arc<Backing>,
    network: Network,
    subnet: String,
    seen: HashMap<String, Seen>,
    boots: Arc<Mutex<Vec<(String, Boot)>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    async fn run(mut self, period: Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round().await {
                self.error(format!("DescribeInstances: {e}"));
            }
        }
    }

    fn error(&self, e: String) {
        tracing::warn!(error = %e, "moto test cloud");
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    async fn round(&mut self) -> Result<(), String> {
        let out = self
            .client
            .describe_instances()
            .send()
            .await
            .map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(e).to_string())?;
        for r in out.reservations() {
            for i in r.instances() {
                let (Some(id), Some(state)) = (i.instance_id(), i.state().and_then(|s| s.name()))
                else {
                    continue;
                };
                if i.subnet_id() != Some(self.subnet.as_str()) {
                    continue;
                }
                let want = match state {
                    InstanceStateName::Pending | InstanceStateName::Running => Seen::Running,
                    InstanceStateName::Stopping | InstanceStateName::Stopped => Seen::Stopped,
                    _ => Seen::Gone,
                };
                let had = self.seen.get(id).copied();
                if had == Some(want) || (had.is_none() && want == Seen::Gone) {
                    continue;
                }
                let op = match (had, want) {
                    (None, Seen::Running) => {
                        let Some(ip) = i
                            .private_ip_address()
                            .and_then(|a| a.parse::<Ipv4Addr>().ok())
                        else {
                            continue;
                        };
                        HostOp::Boot(HostSpec {
                            name: id.to_string(),
                            user_data: self.user_data(id).await,
                            instance_id: id.to_string(),
                            local_hostname: Some(format!(
                                "ip-{}",
                                ip.to_string().replace('.', "-")
                            )),
                            nics: vec![Nic {
                                network: self.network.name.clone(),
                                ip,
                            }],
                            volumes: self.volumes(i).await,
                        })
                    }
                    (None, _) => continue,
                    (Some(_), Seen::Gone) => HostOp::Remove,
                    (Some(_), Seen::Stopped) => HostOp::Stop,
                    (Some(_), Seen::Running) => HostOp::Start,
                };
                self.seen.insert(id.to_string(), want);
                let name = node_of(i).unwrap_or_else(|| id.to_string());
                let (boots, errors) = (self.boots.clone(), self.errors.clone());
                self.backing.submit(
                    id,
                    op,
                    Box::new(move |outcome| match outcome {
                        Ok(Some(boot)) => boots
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((name, boot)),
                        Ok(None) => {}
                        Err(e) => errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{name}: {e}")),
                    }),
                );
            }
        }
        Ok(())
    }

    /// The instance's EBS volumes but its root, as the host's `xvdX`.
    async fn volumes(&self, i: &aws_sdk_ec2::types::Instance) -> Vec<super::VolumeSpec> {
        let root = i.root_device_name().unwrap_or_default();
        let mut wanted = Vec::new();
        for m in i.block_device_mappings() {
            let (Some(name), Some(vol)) = (m.device_name(), m.ebs().and_then(|e| e.volume_id()))
            else {
                continue;
            };
            if name == root {
                continue;
            }
            match crate::model::volume_letter(name) {
                Some(x) => wanted.push((format!("xvd{x}"), vol.to_string())),
                None => self.error(format!("device {name} of {vol} is not /dev/sdX")),
            }
        }
        if wanted.is_empty() {
            return Vec::new();
        }
        let ids: Vec<String> = wanted.iter().map(|(_, v)| v.clone()).collect();
        let sizes: HashMap<String, i32> = match self
            .client
            .describe_volumes()
            .set_volume_ids(Some(ids))
            .send()
            .await
        {
            Ok(out) => out
                .volumes()
                .iter()
                .filter_map(|v| Some((v.volume_id()?.to_string(), v.size()?)))
                .collect(),
            Err(e) => {
                self.error(format!(
                    "DescribeVolumes: {}",
                    aws_sdk_ec2::error::DisplayErrorContext(e)
                ));
                return Vec::new();
            }
        };
        wanted
            .into_iter()
            .filter_map(|(dev, vol)| {
                let gib = u32::try_from(*sizes.get(&vol)?).ok()?;
                Some(super::VolumeSpec {
                    dev,
                    size_mib: gib.saturating_mul(1024),
                })
            })
            .collect()
    }

    /// The user data moto received for instance `id`, decoded.
    async fn user_data(&self, id: &str) -> String {
        let got = self
            .client
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await;
        let encoded = match got {
            Ok(a) => a
                .user_data()
                .and_then(|u| u.value())
                .unwrap_or_default()
                .to_string(),
            Err(e) => {
                self.error(format!(
                    "{id}: DescribeInstanceAttribute userData: {}",
                    aws_sdk_ec2::error::DisplayErrorContext(e)
                ));
                return String::new();
            }
        };
        // EC2 answers the user data base64-encoded; what nubo sent was
        // base64 already, which moto may keep as it came.
        let decode = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let mut text = encoded;
        for _ in 0..2 {
            if text.starts_with("#cloud-config") {
                break;
            }
            match decode(&text) {
                Some(t) => text = t,
                None => break,
            }
        }
        text
    }
}

/// The node nubo made an instance for: its `nubo:node` tag, or its entry in
/// the `nubo:batch:K` tags of the call that made it with others.
fn node_of(i: &aws_sdk_ec2::types::Instance) -> Option<String> {
    use crate::provider::ec2::label;
    let tags = || i.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)));
    if let Some((_, n)) = tags().find(|(k, _)| *k == label::TAG_NODE) {
        return Some(n.to_string());
    }
    let index = usize::try_from(i.ami_launch_index()?).ok()?;
    label::batch_entry(tags(), index).map(|(node, _)| node)
}
