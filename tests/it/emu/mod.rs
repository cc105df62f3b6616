//! Emulated cloud front ends for the provider tests: in-process servers on
//! 127.0.0.1 that keep their resources in memory.

pub mod opennebula;
pub mod openstack;
