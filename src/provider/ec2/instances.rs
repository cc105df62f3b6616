//! EC2 instances: image URLs, the instance documents read into
//! [`VmInfo`], DescribeInstances page after page, and the RunInstances
//! call that creates a VM (its type, root volume, group, key, tags,
//! user data, spot market).

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, Instance, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceStateName,
    InstanceType, MarketType, ResourceType, SpotInstanceType, SpotMarketOptions, Tag,
    TagSpecification,
};

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
    VmInfo {
        id: vm_id(region, i.instance_id().unwrap_or_default()),
        node: tag(i, TAG_NODE).map(str::to_string),
        token: tag(i, TAG_TOKEN).map(str::to_string),
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

    /// Creates the VM of a request (see [`Provider::create_vm`](crate::provider::Provider::create_vm)).
    pub(super) async fn create(&self, req: &VmRequest) -> Result<VmInfo> {
        cloud::no_volumes(&req.system, "EC2").map_err(Ec2Error::Request)?;
        let features = &req.system.features;
        let url = cloud::image_url(&req.system, "EC2", "aws://REGION/ami-ID")
            .map_err(ProviderError::Final)?;
        let (region, ami) = image_of(url)?;
        let region = region.as_str();
        use InstanceStateName::*;
        let mut made_before =
            in_states(&req.cluster, &[Pending, Running, Stopping, Stopped]).to_vec();
        made_before.push(filter(&format!("tag:{TAG_TOKEN}"), &[&req.token]));
        if let Some(i) = self.describe(region, &[], made_before).await?.first() {
            cloud::reusing(Self::NOUN, req, i.instance_id().unwrap_or_default());
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
        let user = cloud::login_user(features, CLOUDADM);
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
            .user_data(userdata::encoded(&req.node, &user, &req.public_key))
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
