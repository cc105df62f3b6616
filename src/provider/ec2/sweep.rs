//! `destroy --force` on EC2: every region the account has is swept at
//! once, and in each the cluster's instances are terminated and waited
//! for, then its security groups and key pairs removed.

use std::pin::Pin;
use std::task::Poll;

use aws_sdk_ec2::types::InstanceStateName;

use super::cloud::Ec2;
use super::error::{Class, Ec2Error};
use super::instances::{filter, state};
use super::label::{self, TAG_CLUSTER};
use crate::provider::cloud::{CloudVms, Sweep};
use crate::provider::{BoxFuture, Result};

/// Runs futures concurrently (on this task) and returns their outputs in
/// order.
/// What a Describe* call lists with the cluster's tag, by one field
/// (`group_id`, `key_name`): the security groups and key pairs to sweep.
/// A macro, as each call has its own SDK types.
macro_rules! tagged {
    ($client:expr, $cluster:expr, $describe:ident, $op:literal, $list:ident, $field:ident) => {
        $client
            .$describe()
            .filters(filter(&format!("tag:{TAG_CLUSTER}"), &[$cluster]))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk($op, e))?
            .$list()
            .iter()
            .filter_map(|x| x.$field().map(str::to_string))
            .collect::<Vec<String>>()
    };
}

pub(super) async fn join_all<'a, T>(mut futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
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
    /// The regions to look for a cluster's resources in: every region the
    /// account has (asked once), else this line's region and the ones
    /// this process used.
    pub(super) async fn sweep_regions(&self) -> Vec<String> {
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

    /// Removes what the cluster has in one region: instances (terminated,
    /// then waited for, since a group in use cannot go), security groups,
    /// key pairs. Returns the first error after trying everything.
    pub(super) async fn sweep_region(&self, region: &str, cluster: &str) -> Result<()> {
        let client = self.client(region);
        let mut sweep = Sweep::new("EC2", cluster).in_region(region);
        let instances = self.cluster_instances(region, cluster).await?;
        let ids: Vec<String> = instances
            .iter()
            .filter(|i| state(i) != Some(&InstanceStateName::ShuttingDown))
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        for chunk in ids.chunks(500) {
            let call = client
                .terminate_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("TerminateInstances", e));
            if sweep.check("instances", call.map(drop)) {
                tracing::info!(cluster, region, n = chunk.len(), "EC2 instances terminated");
            }
        }
        let groups = tagged!(
            client,
            cluster,
            describe_security_groups,
            "DescribeSecurityGroups",
            security_groups,
            group_id
        );
        let keys = tagged!(
            client,
            cluster,
            describe_key_pairs,
            "DescribeKeyPairs",
            key_pairs,
            key_name
        );
        let poll = self.pacing().start();
        if !groups.is_empty() && !instances.is_empty() {
            // A group in use cannot go.
            sweep
                .wait_gone("instances", &mut poll.again(), || async move {
                    let left = self.cluster_instances(region, cluster).await?;
                    Ok::<_, Ec2Error>((!left.is_empty()).then(|| {
                        format!(
                            "{} EC2 instances of cluster `{cluster}` in {region} are still there",
                            left.len()
                        )
                    }))
                })
                .await;
        }
        let client = &client;
        for g in &groups {
            let removed = sweep
                .remove(
                    "security group",
                    &mut poll.again(),
                    || async move {
                        match client.delete_security_group().group_id(g).send().await {
                            Ok(_) => Ok(()),
                            Err(e) => match Ec2Error::from_sdk("DeleteSecurityGroup", e) {
                                e if e.is_not_found() => Ok(()),
                                e => Err(e),
                            },
                        }
                    },
                    // Still used by an instance going away.
                    |e| e.class() == Class::Transient,
                )
                .await;
            if removed {
                tracing::info!(cluster, region, group = g, "EC2 security group deleted");
            }
        }
        for k in &keys {
            match client.delete_key_pair().key_name(k).send().await {
                Ok(_) => tracing::info!(cluster, region, key = k, "EC2 key pair deleted"),
                Err(e) => {
                    let e = Ec2Error::from_sdk("DeleteKeyPair", e);
                    if !e.is_not_found() {
                        sweep.note("key pair", e);
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
        sweep.done()
    }
}
