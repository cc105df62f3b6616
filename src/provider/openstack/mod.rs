//! The OpenStack provider: servers from Nova, networks, floating IPs and
//! security groups from Neutron, images checked in Glance, all behind a
//! Keystone token. Written against the OpenStack API references: Identity
//! API v3 (`POST /v3/auth/tokens`), Compute API v2.1 (`/servers`,
//! `/servers/detail`, `/servers/{id}/action` with `os-stop`/`os-start`,
//! `/flavors/detail`, `/flavors/{id}/os-extra_specs`), Networking API
//! v2.0 (`/networks`, `/ports`, `/floatingips`, `/security-groups`,
//! `/security-group-rules`) and Image API v2 (`/images/{id}`), with IM's
//! OpenStack connector as the guide to behaviour (`ost://` image URLs,
//! the `cloudadm` user, floating IPs for public networks, a security group
//! per network).
//!
//! - `keystone.rs`: auth requests (password, application credential),
//!   the token's catalog, endpoint selection, timestamps;
//! - `client.rs`: [`OstClient`], authenticated JSON calls; one re-auth on
//!   401, a new token before the old one expires;
//! - `error.rs`: [`OstError`] and its mapping to
//!   [`crate::provider::ProviderError`];
//! - `api.rs`: the Nova, Neutron and Glance documents nubo reads; server
//!   status ([`api::ServerStatus`]) to [`crate::provider::VmStatus`];
//! - `flavor.rs`: the cheapest flavor that satisfies a system;
//! - `network.rs`: RADL networks to Neutron networks and floating IPs;
//!   security group rules from `outports`;
//! - `label.rs`: the metadata and descriptions that mark nubo's resources;
//! - `cloud.rs`: [`OpenStack`], the [`crate::provider::Provider`].
//!
//! An auth-file line for it (IM's keys):
//!
//! ```text
//! id = ost; type = OpenStack; host = https://keystone.example.org:5000; username = alice; password = file(ost.pass); tenant = project1; domain = Default; auth_version = 3.x_password; service_region = RegionOne
//! id = ost; type = OpenStack; host = https://keystone.example.org:5000; auth_version = 3.x_appcred; application_credential_id = 21dced0f; application_credential_secret = file(ost.secret)
//! ```

pub mod api;
mod client;
mod cloud;
mod error;
pub mod flavor;
pub mod keystone;
pub mod label;
pub mod network;

pub use client::{ClientConfig, OstClient, Session};
pub use cloud::{OpenStack, OpenStackOptions, image_id};
pub use error::{OstError, Service, error_message};
