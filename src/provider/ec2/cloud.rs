//! [`Ec2`]: the EC2 provider behind the [`Provider`] trait.
//!
//! A VM's provider id is `REGION/INSTANCE_ID` (`us-east-1/i-0abc...`):
//! instance ids are per region, and a cluster's systems may name
//! different regions in their image URLs. A create first looks for an
//! instance of the cluster tagged with the request's token (left by an
//! earlier try that crashed before recording it), then calls RunInstances
//! with a `ClientToken` derived from the token, so neither a retried call
//! nor a retried create makes a second instance. An instance whose
//! `nubo:cluster` tag names another cluster is treated as absent: nubo
//! never stops or destroys it through this cluster.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, Instance, InstanceInterruptionBehavior,
    InstanceLifecycleType, InstanceMarketOptionsRequest, InstanceNetworkInterfaceSpecification,
    InstanceStateName, InstanceType, IpPermission, IpRange, MarketType, ResourceType,
    SpotInstanceType, SpotMarketOptions, Tag, TagSpecification, UserIdGroupPair,
};

use super::catalog::Catalog;
use super::error::{Class, Ec2Error};
use super::label::{self, TAG_CLUSTER, TAG_NAME, TAG_NODE, TAG_SSH_USER, TAG_TOKEN};
use super::network::{self, Rule, Subnet};
use crate::auth::Credential;
use crate::model::NetworkSpec;
use crate::provider::openstack::flavor::Requirements;
use crate::provider::openstack::{DEFAULT_USER, ssh_user, userdata};
use crate::provider::{
    BoxFuture, Provider, ProviderError, Result, SshAccess, VmInfo, VmRequest, VmStatus,
};
use crate::radl::features::{Entry, FeatureSet, number_of};

/// The region when neither the image URL nor the auth line names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Timings; the defaults suit a real cloud, tests shorten them.
#[derive(Clone, Debug)]
pub struct Ec2Options {
    /// Bound on one attempt of one API call.
    pub call_timeout: Duration,
    /// Attempts of one API call (the SDK's standard retry: throttling,
    /// 5xx and transport errors, with backoff).
    pub call_attempts: u32,
    /// The longest pause between two looks at an instance (the first
    /// looks come sooner).
    pub poll_interval: Duration,
    /// How long an instance may take to run, stop, or go away.
    pub boot_timeout: Duration,
}

impl Default for Ec2Options {
    fn default() -> Self {
        Ec2Options {
            call_timeout: Duration::from_secs(30),
            call_attempts: 4,
            poll_interval: Duration::from_secs(5),
            boot_timeout: Duration::from_secs(900),
        }
    }
}

/// (region, cluster, VPC): where a cluster's group is.
type GroupKey = (String, String, String);

/// One AWS account (or EC2-compatible endpoint), as one access key.
pub struct Ec2 {
    id: String,
    credentials: Credentials,
    /// The endpoint override: the auth line's `host`, else
    /// `AWS_ENDPOINT_URL_EC2`, else `AWS_ENDPOINT_URL`.
    endpoint: Option<String>,
    /// The auth line's `region`/`service_region`, else us-east-1.
    region: String,
    options: Ec2Options,
    catalog: Catalog,
    clients: std::sync::Mutex<HashMap<String, Client>>,
    /// Serialises finding-or-making the cluster's group and key pair in
    /// this process, and remembers the ones made: (region, cluster, vpc)
    /// → (group id, rules it has).
    groups: tokio::sync::Mutex<HashMap<GroupKey, (String, Vec<Rule>)>>,
    /// (region, key name) → whether EC2 holds it (false: EC2 refused the
    /// key's format, the user data alone carries it).
    keys: tokio::sync::Mutex<HashMap<(String, String), bool>>,
    /// The default VPC of each region.
    default_vpcs: tokio::sync::Mutex<HashMap<String, String>>,
    /// The regions the account has, once asked.
    regions: tokio::sync::OnceCell<Vec<String>>,
}

impl std::fmt::Debug for Ec2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The region and AMI of `aws://REGION/ami-ID` (IM's form).
pub fn image_of(url: &str) -> std::result::Result<(String, String), Ec2Error> {
    let rest = url.strip_prefix("aws://").ok_or_else(|| {
        Ec2Error::Request(format!(
            "image `{url}` is not an EC2 image: EC2 takes `disk.0.image.url = 'aws://REGION/ami-ID'`"
        ))
    })?;
    let (region, ami) = rest
        .split_once('/')
        .filter(|(r, a)| {
            !r.is_empty()
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && a.starts_with("ami-")
                && a.len() > 4
                && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .ok_or_else(|| {
            Ec2Error::Request(format!(
                "image `{url}` is not of the form `aws://REGION/ami-ID`"
            ))
        })?;
    Ok((region.to_string(), ami.to_string()))
}

/// The endpoint to call: the auth line's `host` (a bare host name means
/// `https://`), else `AWS_ENDPOINT_URL_EC2`, else `AWS_ENDPOINT_URL` (as
/// the AWS SDKs read them), else AWS's own for the region (`None`).
pub fn endpoint_of(
    host: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<String>, String> {
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let endpoint = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if h.contains("://") => Some(h.to_string()),
        Some(h) => Some(format!("https://{h}")),
        None => env("AWS_ENDPOINT_URL_EC2").or_else(|| env("AWS_ENDPOINT_URL")),
    };
    match endpoint {
        Some(e) if !(e.starts_with("http://") || e.starts_with("https://")) => {
            Err(format!("endpoint `{e}` is not an http:// or https:// URL"))
        }
        e => Ok(e),
    }
}

/// The root volume's size in GiB that `disk.0.size` asks for (its lower
/// bound, rounded up), as IM sizes it; `None` keeps the AMI's size.
pub fn root_size_gib(features: &FeatureSet) -> Option<i32> {
    let Some(Entry::Interval(lo, _)) = features.entries.get("disk.0.size") else {
        return None;
    };
    let bytes = number_of(lo.as_ref()?)?.as_f64();
    if !bytes.is_finite() || bytes <= 0.0 {
        return None;
    }
    let gib = (bytes / 1_073_741_824.0).ceil();
    Some(gib.min(f64::from(i32::MAX)) as i32)
}

/// `REGION/INSTANCE_ID`, the provider id of a VM.
pub fn vm_id(region: &str, instance: &str) -> String {
    format!("{region}/{instance}")
}

fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn status_of(i: &Instance) -> VmStatus {
    match i.state().and_then(|s| s.name()) {
        Some(InstanceStateName::Pending) => VmStatus::Pending,
        Some(InstanceStateName::Running) => VmStatus::Running,
        Some(InstanceStateName::Stopping | InstanceStateName::Stopped) => VmStatus::Stopped,
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated) => {
            VmStatus::Terminated
        }
        _ => VmStatus::Unknown,
    }
}

fn state_name(i: &Instance) -> &str {
    i.state()
        .and_then(|s| s.name())
        .map(|n| n.as_str())
        .unwrap_or("unknown")
}

fn to_info(region: &str, i: &Instance) -> VmInfo {
    let addresses = [i.public_ip_address(), i.private_ip_address()]
        .into_iter()
        .flatten()
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    VmInfo {
        id: vm_id(region, i.instance_id().unwrap_or_default()),
        node: tag(i, TAG_NODE).map(str::to_string),
        token: tag(i, TAG_TOKEN).map(str::to_string),
        addresses,
        status: status_of(i),
    }
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn tags(kind: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

/// Every state but `terminated`: what the cluster still holds.
const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

/// Runs futures concurrently (on this task) and returns their outputs in
/// order.
async fn join_all<'a, T>(mut futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, f) in out.iter_mut().zip(futures.iter_mut()) {
            if slot.is_none() {
                match Pin::as_mut(f).poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

impl Ec2 {
    /// From an auth-file credential of type `EC2`.
    pub fn from_credential(c: &Credential) -> std::result::Result<Self, Ec2Error> {
        Self::with_options(c, Ec2Options::default())
    }

    pub fn with_options(
        c: &Credential,
        options: Ec2Options,
    ) -> std::result::Result<Self, Ec2Error> {
        let bad = |message: String| Ec2Error::Credential {
            credential: c.describe(),
            message,
        };
        c.check_kind("EC2").map_err(bad)?;
        let get = |key: &str| c.nonblank(key);
        let access =
            get("username").ok_or_else(|| bad("needs `username` (the access key id)".into()))?;
        let secret = get("password")
            .ok_or_else(|| bad("needs `password` (the secret access key)".into()))?;
        let token = get("token").map(str::to_string);
        let endpoint = endpoint_of(get("host"), |name| std::env::var(name).ok()).map_err(bad)?;
        let region = get("region")
            .or_else(|| get("service_region"))
            .unwrap_or(DEFAULT_REGION)
            .to_string();
        Ok(Ec2 {
            id: c.id.clone().unwrap_or_else(|| "ec2".into()),
            credentials: Credentials::new(access, secret, token, None, "nubo auth file"),
            endpoint,
            region,
            options,
            catalog: Catalog::builtin(),
            clients: std::sync::Mutex::new(HashMap::new()),
            groups: tokio::sync::Mutex::new(HashMap::new()),
            keys: tokio::sync::Mutex::new(HashMap::new()),
            default_vpcs: tokio::sync::Mutex::new(HashMap::new()),
            regions: tokio::sync::OnceCell::new(),
        })
    }

    /// The region used when an image URL names none.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint calls go to, when overridden.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The SDK client for a region (made once).
    pub fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let mut b = aws_sdk_ec2::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(region.to_string()))
                    .credentials_provider(self.credentials.clone())
                    .retry_config(
                        RetryConfig::standard().with_max_attempts(self.options.call_attempts),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(10))
                            .operation_attempt_timeout(self.options.call_timeout)
                            .build(),
                    );
                if let Some(e) = &self.endpoint {
                    b = b.endpoint_url(e);
                }
                Client::from_conf(b.build())
            })
            .clone()
    }

    fn split_id<'a>(&'a self, id: &'a str) -> (&'a str, &'a str) {
        match id.split_once('/') {
            Some((region, instance)) => (region, instance),
            None => (self.region.as_str(), id),
        }
    }

    /// The regions to look for a cluster's resources in: every region the
    /// account has (asked once), else this line's region and the ones
    /// this process used.
    async fn sweep_regions(&self) -> Vec<String> {
        let asked = self
            .regions
            .get_or_try_init(|| async {
                let out = self
                    .client(&self.region)
                    .describe_regions()
                    .send()
                    .await
                    .map_err(|e| Ec2Error::from_sdk("DescribeRegions", e))?;
                Ok::<_, Ec2Error>(
                    out.regions()
                        .iter()
                        .filter_map(|r| r.region_name().map(str::to_string))
                        .collect::<Vec<_>>(),
                )
            })
            .await;
        let mut regions = match asked {
            Ok(r) => r.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the EC2 regions; looking in the known ones only");
                Vec::new()
            }
        };
        let used: Vec<String> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for r in std::iter::once(self.region.clone()).chain(used) {
            if !regions.contains(&r) {
                regions.push(r);
            }
        }
        regions
    }

    // ---- instances ----

    /// Instances matching `filters` (and `ids`), page after page.
    async fn describe(
        &self,
        region: &str,
        ids: &[&str],
        filters: Vec<Filter>,
    ) -> std::result::Result<Vec<Instance>, Ec2Error> {
        let client = self.client(region);
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut call = client
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .set_next_token(next.clone());
            if ids.is_empty() {
                call = call.max_results(1000);
            } else {
                call = call.set_instance_ids(Some(ids.iter().map(|i| i.to_string()).collect()));
            }
            let page = call
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("DescribeInstances", e))?;
            for r in page.reservations() {
                out.extend(r.instances().iter().cloned());
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && next.as_deref() != Some(t) => {
                    next = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// The cluster's instances in a region that are not terminated.
    pub async fn cluster_instances(
        &self,
        region: &str,
        cluster: &str,
    ) -> std::result::Result<Vec<Instance>, Ec2Error> {
        self.describe(
            region,
            &[],
            vec![
                filter(&format!("tag:{TAG_CLUSTER}"), &[cluster]),
                filter("instance-state-name", LIVE_STATES),
            ],
        )
        .await
    }

    /// The instance `id` (`REGION/INSTANCE`) if it exists, is not
    /// terminated and belongs to `cluster`.
    async fn owned(&self, cluster: &str, id: &str) -> Result<Option<Instance>> {
        let (region, instance) = self.split_id(id);
        if instance.is_empty() {
            return Ok(None);
        }
        let found = match self.describe(region, &[instance], Vec::new()).await {
            Ok(found) => found,
            Err(e) if e.is_not_found() || e.code() == "InvalidInstanceID.Malformed" => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let Some(i) = found
            .into_iter()
            .find(|i| i.instance_id() == Some(instance))
        else {
            return Ok(None);
        };
        if state_name(&i) == "terminated" {
            return Ok(None);
        }
        if tag(&i, TAG_CLUSTER) != Some(cluster) {
            tracing::warn!(id, cluster, "EC2 instance is not this cluster's; ignored");
            return Ok(None);
        }
        Ok(Some(i))
    }

    async fn owned_or_not_found(&self, cluster: &str, id: &str) -> Result<Instance> {
        self.owned(cluster, id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("EC2 instance {id} of cluster `{cluster}`"))
        })
    }

    /// Polls until `done` accepts the instance (or says it never will),
    /// or the boot timeout passes. Looks come after 0.5 s, then twice as
    /// far apart up to the poll interval.
    async fn wait_for(
        &self,
        cluster: &str,
        id: &str,
        what: &str,
        done: impl Fn(&Instance) -> Result<bool>,
    ) -> Result<Instance> {
        let deadline = Instant::now() + self.options.boot_timeout;
        let mut pause = Duration::from_millis(500).min(self.options.poll_interval);
        loop {
            let i = self.owned_or_not_found(cluster, id).await?;
            if done(&i)? {
                return Ok(i);
            }
            if Instant::now() >= deadline {
                return Err(ProviderError::Transient(format!(
                    "EC2 instance {id} is not {what} after {:?} (state {})",
                    self.options.boot_timeout,
                    state_name(&i)
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.options.poll_interval);
        }
    }

    // ---- networks: the default VPC, the cluster's security group ----

    async fn default_vpc(&self, region: &str) -> Result<String> {
        let mut known = self.default_vpcs.lock().await;
        if let Some(v) = known.get(region) {
            return Ok(v.clone());
        }
        let out = self
            .client(region)
            .describe_vpcs()
            .filters(filter("isDefault", &["true"]))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeVpcs", e))?;
        let vpc = out
            .vpcs()
            .iter()
            .find_map(|v| v.vpc_id())
            .ok_or_else(|| {
                ProviderError::Final(format!(
                    "EC2 region {region} has no default VPC: give the network a `provider_id = 'vpc-ID.subnet-ID'`"
                ))
            })?
            .to_string();
        known.insert(region.to_string(), vpc.clone());
        Ok(vpc)
    }

    /// The VPC a subnet is in (as written, or asked).
    async fn vpc_of(&self, region: &str, subnet: Option<&Subnet>) -> Result<String> {
        match subnet {
            None => self.default_vpc(region).await,
            Some(Subnet { vpc: Some(v), .. }) => Ok(v.clone()),
            Some(Subnet { subnet, .. }) => {
                let out = self
                    .client(region)
                    .describe_subnets()
                    .subnet_ids(subnet)
                    .send()
                    .await
                    .map_err(|e| Ec2Error::from_sdk("DescribeSubnets", e))?;
                out.subnets()
                    .iter()
                    .find_map(|s| s.vpc_id())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ProviderError::Final(format!("EC2 subnet {subnet} is not in {region}"))
                    })
            }
        }
    }

    /// The cluster's group in a VPC, made now if missing, with at least
    /// `rules`.
    async fn ensure_group(
        &self,
        region: &str,
        cluster: &str,
        vpc: &str,
        rules: &[Rule],
    ) -> Result<String> {
        let mut known = self.groups.lock().await;
        let key = (region.to_string(), cluster.to_string(), vpc.to_string());
        if let Some((id, has)) = known.get(&key)
            && rules.iter().all(|r| has.contains(r))
        {
            return Ok(id.clone());
        }
        let client = self.client(region);
        let name = label::group_name(cluster);
        let out = client
            .describe_security_groups()
            .filters(filter("group-name", &[&name]))
            .filters(filter("vpc-id", &[vpc]))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeSecurityGroups", e))?;
        let (id, existing) = match out.security_groups().first() {
            Some(g) => {
                let marked = g
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_CLUSTER) && t.value() == Some(cluster));
                if !marked {
                    return Err(ProviderError::Final(format!(
                        "EC2 security group `{name}` in {vpc} exists but nubo did not make it for cluster `{cluster}` (no `{TAG_CLUSTER}` tag): remove or rename it"
                    )));
                }
                let id = g.group_id().unwrap_or_default().to_string();
                (id.clone(), rules_of(&id, g.ip_permissions()))
            }
            None => {
                let made = client
                    .create_security_group()
                    .group_name(&name)
                    .description(format!("nubo cluster {cluster}"))
                    .vpc_id(vpc)
                    .tag_specifications(tags(
                        ResourceType::SecurityGroup,
                        &[(TAG_CLUSTER, cluster), (TAG_NAME, &name)],
                    ))
                    .send()
                    .await
                    .map_err(|e| Ec2Error::from_sdk("CreateSecurityGroup", e))?;
                let id = made
                    .group_id()
                    .ok_or_else(|| {
                        ProviderError::from(Ec2Error::Malformed {
                            operation: "CreateSecurityGroup".into(),
                            message: "no group id".into(),
                        })
                    })?
                    .to_string();
                tracing::info!(cluster, region, group = name, id, "EC2 security group made");
                (id, Vec::new())
            }
        };
        let missing: Vec<&Rule> = rules.iter().filter(|r| !existing.contains(r)).collect();
        if !missing.is_empty() {
            let perms = missing.iter().map(|r| permission(&id, r)).collect();
            match client
                .authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(perms))
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("AuthorizeSecurityGroupIngress", e))
            {
                Ok(_) => {}
                // Another process added them meanwhile.
                Err(e) if e.code() == "InvalidPermission.Duplicate" => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut has = existing;
        has.extend(missing.into_iter().cloned());
        known.insert(key, (id.clone(), has));
        Ok(id)
    }

    /// The key pair with the cluster's public key, imported now if
    /// missing; `None` when EC2 refuses the key's format (the user data
    /// still installs it).
    async fn ensure_key(
        &self,
        region: &str,
        cluster: &str,
        public_key: &str,
    ) -> Result<Option<String>> {
        let name = label::key_name(cluster, public_key);
        let mut known = self.keys.lock().await;
        if let Some(held) = known.get(&(region.to_string(), name.clone())) {
            return Ok(held.then_some(name));
        }
        let client = self.client(region);
        let out = client
            .describe_key_pairs()
            .filters(filter("key-name", &[&name]))
            .send()
            .await;
        let exists = match out {
            Ok(o) => !o.key_pairs().is_empty(),
            Err(e) => {
                let e = Ec2Error::from_sdk("DescribeKeyPairs", e);
                if !e.is_not_found() {
                    return Err(e.into());
                }
                false
            }
        };
        let held = if exists {
            true
        } else {
            match client
                .import_key_pair()
                .key_name(&name)
                .public_key_material(Blob::new(public_key.trim().as_bytes().to_vec()))
                .tag_specifications(tags(
                    ResourceType::KeyPair,
                    &[(TAG_CLUSTER, cluster), (TAG_NAME, &name)],
                ))
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("ImportKeyPair", e))
            {
                Ok(_) => {
                    tracing::info!(cluster, region, key = name, "EC2 key pair imported");
                    true
                }
                Err(e) if e.code() == "InvalidKeyPair.Duplicate" => true,
                Err(e) if e.code() == "InvalidKeyPair.Format" => {
                    tracing::warn!(cluster, error = %e, "EC2 refuses the cluster key's format; the user data alone installs it");
                    false
                }
                Err(e) => return Err(e.into()),
            }
        };
        known.insert((region.to_string(), name.clone()), held);
        Ok(held.then_some(name))
    }

    /// The root device of an AMI with a volume of `size` GiB (of
    /// `disk.0.type` when given, e.g. `gp3`).
    async fn root_volume(
        &self,
        region: &str,
        ami: &str,
        size: i32,
        features: &FeatureSet,
    ) -> Result<BlockDeviceMapping> {
        let out = self
            .client(region)
            .describe_images()
            .image_ids(ami)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeImages", e))?;
        let image = out
            .images()
            .first()
            .ok_or_else(|| ProviderError::Final(format!("EC2 has no image {ami} in {region}")))?;
        let device = image
            .root_device_name()
            .or_else(|| {
                image
                    .block_device_mappings()
                    .iter()
                    .find(|m| m.ebs().is_some())
                    .and_then(|m| m.device_name())
            })
            .ok_or_else(|| {
                ProviderError::Final(format!(
                    "EC2 image {ami} names no root device, so `disk.0.size` cannot size it"
                ))
            })?;
        let ebs = EbsBlockDevice::builder()
            .volume_size(size)
            .delete_on_termination(true)
            .set_volume_type(
                features
                    .get_str("disk.0.type")
                    .filter(|t| !t.is_empty())
                    .map(Into::into),
            )
            .build();
        Ok(BlockDeviceMapping::builder()
            .device_name(device)
            .ebs(ebs)
            .build())
    }

    /// Creates the VM of a request (see [`Provider::create_vm`]).
    async fn create(&self, req: &VmRequest) -> Result<VmInfo> {
        let features = &req.system.features;
        let url = req
            .system
            .image_url
            .as_deref()
            .or_else(|| features.get_str("disk.0.image.url"))
            .ok_or_else(|| {
                ProviderError::Final(format!(
                    "system `{}` has no `disk.0.image.url`; EC2 needs 'aws://REGION/ami-ID'",
                    req.system.name
                ))
            })?;
        let (region, ami) = image_of(url)?;
        let region = region.as_str();
        if let Some(i) = self
            .describe(
                region,
                &[],
                vec![
                    filter(&format!("tag:{TAG_CLUSTER}"), &[&req.cluster]),
                    filter(&format!("tag:{TAG_TOKEN}"), &[&req.token]),
                    filter(
                        "instance-state-name",
                        &["pending", "running", "stopping", "stopped"],
                    ),
                ],
            )
            .await?
            .first()
        {
            tracing::info!(
                cluster = req.cluster,
                node = req.node,
                id = i.instance_id(),
                "EC2 instance for this token exists; not creating another"
            );
            return Ok(to_info(region, i));
        }
        let instance_type = self.instance_type(req)?;
        let subnet = network::subnet_for(&req.networks)?;
        let root = match root_size_gib(features) {
            Some(size) => Some(self.root_volume(region, &ami, size, features).await?),
            None => None,
        };
        let vpc = self.vpc_of(region, subnet.as_ref()).await?;
        let group = self
            .ensure_group(
                region,
                &req.cluster,
                &vpc,
                &network::rules_for(&req.networks),
            )
            .await?;
        let key = self
            .ensure_key(region, &req.cluster, &req.public_key)
            .await?;
        let user = ssh_user(features);
        let user_data = userdata::cloud_config(&req.node, &user, &req.public_key);
        let name = label::instance_name(&req.cluster, &req.node);
        let instance_tags = [
            (TAG_CLUSTER, req.cluster.as_str()),
            (TAG_NODE, req.node.as_str()),
            (TAG_TOKEN, req.token.as_str()),
            (TAG_SSH_USER, user.as_str()),
            (TAG_NAME, name.as_str()),
        ];
        let mut call = self
            .client(region)
            .run_instances()
            .image_id(&ami)
            .instance_type(InstanceType::from(instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(label::client_token(&req.cluster, &req.node, &req.token))
            .user_data(userdata::base64(user_data.as_bytes()))
            .set_key_name(key)
            .set_block_device_mappings(root.map(|r| vec![r]))
            .tag_specifications(tags(ResourceType::Instance, &instance_tags))
            .tag_specifications(tags(
                ResourceType::Volume,
                &[(TAG_CLUSTER, &req.cluster), (TAG_NAME, &name)],
            ));
        let public = req.networks.iter().any(|n| n.public);
        call = match &subnet {
            // A named subnet may not give public addresses by itself.
            Some(s) if public => call.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(&s.subnet)
                    .associate_public_ip_address(true)
                    .groups(&group)
                    .build(),
            ),
            Some(s) => call.subnet_id(&s.subnet).security_group_ids(&group),
            None => call.security_group_ids(&group),
        };
        let spot = features
            .get_str("spot")
            .is_some_and(|s| s.eq_ignore_ascii_case("yes"));
        if spot {
            call = call.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .spot_options(
                        SpotMarketOptions::builder()
                            .spot_instance_type(SpotInstanceType::OneTime)
                            .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = call
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("RunInstances", e))?;
        let i = out.instances().first().ok_or_else(|| {
            ProviderError::from(Ec2Error::Malformed {
                operation: "RunInstances".into(),
                message: "no instance in the answer".into(),
            })
        })?;
        tracing::info!(
            cluster = req.cluster,
            node = req.node,
            region,
            id = i.instance_id(),
            instance_type,
            spot,
            "EC2 instance launched"
        );
        let mut info = to_info(region, i);
        // RunInstances' answer may lack the tags: say what was asked.
        info.node.get_or_insert_with(|| req.node.clone());
        info.token.get_or_insert_with(|| req.token.clone());
        Ok(info)
    }

    /// The instance type for a request.
    fn instance_type(&self, req: &VmRequest) -> Result<String> {
        let want = Requirements::of(&req.system.features);
        self.catalog
            .choose(&want)
            .map_err(|e| ProviderError::Final(format!("system `{}`: {e}", req.system.name)))
    }

    /// The security groups (one per cluster and VPC) the cluster has in a
    /// region.
    pub async fn cluster_groups(
        &self,
        region: &str,
        cluster: &str,
    ) -> std::result::Result<Vec<String>, Ec2Error> {
        let out = self
            .client(region)
            .describe_security_groups()
            .filters(filter(&format!("tag:{TAG_CLUSTER}"), &[cluster]))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeSecurityGroups", e))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect())
    }

    /// The key pairs the cluster has in a region.
    pub async fn cluster_key_pairs(
        &self,
        region: &str,
        cluster: &str,
    ) -> std::result::Result<Vec<String>, Ec2Error> {
        let out = self
            .client(region)
            .describe_key_pairs()
            .filters(filter(&format!("tag:{TAG_CLUSTER}"), &[cluster]))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeKeyPairs", e))?;
        Ok(out
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name().map(str::to_string))
            .collect())
    }

    /// Removes what the cluster has in one region: instances (terminated,
    /// then waited for, since a group in use cannot go), security groups,
    /// key pairs. Returns the first error after trying everything.
    async fn sweep_region(&self, region: &str, cluster: &str) -> Result<()> {
        let client = self.client(region);
        let mut first_error: Option<ProviderError> = None;
        let mut note = |e: ProviderError, what: &str| {
            tracing::warn!(cluster, region, error = %e, "cannot remove EC2 {what}");
            first_error.get_or_insert(e);
        };
        let instances = self.cluster_instances(region, cluster).await?;
        let ids: Vec<String> = instances
            .iter()
            .filter(|i| state_name(i) != "shutting-down")
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        for chunk in ids.chunks(500) {
            match client
                .terminate_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .send()
                .await
            {
                Ok(_) => {
                    tracing::info!(cluster, region, n = chunk.len(), "EC2 instances terminated")
                }
                Err(e) => note(
                    Ec2Error::from_sdk("TerminateInstances", e).into(),
                    "instances",
                ),
            }
        }
        let groups = self.cluster_groups(region, cluster).await?;
        let keys = self.cluster_key_pairs(region, cluster).await?;
        let deadline = Instant::now() + self.options.boot_timeout;
        if !groups.is_empty() && !instances.is_empty() {
            let mut pause = Duration::from_millis(500).min(self.options.poll_interval);
            loop {
                let left = self.cluster_instances(region, cluster).await?;
                if left.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    note(
                        ProviderError::Transient(format!(
                            "{} EC2 instances of cluster `{cluster}` in {region} are still there after {:?}",
                            left.len(),
                            self.options.boot_timeout
                        )),
                        "instances",
                    );
                    break;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(self.options.poll_interval);
            }
        }
        for g in &groups {
            let mut pause = Duration::from_millis(500).min(self.options.poll_interval);
            loop {
                match client
                    .delete_security_group()
                    .group_id(g)
                    .send()
                    .await
                    .map_err(|e| Ec2Error::from_sdk("DeleteSecurityGroup", e))
                {
                    Ok(_) => {
                        tracing::info!(cluster, region, group = g, "EC2 security group deleted");
                        break;
                    }
                    Err(e) if e.is_not_found() => break,
                    // Still used by an instance going away.
                    Err(e) if e.class() == Class::Transient && Instant::now() < deadline => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(self.options.poll_interval);
                    }
                    Err(e) => {
                        note(e.into(), "security group");
                        break;
                    }
                }
            }
        }
        for k in &keys {
            match client.delete_key_pair().key_name(k).send().await {
                Ok(_) => tracing::info!(cluster, region, key = k, "EC2 key pair deleted"),
                Err(e) => {
                    let e = Ec2Error::from_sdk("DeleteKeyPair", e);
                    if !e.is_not_found() {
                        note(e.into(), "key pair");
                    }
                }
            }
        }
        // What this process remembers of the region is gone now.
        self.groups
            .lock()
            .await
            .retain(|(r, c, _), _| !(r == region && c == cluster));
        let prefix = label::group_name(cluster) + "-";
        self.keys
            .lock()
            .await
            .retain(|(r, k), _| !(r == region && k.starts_with(&prefix)));
        first_error.map_or(Ok(()), Err)
    }
}

/// The rules a group's permissions hold, in [`Rule`]'s terms.
fn rules_of(group_id: &str, perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or_default().to_string();
        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        for r in p.ip_ranges() {
            out.push(Rule {
                protocol: protocol.clone(),
                from,
                to,
                cidr: r.cidr_ip().map(str::to_string),
            });
        }
        if p.user_id_group_pairs()
            .iter()
            .any(|g| g.group_id() == Some(group_id))
        {
            out.push(Rule {
                protocol: protocol.clone(),
                from,
                to,
                cidr: None,
            });
        }
    }
    out
}

fn permission(group_id: &str, r: &Rule) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol(&r.protocol)
        .from_port(r.from)
        .to_port(r.to);
    match &r.cidr {
        Some(cidr) => b.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        None => b.user_id_group_pairs(UserIdGroupPair::builder().group_id(group_id).build()),
    }
    .build()
}

impl Provider for Ec2 {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "EC2"
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.client(&self.region)
                .describe_availability_zones()
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("DescribeAvailabilityZones", e))?;
            tracing::debug!(
                region = self.region,
                endpoint = self.endpoint.as_deref().unwrap_or("AWS"),
                "EC2 credentials accepted"
            );
            Ok(())
        })
    }

    fn ensure_network<'a>(
        &'a self,
        cluster: &'a str,
        network: &'a NetworkSpec,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            // A bad provider_id fails here, before any instance. The group
            // is made in this line's region; instances in other regions
            // make theirs when they are created.
            let subnet = network::subnet_of(network)?;
            let vpc = self.vpc_of(&self.region, subnet.as_ref()).await?;
            let rules = network::rules_for(std::slice::from_ref(network));
            Ok(Some(
                self.ensure_group(&self.region, cluster, &vpc, &rules)
                    .await?,
            ))
        })
    }

    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            // What a create names and EC2 lacks (an AMI, a subnet) is a
            // wrong request, not a VM gone.
            self.create(req).await.map_err(|e| match e {
                ProviderError::NotFound(m) => ProviderError::Final(m),
                e => e,
            })
        })
    }

    fn wait_running<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            let (region, _) = self.split_id(id);
            let i = self
                .wait_for(cluster, id, "running", |i| match status_of(i) {
                    VmStatus::Running => {
                        Ok(i.public_ip_address().is_some() || i.private_ip_address().is_some())
                    }
                    VmStatus::Terminated => Err(ProviderError::NotFound(format!(
                        "EC2 instance {id} is {}{}",
                        state_name(i),
                        i.state_reason()
                            .and_then(|r| r.message())
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ))),
                    _ => Ok(false),
                })
                .await?;
            Ok(to_info(region, &i))
        })
    }

    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>> {
        Box::pin(async move {
            let (region, _) = self.split_id(id);
            Ok(self.owned(cluster, id).await?.map(|i| to_info(region, &i)))
        })
    }

    fn stop_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let i = self.owned_or_not_found(cluster, id).await?;
            if i.instance_lifecycle() == Some(&InstanceLifecycleType::Spot) {
                return Err(ProviderError::Unsupported(format!(
                    "EC2 instance {id} is a one-time spot instance, which cannot be stopped"
                )));
            }
            match state_name(&i) {
                "stopped" => return Ok(()),
                "stopping" => {}
                _ => {
                    let (region, instance) = self.split_id(id);
                    self.client(region)
                        .stop_instances()
                        .instance_ids(instance)
                        .send()
                        .await
                        .map_err(|e| Ec2Error::from_sdk("StopInstances", e))?;
                }
            }
            self.wait_for(cluster, id, "stopped", |i| Ok(state_name(i) == "stopped"))
                .await?;
            Ok(())
        })
    }

    fn start_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            let mut i = self.owned_or_not_found(cluster, id).await?;
            if state_name(&i) == "stopping" {
                i = self
                    .wait_for(cluster, id, "stopped", |i| Ok(state_name(i) != "stopping"))
                    .await?;
            }
            if state_name(&i) == "stopped" {
                let (region, instance) = self.split_id(id);
                self.client(region)
                    .start_instances()
                    .instance_ids(instance)
                    .send()
                    .await
                    .map_err(|e| Ec2Error::from_sdk("StartInstances", e))?;
            }
            self.wait_running(cluster, id).await
        })
    }

    fn destroy_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(i) = self.owned(cluster, id).await? else {
                return Ok(());
            };
            if state_name(&i) == "shutting-down" {
                return Ok(());
            }
            let (region, instance) = self.split_id(id);
            match self
                .client(region)
                .terminate_instances()
                .instance_ids(instance)
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("TerminateInstances", e))
            {
                Ok(_) => {
                    tracing::info!(cluster, id, "EC2 instance terminated");
                    Ok(())
                }
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list_vms<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>> {
        Box::pin(async move {
            let regions = self.sweep_regions().await;
            let lists = join_all(
                regions
                    .iter()
                    .map(|r| -> BoxFuture<'_, _> {
                        Box::pin(async move {
                            self.cluster_instances(r, cluster)
                                .await
                                .map(|is| is.iter().map(|i| to_info(r, i)).collect::<Vec<_>>())
                        })
                    })
                    .collect(),
            )
            .await;
            let mut out = Vec::new();
            for l in lists {
                out.extend(l?.into_iter().filter(|v| v.status != VmStatus::Terminated));
            }
            Ok(out)
        })
    }

    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let regions = self.sweep_regions().await;
            let results = join_all(
                regions
                    .iter()
                    .map(|r| -> BoxFuture<'_, _> { Box::pin(self.sweep_region(r, cluster)) })
                    .collect(),
            )
            .await;
            results.into_iter().collect::<Result<Vec<()>>>()?;
            Ok(())
        })
    }

    fn ssh_access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>> {
        Box::pin(async move {
            let i = self.owned_or_not_found(cluster, &vm.id).await?;
            let (region, _) = self.split_id(&vm.id);
            let host = match vm.addresses.first() {
                Some(a) => a.clone(),
                None => to_info(region, &i)
                    .addresses
                    .first()
                    .cloned()
                    .ok_or_else(|| {
                        ProviderError::Transient(format!(
                            "EC2 instance {} has no address yet",
                            vm.id
                        ))
                    })?,
            };
            let user = tag(&i, TAG_SSH_USER)
                .filter(|u| !u.is_empty())
                .unwrap_or(DEFAULT_USER)
                .to_string();
            Ok(SshAccess::cloud(host, user))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_urls() {
        assert_eq!(
            image_of("aws://eu-west-1/ami-0abc123").unwrap(),
            ("eu-west-1".to_string(), "ami-0abc123".to_string())
        );
        for bad in [
            "aws://eu-west-1/",
            "aws:///ami-1",
            "aws://eu-west-1/img-1",
            "aws://eu-west-1/ami-1/x",
            "aws://eu west/ami-1",
        ] {
            let e = image_of(bad).unwrap_err().to_string();
            assert!(e.contains("aws://REGION/ami-ID"), "{bad}: {e}");
        }
        let e = image_of("ost://h/1").unwrap_err().to_string();
        assert!(e.contains("not an EC2 image"), "{e}");
    }

    #[test]
    fn root_sizes() {
        let size = |text: &str| {
            let v = crate::radl::validate(crate::source::FileId(0), text);
            assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
            root_size_gib(&v.document.systems[0].features)
        };
        assert_eq!(size("system s ()\n"), None);
        assert_eq!(
            size("system s (disk.0.size >= 20G)\n"),
            Some(19),
            "20e9 bytes"
        );
        assert_eq!(size("system s (disk.0.size >= 20Gi)\n"), Some(20));
        assert_eq!(size("system s (disk.0.size = 8GB)\n"), Some(8));
        assert_eq!(size("system s (disk.0.size <= 100G)\n"), None);
    }

    #[test]
    fn endpoints() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both: &[(&str, &str)] = &[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_EC2", "http://ec2:2"),
        ];
        assert_eq!(
            endpoint_of(Some("http://host:3"), env(both))
                .unwrap()
                .as_deref(),
            Some("http://host:3"),
            "host wins"
        );
        assert_eq!(
            endpoint_of(Some("ec2.example.org"), env(both))
                .unwrap()
                .as_deref(),
            Some("https://ec2.example.org")
        );
        assert_eq!(
            endpoint_of(None, env(both)).unwrap().as_deref(),
            Some("http://ec2:2"),
            "the EC2 variable before the general one"
        );
        assert_eq!(
            endpoint_of(
                None,
                env(&[
                    ("AWS_ENDPOINT_URL", "http://general:1"),
                    ("AWS_ENDPOINT_URL_EC2", " ")
                ])
            )
            .unwrap()
            .as_deref(),
            Some("http://general:1")
        );
        assert_eq!(endpoint_of(Some(""), env(&[])).unwrap(), None);
        assert!(endpoint_of(None, env(&[("AWS_ENDPOINT_URL", "ftp://x")])).is_err());
    }

    #[test]
    fn rules_read_back_from_permissions() {
        let rules = network::rules_for(&[]);
        let perms: Vec<IpPermission> = rules.iter().map(|r| permission("sg-1", r)).collect();
        assert_eq!(rules_of("sg-1", &perms), rules);
        // Another group's pair is not "the group itself".
        assert!(rules_of("sg-2", &perms[..1]).is_empty());
    }
}
