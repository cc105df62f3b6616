//! The key pair holding the cluster's public key, imported once per
//! region, and the key pairs a sweep removes.

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::ResourceType;

use super::cloud::Ec2;
use super::error::Ec2Error;
use super::instances::{filter, tags};
use super::label::{self, TAG_CLUSTER, TAG_NAME};
use crate::provider::Result;

impl Ec2 {
    /// The key pair with the cluster's public key, imported now if
    /// missing; `None` when EC2 refuses the key's format (the user data
    /// still installs it).
    pub(super) async fn ensure_key(
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
}
