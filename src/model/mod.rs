//! The cluster model: what to build, independent of the language it was
//! written in. RADL documents lower into it (and TOSCA through RADL).
//!
//! Invariant: `model/` does no I/O.

mod cluster;
mod lower;
mod volume;

pub use cluster::*;
pub use lower::lower;
#[cfg(test)]
pub(crate) use lower::spec_of_radl;
pub use volume::{VolumeSpec, mount_script, volume_letter};
