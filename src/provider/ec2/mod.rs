//! The EC2 provider, through the AWS SDK for Rust (`aws-sdk-ec2`):
//! RunInstances (on-demand, or spot when the system has `spot = 'yes'`),
//! DescribeInstances, StopInstances/StartInstances, TerminateInstances, a
//! security group per cluster (and VPC) from the public networks'
//! `outports`, the cluster's key imported as a key pair and installed by
//! cloud-init user data, with IM's EC2 connector as the guide to
//! behaviour (`aws://REGION/ami-ID` image URLs, the `cloudadm` user).
//! Built only with the `ec2` cargo feature (on by default).
//!
//! - `catalog.rs`: the instance types of `providers/ec2.yaml` and the
//!   cheapest one that satisfies a system;
//! - `error.rs`: [`Ec2Error`] and the classification of EC2 error codes
//!   into [`crate::provider::ProviderError`];
//! - `label.rs`: the tags and names that mark nubo's resources, the
//!   RunInstances `ClientToken`;
//! - `network.rs`: subnets from `provider_id`, the group's ingress rules;
//! - `credentials.rs`: the auth-file line, the endpoint;
//! - `instances.rs`: instance documents, image URLs, RunInstances;
//! - `batch.rs`: identical VMs made by one RunInstances call;
//! - `groups.rs`: the default VPC, the cluster's security groups;
//! - `keys.rs`: the cluster's key pairs;
//! - `sweep.rs`: `destroy --force` across the account's regions;
//! - `cloud.rs`: [`Ec2`], the [`crate::provider::Provider`].
//!
//! An auth-file line for it (IM's keys; `host` overrides the endpoint,
//! as `AWS_ENDPOINT_URL_EC2` and `AWS_ENDPOINT_URL` do when it is absent;
//! `token` is a session token):
//!
//! ```text
//! id = ec2; type = EC2; username = AKIA...; password = file(aws.secret); region = eu-west-1
//! ```

mod batch;
pub mod catalog;
mod cloud;
mod credentials;
mod error;
mod groups;
mod instances;
mod keys;
pub mod label;
pub mod network;
mod sweep;

pub use cloud::{Ec2, Ec2Options};
pub use credentials::{DEFAULT_REGION, endpoint_of};
pub use error::{Class, Ec2Error, classify};
pub use instances::{image_of, vm_id};
