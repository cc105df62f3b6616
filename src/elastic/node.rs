//! What the daemon knows of each elastic node.

use serde::{Deserialize, Serialize};

/// A node's life as the daemon tracks it. Its text (`Display`,
/// `FromStr`, serde) is snake_case: `powering_on`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NodeState {
    /// No VM.
    Off,
    /// Asked for; not yet seen by the job queue.
    PoweringOn,
    /// Up, no job.
    Idle,
    /// Up, running jobs.
    Used,
    /// Being drained and removed.
    PoweringOff,
    /// Did not come up in time, or the queue lost it; its VM is removed
    /// and the slot rests before it is tried again.
    Failed,
    /// Its power-off did not finish within `elastic_poweroff_timeout`
    /// (CLUES's ON_ERR): its VM may still run, so it counts against the
    /// type's maximum, and its removal is tried again each round.
    OnError,
}

impl NodeState {
    /// Every state.
    pub const ALL: &[NodeState] = <NodeState as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the node has (or is getting) a VM that should be kept.
    pub fn is_on(self) -> bool {
        matches!(
            self,
            NodeState::PoweringOn | NodeState::Idle | NodeState::Used
        )
    }

    /// Whether the node counts against its type's maximum: it is on, or
    /// a power-off of it has failed and its VM may still run.
    pub fn holds_a_slot(self) -> bool {
        self.is_on() || self == NodeState::OnError
    }
}

/// One elastic slot: a node name the cluster may have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElasticNode {
    pub name: String,
    /// Its system (node type).
    pub system: String,
    /// Its VM number (the model's slot number).
    pub number: u32,
    pub state: NodeState,
    /// When it entered `state` (milliseconds, the daemon's clock).
    pub since: i64,
    /// When it came up (first seen by the queue) in this power cycle.
    pub up_since: Option<i64>,
    /// The last time the queue showed it running a job (or it came up).
    pub last_busy: i64,
    /// The last time the queue showed it up.
    pub last_seen: i64,
    /// Failed power-ons in a row.
    pub failures: u32,
}

impl ElasticNode {
    pub fn new(name: &str, system: &str, number: u32, state: NodeState, now: i64) -> ElasticNode {
        ElasticNode {
            name: name.to_string(),
            system: system.to_string(),
            number,
            state,
            since: now,
            up_since: matches!(state, NodeState::Idle | NodeState::Used).then_some(now),
            last_busy: now,
            last_seen: now,
            failures: 0,
        }
    }

    /// Moves to `state` at `now`.
    pub fn set(&mut self, state: NodeState, now: i64) {
        if self.state != state {
            self.state = state;
            self.since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_from_its_text_and_its_json() {
        for &s in NodeState::ALL {
            assert_eq!(s.to_string().parse::<NodeState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(NodeState::PoweringOn.as_str(), "powering_on");
        assert_eq!(NodeState::OnError.as_str(), "on_error");
        assert!("PoweringOn".parse::<NodeState>().is_err());
    }
}
