//! What the cloud providers ([`super::opennebula`], [`super::openstack`],
//! [`super::ec2`]) share, written once: reading their auth-file line
//! (`credential.rs`), the ingress rules of its security groups
//! (`ingress.rs`), what a system asks of a cloud's sizes
//! (`requirements.rs`), its image and login user (`request.rs`), the
//! cloud-init user data (`userdata.rs`), polling (`pacing.rs`), the
//! skeleton of their [`Provider`](super::Provider) (`vms.rs`: ownership,
//! waiting for a state, info, SSH access; `adapter.rs`: `Cloud`, async
//! methods made a `Provider` once for all) and sweeping a cluster
//! (`sweep.rs`). Each cloud keeps its API client and its error mapping.

mod adapter;
mod credential;
mod ingress;
mod pacing;
mod request;
mod requirements;
mod sweep;
pub mod userdata;
mod vms;

pub(crate) use adapter::Cloud;
pub(crate) use credential::Fields;
#[cfg(test)]
pub(crate) use ingress::test_network;
pub use ingress::{Ingress, WORLD, ingress};
pub use pacing::{Pacing, Poll};
pub use request::{CLOUDADM, image_url, login_user};
pub use requirements::{Bound, GIB, MIB, Requirements};
pub(crate) use sweep::Sweep;
pub(crate) use vms::{CloudVms, just_made, reusing};

/// An API's error text, cut to 400 bytes for messages.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 400;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
