//! The cluster's security group in a VPC (one per cluster and VPC): the
//! region's default VPC or a subnet's, the group found or made with the
//! ingress rules of [`super::network`], and the groups a sweep removes.

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

use super::cloud::Ec2;
use super::error::Ec2Error;
use super::instances::{filter, tags};
use super::label::{self, TAG_CLUSTER, TAG_NAME};
use super::network::{Rule, Subnet};
use crate::provider::{ProviderError, Result};

impl Ec2 {
    pub(super) async fn default_vpc(&self, region: &str) -> Result<String> {
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
    pub(super) async fn vpc_of(&self, region: &str, subnet: Option<&Subnet>) -> Result<String> {
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
    pub(super) async fn ensure_group(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ec2::network;

    #[test]
    fn rules_read_back_from_permissions() {
        let rules = network::rules_for(&[]);
        let perms: Vec<IpPermission> = rules.iter().map(|r| permission("sg-1", r)).collect();
        assert_eq!(rules_of("sg-1", &perms), rules);
        // Another group's pair is not "the group itself".
        assert!(rules_of("sg-2", &perms[..1]).is_empty());
    }
}
