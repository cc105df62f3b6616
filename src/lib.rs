//! nubo: declarative elastic clusters from RADL and TOSCA.
//!
//! See ARCHITECTURE.md for the map of this crate.

pub mod auth;
pub mod cli;
pub mod diagnostic;
pub mod elastic;
pub mod model;
pub mod ops;
pub mod plan;
pub mod process;
pub mod provider;
pub mod radl;
pub mod recipe;
pub mod serve;
pub mod source;
pub mod ssh;
pub mod state;
pub mod testcloud;
pub mod tosca;
