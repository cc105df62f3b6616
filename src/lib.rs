//! nubo: declarative elastic clusters from RADL and TOSCA.
//!
//! See ARCHITECTURE.md for the map of this crate.

pub mod diagnostic;
pub mod radl;
pub mod source;
