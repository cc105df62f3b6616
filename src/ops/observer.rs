//! What long operations report as they go, for the CLI's progress bars.
//! Operations never print; they tell an `Observer`.

use crate::plan::changes::{StepAction, StepReason, VmAction};
use crate::plan::graph::{Phase, Vertex};
use crate::plan::walk::Failure;
use crate::state::StepKey;

#[derive(Clone, Debug)]
pub enum Event {
    /// A phase starts, with how many things it will do. A launch announces
    /// its three phases (`plan::graph::PHASES`) before its walk; their work
    /// overlaps, and each `Finished` vertex counts for its `Vertex::phase`.
    Phase {
        name: Phase,
        total: usize,
    },
    Started(Vertex),
    Finished {
        vertex: Vertex,
        error: Option<Failure>,
    },
    /// What the walk does with a VM (the plan's action, corrected by what
    /// the provider said).
    VmAction {
        node: String,
        action: VmAction,
    },
    /// What the walk does with a step, and why.
    StepAction {
        key: StepKey,
        action: StepAction,
        reason: StepReason,
    },
    /// A VM recorded running and still running is kept.
    Kept(String),
    Created(String),
    Destroyed(String),
    /// A step's recorded run is current: not run again.
    StepKept(StepKey),
    StepDone {
        key: StepKey,
        changed: usize,
    },
    /// Something worth a line.
    Note(String),
}

pub trait Observer: Send + Sync {
    fn on(&self, event: &Event);
}

/// Ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn on(&self, _: &Event) {}
}
