//! EC2 instances: image URLs, the instance documents read into
//! [`VmInfo`], DescribeInstances page after page, and the RunInstances
//! call that creates the VMs of a batch ([`super::batch`]): their type,
//! root volume and volumes, group, key, tags, user data, spot market.

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, Instance, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceStateName,
    InstanceType, MarketType, ResourceType, SpotInstanceType, SpotMarketOptions, Tag,
    TagSpecification,
};

use super::batch::{self, Joined};
use super::cloud::Ec2;
use super::error::Ec2Error;
use super::label::{self, TAG_CLUSTER, TAG_NAME, TAG_NODE, TAG_SSH_USER, TAG_TOKEN};
use super::network;
use crate::provider::cloud::{self, CLOUDADM, CloudVms, Requirements, userdata};
use crate::provider::{ProviderError, Result, VmInfo, VmRequest, VmStatus};
use crate::radl::features::{Entry, FeatureSet, number_of};

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

/// An instance's tag.
pub(super) fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// An instance's state.
pub(super) fn state(i: &Instance) -> Option<&InstanceStateName> {
    i.state().and_then(|s| s.name())
}

pub(super) fn status_of(i: &Instance) -> VmStatus {
    match state(i) {
        Some(InstanceStateName::Pending) => VmStatus::Pending,
        Some(InstanceStateName::Running) => VmStatus::Running,
        Some(InstanceStateName::Stopping | InstanceStateName::Stopped) => VmStatus::Stopped,
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated) => {
            VmStatus::Terminated
        }
        _ => VmStatus::Unknown,
    }
}

/// An instance's state as EC2 writes it, for messages.
pub(super) fn state_name(i: &Instance) -> &str {
    state(i).map_or("unknown", InstanceStateName::as_str)
}

pub(super) fn to_info(region: &str, i: &Instance) -> VmInfo {
    let addresses = [i.public_ip_address(), i.private_ip_address()]
        .into_iter()
        .flatten()
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    let (node, token) = match (tag(i, TAG_NODE), tag(i, TAG_TOKEN)) {
        (Some(n), Some(t)) => (Some(n.to_string()), Some(t.to_string())),
        _ => match i.ami_launch_index().and_then(|x| usize::try_from(x).ok()) {
            Some(index) => label::batch_entry(
                i.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))),
                index,
            )
            .map_or((None, None), |(n, t)| (Some(n), Some(t))),
            None => (None, None),
        },
    };
    VmInfo {
        id: vm_id(region, i.instance_id().unwrap_or_default()),
        node,
        token,
        addresses,
        status: status_of(i),
    }
}

/// A Describe* filter.
pub(super) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

/// The tags a resource is made with.
pub(super) fn tags(kind: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
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

/// The instances of a cluster in `states`.
fn in_states(cluster: &str, states: &[InstanceStateName]) -> [Filter; 2] {
    let names: Vec<&str> = states.iter().map(InstanceStateName::as_str).collect();
    [
        filter(&format!("tag:{TAG_CLUSTER}"), &[cluster]),
        filter("instance-state-name", &names),
    ]
}

/// What the calls of one batch share.
struct Common<'a> {
    region: &'a str,
    ami: &'a str,
    instance_type: &'a str,
    subnet: Option<&'a network::Subnet>,
    group: &'a str,
    key: Option<String>,
    /// The root volume (when `disk.0.size` sizes it) and the volumes.
    devices: Vec<BlockDeviceMapping>,
    user: String,
}

/// The requests `todo` (indexes into `reqs`) split into calls: as many
/// per call as the `nubo:batch:K` tags can name; a request whose node
/// name does not fit in a tag goes alone (with `nubo:node`).
fn calls(reqs: &[&VmRequest], todo: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &k in todo {
        let mut with = current.clone();
        with.push(k);
        let pairs: Vec<(&str, &str)> = with
            .iter()
            .map(|&j| (reqs[j].node.as_str(), reqs[j].token.as_str()))
            .collect();
        if with.len() == 1 || label::batch_tags(&pairs).is_some() {
            current = with;
        } else if label::batch_tags(&[(reqs[k].node.as_str(), reqs[k].token.as_str())]).is_none() {
            out.push(vec![k]);
        } else {
            out.push(std::mem::replace(&mut current, vec![k]));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The EBS volumes of a system's `disk.N` (N ≥ 1), deleted with the
/// instance: EC2 device `/dev/sdX` for the node's `vdX`, `xvdX` or `sdX`
/// (what the node sees: `xvdX` on Xen instances; on Nitro instances an
/// NVMe device, which `disk.N.device` must then name).
fn volumes(system: &crate::model::SystemSpec) -> Result<Vec<BlockDeviceMapping>> {
    system
        .volumes()
        .iter()
        .map(|v| {
            let letter = crate::model::volume_letter(&v.device).ok_or_else(|| {
                ProviderError::Final(format!(
                    "system `{}`: disk.{}.device `{}` is not a device EC2 can attach as `/dev/sdX`; name it `xvdX` (X from b to z)",
                    system.name, v.index, v.device
                ))
            })?;
            let ebs = EbsBlockDevice::builder()
                .volume_size(i32::try_from(v.size_gib).unwrap_or(i32::MAX))
                .delete_on_termination(true)
                .set_volume_type(v.kind.as_deref().map(Into::into))
                .build();
            Ok(BlockDeviceMapping::builder()
                .device_name(format!("/dev/sd{letter}"))
                .ebs(ebs)
                .build())
        })
        .collect()
}

impl Ec2 {
    /// Instances matching `filters` (and `ids`), page after page.
    pub(super) async fn describe(
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
        use InstanceStateName::*;
        // Every state but `terminated`: what the cluster still holds.
        let live = [Pending, Running, Stopping, Stopped, ShuttingDown];
        self.describe(region, &[], in_states(cluster, &live).into())
            .await
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

    /// Creates the VM of a request (see [`Provider::create_vm`](crate::provider::Provider::create_vm)):
    /// with the other requests for VMs of its system that arrive with it,
    /// in one RunInstances call ([`super::batch`]).
    pub(super) async fn create(&self, req: &VmRequest) -> Result<VmInfo> {
        // What is wrong with the request alone fails it alone.
        let url = cloud::image_url(&req.system, "EC2", "aws://REGION/ami-ID")
            .map_err(ProviderError::Final)?;
        image_of(url)?;
        self.instance_type(req)?;
        volumes(&req.system)?;
        let id = match self.batches.join(req) {
            Joined::Follower(rx) => return batch::answer(rx).await,
            Joined::Leader(id) => id,
        };
        let waiters = self.batches.gather(req, id).await;
        let (others, answers): (Vec<VmRequest>, Vec<_>) =
            waiters.into_iter().map(|w| (w.req, w.tx)).unzip();
        let mut reqs = vec![req];
        reqs.extend(others.iter());
        let mut results = match self.launch(&reqs).await {
            Ok(results) => results,
            Err(e) => vec![Err(e); reqs.len()],
        };
        let mine = results.remove(0);
        for (tx, r) in answers.into_iter().zip(results) {
            // A follower gone (its launch stopped) needs no answer.
            let _ = tx.send(r);
        }
        mine
    }

    /// Makes the VMs of `reqs` (one system's): each one an earlier try
    /// made is found by its token, the rest are made by as few
    /// RunInstances calls as their tags allow. One result per request, in
    /// order.
    async fn launch(&self, reqs: &[&VmRequest]) -> Result<Vec<Result<VmInfo>>> {
        let first = reqs[0];
        let features = &first.system.features;
        let url = cloud::image_url(&first.system, "EC2", "aws://REGION/ami-ID")
            .map_err(ProviderError::Final)?;
        let (region, ami) = image_of(url)?;
        let region = region.as_str();
        use InstanceStateName::*;
        let made_before = self
            .describe(
                region,
                &[],
                in_states(&first.cluster, &[Pending, Running, Stopping, Stopped]).to_vec(),
            )
            .await?;
        let mut out: Vec<Option<Result<VmInfo>>> = vec![None; reqs.len()];
        for i in &made_before {
            let info = to_info(region, i);
            if let Some(k) = reqs
                .iter()
                .position(|r| info.token.as_deref() == Some(r.token.as_str()))
            {
                cloud::reusing(Self::NOUN, reqs[k], i.instance_id().unwrap_or_default());
                out[k] = Some(Ok(info));
            }
        }
        let todo: Vec<usize> = (0..reqs.len()).filter(|&k| out[k].is_none()).collect();
        if !todo.is_empty() {
            let instance_type = self.instance_type(first)?;
            let subnet = network::subnet_for(&first.networks)?;
            let mut devices = volumes(&first.system)?;
            if let Some(size) = root_size_gib(features) {
                devices.insert(0, self.root_volume(region, &ami, size, features).await?);
            }
            let vpc = self.vpc_of(region, subnet.as_ref()).await?;
            let group = self
                .ensure_group(
                    region,
                    &first.cluster,
                    &vpc,
                    &network::rules_for(&first.networks),
                )
                .await?;
            let key = self
                .ensure_key(region, &first.cluster, &first.public_key)
                .await?;
            let common = Common {
                region,
                ami: &ami,
                instance_type: &instance_type,
                subnet: subnet.as_ref(),
                group: &group,
                key,
                devices,
                user: cloud::login_user(features, CLOUDADM),
            };
            for call in calls(reqs, &todo) {
                let group_reqs: Vec<&VmRequest> = call.iter().map(|&k| reqs[k]).collect();
                let results = match self.run_instances(&common, &group_reqs).await {
                    // All or none: past a limit, as many as fit, one by one.
                    Err(ProviderError::Quota(_)) if call.len() > 1 => {
                        let mut each = Vec::new();
                        for r in &group_reqs {
                            each.push(match self.run_instances(&common, &[r]).await {
                                Ok(mut one) => one.remove(0),
                                Err(e) => Err(e),
                            });
                        }
                        each
                    }
                    Ok(results) => results,
                    Err(e) => vec![Err(e); call.len()],
                };
                for (&k, r) in call.iter().zip(results) {
                    out[k] = Some(r);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ProviderError::Final("no call made it".into()))))
            .collect())
    }

    /// One RunInstances call for `reqs` (identical VMs), all or none
    /// (`MinCount` = `MaxCount`): one result per request, in launch-index
    /// order.
    async fn run_instances(
        &self,
        c: &Common<'_>,
        reqs: &[&VmRequest],
    ) -> Result<Vec<Result<VmInfo>>> {
        let first = reqs[0];
        let n = reqs.len();
        let (cluster, system) = (first.cluster.as_str(), first.system.name.as_str());
        let (name, token, mut pairs) = if n == 1 {
            (
                label::instance_name(cluster, &first.node),
                label::client_token(cluster, &first.node, &first.token),
                vec![
                    (TAG_NODE.to_string(), first.node.clone()),
                    (TAG_TOKEN.to_string(), first.token.clone()),
                ],
            )
        } else {
            let nodes: Vec<(&str, &str)> = reqs
                .iter()
                .map(|r| (r.node.as_str(), r.token.as_str()))
                .collect();
            (
                label::instance_name(cluster, system),
                batch::client_token(reqs),
                label::batch_tags(&nodes)
                    .ok_or_else(|| ProviderError::Final("the batch's tags do not fit".into()))?,
            )
        };
        pairs.extend([
            (TAG_CLUSTER.to_string(), cluster.to_string()),
            (TAG_SSH_USER.to_string(), c.user.clone()),
            (TAG_NAME.to_string(), name.clone()),
        ]);
        let instance_tags: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let count = i32::try_from(n).unwrap_or(i32::MAX);
        let mut call = self
            .client(c.region)
            .run_instances()
            .image_id(c.ami)
            .instance_type(InstanceType::from(c.instance_type))
            .min_count(count)
            .max_count(count)
            .client_token(token)
            .user_data(userdata::encoded_unnamed(&c.user, &first.public_key))
            .set_key_name(c.key.clone())
            .set_block_device_mappings((!c.devices.is_empty()).then(|| c.devices.clone()))
            .tag_specifications(tags(ResourceType::Instance, &instance_tags))
            .tag_specifications(tags(
                ResourceType::Volume,
                &[(TAG_CLUSTER, cluster), (TAG_NAME, &name)],
            ));
        let public = first.networks.iter().any(|n| n.public);
        call = match c.subnet {
            // A named subnet may not give public addresses by itself.
            Some(s) if public => call.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(&s.subnet)
                    .associate_public_ip_address(true)
                    .groups(c.group)
                    .build(),
            ),
            Some(s) => call.subnet_id(&s.subnet).security_group_ids(c.group),
            None => call.security_group_ids(c.group),
        };
        let spot = first
            .system
            .features
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
        let made = out.instances();
        if made.is_empty() {
            return Err(Ec2Error::Malformed {
                operation: "RunInstances".into(),
                message: "no instance in the answer".into(),
            }
            .into());
        }
        tracing::info!(
            cluster,
            system,
            region = c.region,
            count = made.len(),
            asked = n,
            instance_type = c.instance_type,
            spot,
            "EC2 instances launched"
        );
        Ok(reqs
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let i = if n == 1 {
                    made.first()
                } else {
                    made.iter()
                        .find(|i| i.ami_launch_index().and_then(|x| usize::try_from(x).ok()) == Some(k))
                };
                let i = i.ok_or_else(|| {
                    ProviderError::Quota(format!(
                        "EC2 made {} of the {n} instances of system `{system}` asked for in one call, none for {}: the account's limits or EC2's capacity",
                        made.len(),
                        r.node
                    ))
                })?;
                let mut info = to_info(c.region, i);
                // RunInstances' answer may lack the tags: say what was asked.
                info.node = Some(r.node.clone());
                info.token = Some(r.token.clone());
                Ok(info)
            })
            .collect())
    }

    /// The instance type for a request.
    fn instance_type(&self, req: &VmRequest) -> Result<String> {
        let want = Requirements::of(&req.system.features);
        self.catalog
            .choose(&want)
            .map_err(|e| ProviderError::Final(format!("system `{}`: {e}", req.system.name)))
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
}
