//! The OpenNebula provider: VMs from an OpenNebula front end through its
//! XML-RPC API (written against the OpenNebula XML-RPC API reference,
//! 6.x: `one.user.info`, `one.vm.allocate`, `one.vm.info`,
//! `one.vm.action`, `one.vmpool.info`, `one.image.info`).
//!
//! - `xml.rs`: a small XML tree over quick-xml;
//! - `xmlrpc.rs`: the XML-RPC codec (calls, responses, faults);
//! - `client.rs`: [`OneClient`], the methods over HTTP (reqwest);
//! - `error.rs`: [`OneError`] and its mapping to [`crate::provider::ProviderError`];
//! - `vm.rs`: VM and image documents, STATE/LCM_STATE to
//!   [`crate::provider::VmStatus`];
//! - `label.rs`: the name and attributes that mark nubo's VMs;
//! - `template.rs`: the VM template built from a RADL system;
//! - `cloud.rs`: [`OpenNebula`], the [`crate::provider::Provider`].
//!
//! An auth-file line for it:
//!
//! ```text
//! id = one; type = OpenNebula; host = one.example.org:2633; username = alice; password = file(one.pass)
//! ```

mod client;
mod cloud;
mod error;
pub mod label;
mod template;
pub mod vm;
pub mod xml;
pub mod xmlrpc;

pub use client::{DEFAULT_PORT, OneClient, endpoint_url};
pub use cloud::{OpenNebula, OpenNebulaOptions};
pub use error::{OneError, code};
pub use template::{ImageRef, image_ref, vm_template};
