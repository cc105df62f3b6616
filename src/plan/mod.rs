//! Planning: the cluster model becomes a dependency graph of work
//! (networks, then VMs, then configuration steps in contextualize order),
//! which the walker runs concurrently; and what a launch changes per VM
//! and step (`changes`), decided once for `nubo plan` and the walk.
//!
//! Invariant: `plan/` knows no provider and no SSH; it drives them through
//! the [`walk::Executor`] trait.

pub mod changes;
pub mod graph;
pub mod walk;

pub use graph::{DeployGraph, Edge, PlanError, Vertex};
