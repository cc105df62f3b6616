//! The elasticity daemon's decisions, without I/O: node-type policies read
//! from the model, the job queue's view (`Snapshot`) parsed from SLURM's
//! commands or a user command's JSON, the per-tick decision function, and a
//! virtual-clock simulator.
//!
//! The loop that observes the queue and the providers and applies decisions
//! lives in `ops::elastic`; this module only decides, so every rule is
//! tested without machines and `nubo elastic simulate` replays a trace with
//! the same code.

pub mod clues;
pub mod command;
pub mod decide;
pub mod hostlist;
pub mod kube;
pub mod node;
pub mod policy;
pub mod queue;
pub mod rabbitmq;
pub mod sge;
pub mod simulate;
pub mod slurm;
pub mod sqs;
pub mod swf;

pub use decide::{Action, Decision, Outcome, RecordedAction, decide};
pub use node::{ElasticNode, NodeState};
pub use policy::{Policy, PolicyError};
pub use queue::{Job, QueueNode, QueueState, Snapshot};
