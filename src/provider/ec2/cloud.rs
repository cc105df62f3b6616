//! [`Ec2`]: the EC2 provider, a
//! [`Cloud`](crate::provider::cloud::Cloud) and so a
//! [`Provider`](crate::provider::Provider).
//!
//! A VM's provider id is `REGION/INSTANCE_ID` (`us-east-1/i-0abc...`):
//! instance ids are per region, and a cluster's systems may name
//! different regions in their image URLs. A create first looks for an
//! instance of the cluster tagged with the request's token (left by an
//! earlier try that crashed before recording it), then calls RunInstances
//! with a `ClientToken` derived from the token, so neither a retried call
//! nor a retried create makes a second instance. An instance whose
//! `nubo:cluster` tag names another cluster is treated as absent: nubo
//! never stops or destroys it through this cluster (the ownership and the
//! waiting are [`crate::provider::cloud`]'s).
//!
//! The rest of the provider is split by concern: `credentials.rs`,
//! `instances.rs`, `groups.rs`, `keys.rs`, `sweep.rs`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{Instance, InstanceLifecycleType, InstanceStateName};

use super::catalog::Catalog;
use super::error::Ec2Error;
use super::instances::{state, state_name, status_of, tag, to_info};
use super::label::{TAG_CLUSTER, TAG_SSH_USER};
use super::network::{self, Rule};
use super::sweep::join_all;
use crate::model::NetworkSpec;
use crate::provider::cloud::{CLOUDADM, Cloud, CloudVms, Pacing};
use crate::provider::{BoxFuture, ProviderError, Result, VmInfo, VmRequest, VmStatus};

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
pub(super) type GroupKey = (String, String, String);

/// One AWS account (or EC2-compatible endpoint), as one access key.
pub struct Ec2 {
    pub(super) id: String,
    pub(super) credentials: Credentials,
    /// The endpoint override: the auth line's `host`, else
    /// `AWS_ENDPOINT_URL_EC2`, else `AWS_ENDPOINT_URL`.
    pub(super) endpoint: Option<String>,
    /// The auth line's `region`/`service_region`, else us-east-1.
    pub(super) region: String,
    pub(super) options: Ec2Options,
    pub(super) catalog: Catalog,
    pub(super) clients: std::sync::Mutex<HashMap<String, Client>>,
    /// Serialises finding-or-making the cluster's group and key pair in
    /// this process, and remembers the ones made: (region, cluster, vpc)
    /// → (group id, rules it has).
    pub(super) groups: tokio::sync::Mutex<HashMap<GroupKey, (String, Vec<Rule>)>>,
    /// (region, key name) → whether EC2 holds it (false: EC2 refused the
    /// key's format, the user data alone carries it).
    pub(super) keys: tokio::sync::Mutex<HashMap<(String, String), bool>>,
    /// The default VPC of each region.
    pub(super) default_vpcs: tokio::sync::Mutex<HashMap<String, String>>,
    /// The regions the account has, once asked.
    pub(super) regions: tokio::sync::OnceCell<Vec<String>>,
    /// Requests for identical VMs gathered into one RunInstances call.
    pub(super) batches: super::batch::Batches,
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

impl Ec2 {
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

    /// The region and instance of a VM id (this line's region when the
    /// id names none).
    pub(super) fn split_id<'a>(&'a self, id: &'a str) -> (&'a str, &'a str) {
        match id.split_once('/') {
            Some((region, instance)) => (region, instance),
            None => (self.region.as_str(), id),
        }
    }
}

impl Cloud for Ec2 {
    const KIND: &'static str = "EC2";
    // Instances made together share one user data.
    const NAMES_ITS_VMS: bool = false;
    // As many as one RunInstances call makes.
    const CREATES_AT_ONCE: usize = super::batch::MAX_BATCH;

    fn line_id(&self) -> &str {
        &self.id
    }

    async fn check(&self) -> Result<()> {
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
    }

    async fn ensure_network(&self, cluster: &str, network: &NetworkSpec) -> Result<Option<String>> {
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
    }

    async fn create_vm(&self, req: &VmRequest) -> Result<VmInfo> {
        // What a create names and EC2 lacks (an AMI, a subnet) is a
        // wrong request, not a VM gone.
        self.create(req).await.map_err(|e| match e {
            ProviderError::NotFound(m) => ProviderError::Final(m),
            e => e,
        })
    }

    async fn wait_running(&self, cluster: &str, id: &str) -> Result<VmInfo> {
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
    }

    async fn stop_vm(&self, cluster: &str, id: &str) -> Result<()> {
        let i = self.owned_or_not_found(cluster, id).await?;
        if i.instance_lifecycle() == Some(&InstanceLifecycleType::Spot) {
            return Err(ProviderError::Unsupported(format!(
                "EC2 instance {id} is a one-time spot instance, which cannot be stopped"
            )));
        }
        match state(&i) {
            Some(InstanceStateName::Stopped) => return Ok(()),
            Some(InstanceStateName::Stopping) => {}
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
        self.wait_for(cluster, id, "stopped", |i| {
            Ok(state(i) == Some(&InstanceStateName::Stopped))
        })
        .await?;
        Ok(())
    }

    async fn start_vm(&self, cluster: &str, id: &str) -> Result<VmInfo> {
        let mut i = self.owned_or_not_found(cluster, id).await?;
        if state(&i) == Some(&InstanceStateName::Stopping) {
            i = self
                .wait_for(cluster, id, "stopped", |i| {
                    Ok(state(i) != Some(&InstanceStateName::Stopping))
                })
                .await?;
        }
        if state(&i) == Some(&InstanceStateName::Stopped) {
            let (region, instance) = self.split_id(id);
            self.client(region)
                .start_instances()
                .instance_ids(instance)
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("StartInstances", e))?;
        }
        Cloud::wait_running(self, cluster, id).await
    }

    async fn destroy_vm(&self, cluster: &str, id: &str) -> Result<()> {
        let Some(i) = self.owned(cluster, id).await? else {
            return Ok(());
        };
        if state(&i) == Some(&InstanceStateName::ShuttingDown) {
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
    }

    async fn list_vms(&self, cluster: &str) -> Result<Vec<VmInfo>> {
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
    }

    async fn destroy_cluster(&self, cluster: &str) -> Result<()> {
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
    }
}

impl CloudVms for Ec2 {
    type Vm = Instance;
    const NOUN: &'static str = "EC2 instance";
    const DEFAULT_LOGIN: &'static str = CLOUDADM;

    async fn fetch(&self, id: &str) -> Result<Option<Instance>> {
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
        Ok(found.into_iter().find(|i| {
            i.instance_id() == Some(instance) && state(i) != Some(&InstanceStateName::Terminated)
        }))
    }

    fn marks_cluster(i: &Instance, cluster: &str) -> bool {
        tag(i, TAG_CLUSTER) == Some(cluster)
    }

    fn login_of(i: &Instance) -> Option<&str> {
        tag(i, TAG_SSH_USER)
    }

    fn state_of(i: &Instance) -> String {
        format!("state {}", state_name(i))
    }

    async fn info(&self, _cluster: &str, id: &str, i: &Instance) -> Result<VmInfo> {
        Ok(to_info(self.split_id(id).0, i))
    }

    /// Looks come after 0.5 s, then twice as far apart up to the poll
    /// interval.
    fn pacing(&self) -> Pacing {
        Pacing::backoff(self.options.poll_interval, self.options.boot_timeout)
    }
}
