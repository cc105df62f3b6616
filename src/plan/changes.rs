//! What a launch changes, decided once: per VM create, keep, start,
//! recreate or destroy; per step run, rerun, keep or skip. `nubo plan`
//! shows these decisions and the walk carries them out; both call the
//! functions here, so the two cannot disagree. Pure: no provider, no SSH,
//! no I/O.
//!
//! The plan is made from the records. What only the provider knows (is a
//! VM recorded running really there?) is asked by the executor, which then
//! moves a VM from `Keep` to `Start` or `Recreate` and decides its steps
//! with the same [`step_action`].

use crate::state::{StepStatus, Vm, VmState};
use serde::Serialize;

/// What happens to a VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VmAction {
    /// Never made (or never made it to the provider): make it.
    Create,
    /// Recorded running: left as it is.
    Keep,
    /// Recorded stopped: started again, never made a second time.
    Start,
    /// Recorded with a provider VM that failed or was half made: that VM
    /// is destroyed and a new one made.
    Recreate,
    /// Recorded and no longer asked for.
    Destroy,
    /// Recorded running and no longer asked for, of a system that reuses
    /// its nodes (`ec3_reuse_nodes`): stopped, kept to be started again.
    Stop,
}

impl VmAction {
    /// Whether the VM is new for its steps: they all run again.
    pub fn makes_vm(self) -> bool {
        matches!(self, VmAction::Create | VmAction::Recreate)
    }

    pub fn sign(self) -> &'static str {
        match self {
            VmAction::Create => "+",
            VmAction::Keep => "=",
            VmAction::Start => "^",
            VmAction::Recreate => "~",
            VmAction::Destroy => "-",
            VmAction::Stop => "v",
        }
    }
}

impl std::fmt::Display for VmAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VmAction::Create => "create",
            VmAction::Keep => "keep",
            VmAction::Start => "start",
            VmAction::Recreate => "recreate",
            VmAction::Destroy => "destroy",
            VmAction::Stop => "stop",
        })
    }
}

/// What happens to a configuration step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Never run: run it.
    Run,
    /// Run before: run it again.
    Rerun,
    /// Done with this script on this VM: left as it is.
    Keep,
    /// Nothing to run (its configure has no recipe).
    Skip,
}

impl StepAction {
    pub fn runs(self) -> bool {
        matches!(self, StepAction::Run | StepAction::Rerun)
    }

    pub fn sign(self) -> &'static str {
        match self {
            StepAction::Run | StepAction::Rerun => "+",
            StepAction::Keep => "=",
            StepAction::Skip => " ",
        }
    }
}

impl std::fmt::Display for StepAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepAction::Run => "run",
            StepAction::Rerun => "rerun",
            StepAction::Keep => "keep",
            StepAction::Skip => "skip",
        })
    }
}

/// Why a step does what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "why", content = "detail")]
pub enum StepReason {
    /// Its VM is made (or made again) by this run.
    NewVm,
    /// Its VM is started again: what steps started did not survive.
    VmStarted,
    NeverRun,
    /// Its last run did not end `ok`.
    LastRun(StepStatus),
    ScriptChanged,
    /// `reconfigure --force`.
    Forced,
    /// Done with this script.
    Done,
    /// Its script cannot be rendered from what is recorded (it reads VMs
    /// still to be made); the walk renders it when they exist.
    NotRenderedYet,
    NoRecipe,
}

impl std::fmt::Display for StepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepReason::NewVm => f.write_str("its VM is to be made"),
            StepReason::VmStarted => f.write_str("its VM is started again"),
            StepReason::NeverRun => f.write_str("never run"),
            StepReason::LastRun(s) => write!(f, "last run: {s}"),
            StepReason::ScriptChanged => f.write_str("its script changed"),
            StepReason::Forced => f.write_str("--force"),
            StepReason::Done => f.write_str("done with this script"),
            StepReason::NotRenderedYet => {
                f.write_str("its script reads VMs still to be made; rendered when they exist")
            }
            StepReason::NoRecipe => f.write_str("its configure has no recipe"),
        }
    }
}

/// A step's recorded run, as far as deciding goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedStep<'a> {
    pub status: StepStatus,
    pub hash: &'a str,
}

/// The step's script now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script<'a> {
    /// Rendered; its hash.
    Hash(&'a str),
    /// Cannot be rendered from what is known yet.
    Unrendered,
    /// No recipe.
    None,
}

/// The VM's action from its record alone.
pub fn vm_action(recorded: Option<&Vm>) -> VmAction {
    let Some(vm) = recorded else {
        return VmAction::Create;
    };
    let at_provider = vm.provider_vm_id.is_some();
    match vm.state {
        VmState::Running if at_provider => VmAction::Keep,
        VmState::Stopped if at_provider => VmAction::Start,
        VmState::Pending | VmState::Destroyed => VmAction::Create,
        VmState::Creating | VmState::Failed | VmState::Destroying if at_provider => {
            VmAction::Recreate
        }
        VmState::Running
        | VmState::Stopped
        | VmState::Creating
        | VmState::Failed
        | VmState::Destroying => VmAction::Create,
    }
}

/// What happens to a recorded VM no longer asked for: destroyed, or, when
/// its system reuses nodes, stopped (nothing if it is stopped already).
pub fn dropped_vm_action(recorded: &Vm, reuse: bool) -> Option<VmAction> {
    match recorded.state {
        VmState::Destroyed => None,
        VmState::Stopped if reuse && recorded.provider_vm_id.is_some() => None,
        VmState::Running if reuse && recorded.provider_vm_id.is_some() => Some(VmAction::Stop),
        _ => Some(VmAction::Destroy),
    }
}

/// What the provider says of a VM that the records say is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtProvider {
    Running,
    Stopped,
    /// Pending, failed, terminated, or not there at all.
    Gone,
}

/// The executor's correction of a planned `Keep` or `Start` once the
/// provider has answered: a VM that is not there is made again, a VM
/// found stopped is started.
pub fn vm_action_seen(planned: VmAction, seen: AtProvider) -> VmAction {
    match (planned, seen) {
        (VmAction::Keep | VmAction::Start, AtProvider::Gone) => VmAction::Recreate,
        (VmAction::Keep, AtProvider::Stopped) => VmAction::Start,
        (VmAction::Start, AtProvider::Running) => VmAction::Keep,
        (planned, _) => planned,
    }
}

/// The step's action, from what happens to its VM, its recorded run and
/// its script now.
pub fn step_action(
    vm: VmAction,
    recorded: Option<RecordedStep<'_>>,
    script: Script<'_>,
    force: bool,
) -> (StepAction, StepReason) {
    let again = |reason| match recorded {
        Some(_) => (StepAction::Rerun, reason),
        None => (StepAction::Run, reason),
    };
    if script == Script::None {
        return (StepAction::Skip, StepReason::NoRecipe);
    }
    if vm.makes_vm() {
        return again(StepReason::NewVm);
    }
    if vm == VmAction::Start {
        return again(StepReason::VmStarted);
    }
    let Some(rec) = recorded else {
        return (StepAction::Run, StepReason::NeverRun);
    };
    if rec.status != StepStatus::Ok {
        return (StepAction::Rerun, StepReason::LastRun(rec.status));
    }
    match script {
        Script::Unrendered => (StepAction::Rerun, StepReason::NotRenderedYet),
        Script::Hash(h) if h != rec.hash => (StepAction::Rerun, StepReason::ScriptChanged),
        _ if force => (StepAction::Rerun, StepReason::Forced),
        _ => (StepAction::Keep, StepReason::Done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Timestamp;

    fn vm(state: VmState, id: Option<&str>) -> Vm {
        Vm {
            cluster: "c".into(),
            node: "wn-1".into(),
            system: "wn".into(),
            provider: "local".into(),
            provider_vm_id: id.map(str::to_string),
            addresses: vec![],
            state,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_vm_is_made_once_and_a_stopped_one_is_started() {
        use VmAction::*;
        let cases = [
            (None, Create),
            (Some(vm(VmState::Running, Some("i-1"))), Keep),
            (Some(vm(VmState::Stopped, Some("i-1"))), Start),
            (Some(vm(VmState::Failed, Some("i-1"))), Recreate),
            (Some(vm(VmState::Creating, Some("i-1"))), Recreate),
            (Some(vm(VmState::Failed, None)), Create),
            (Some(vm(VmState::Destroyed, Some("i-1"))), Create),
            (Some(vm(VmState::Pending, None)), Create),
        ];
        for (rec, want) in cases {
            assert_eq!(vm_action(rec.as_ref()), want, "{rec:?}");
        }
        assert_eq!(vm_action_seen(Keep, AtProvider::Gone), Recreate);
        assert_eq!(vm_action_seen(Keep, AtProvider::Stopped), Start);
        assert_eq!(vm_action_seen(Start, AtProvider::Running), Keep);
        assert_eq!(vm_action_seen(Start, AtProvider::Gone), Recreate);
        assert_eq!(vm_action_seen(Create, AtProvider::Gone), Create);
    }

    #[test]
    fn a_dropped_vm_is_stopped_only_where_nodes_are_reused() {
        use VmAction::*;
        let running = vm(VmState::Running, Some("i-1"));
        let stopped = vm(VmState::Stopped, Some("i-1"));
        let failed = vm(VmState::Failed, Some("i-1"));
        assert_eq!(dropped_vm_action(&running, false), Some(Destroy));
        assert_eq!(dropped_vm_action(&running, true), Some(Stop));
        assert_eq!(dropped_vm_action(&stopped, true), None);
        assert_eq!(dropped_vm_action(&stopped, false), Some(Destroy));
        assert_eq!(dropped_vm_action(&failed, true), Some(Destroy));
        assert_eq!(
            dropped_vm_action(&vm(VmState::Running, None), true),
            Some(Destroy)
        );
        assert_eq!(
            dropped_vm_action(&vm(VmState::Destroyed, Some("i-1")), true),
            None
        );
    }

    #[test]
    fn steps_of_a_new_vm_run_again_whatever_their_record() {
        let ok = Some(RecordedStep {
            status: StepStatus::Ok,
            hash: "h",
        });
        let same = Script::Hash("h");
        use StepAction::*;
        let cases = [
            (VmAction::Keep, ok, same, false, Keep, StepReason::Done),
            (VmAction::Keep, ok, same, true, Rerun, StepReason::Forced),
            (
                VmAction::Keep,
                ok,
                Script::Hash("g"),
                false,
                Rerun,
                StepReason::ScriptChanged,
            ),
            (
                VmAction::Recreate,
                ok,
                same,
                false,
                Rerun,
                StepReason::NewVm,
            ),
            (VmAction::Create, None, same, false, Run, StepReason::NewVm),
            (
                VmAction::Start,
                ok,
                same,
                false,
                Rerun,
                StepReason::VmStarted,
            ),
            (VmAction::Keep, None, same, false, Run, StepReason::NeverRun),
            (
                VmAction::Keep,
                Some(RecordedStep {
                    status: StepStatus::Failed,
                    hash: "h",
                }),
                same,
                false,
                Rerun,
                StepReason::LastRun(StepStatus::Failed),
            ),
            (
                VmAction::Keep,
                ok,
                Script::Unrendered,
                false,
                Rerun,
                StepReason::NotRenderedYet,
            ),
            (
                VmAction::Keep,
                ok,
                Script::None,
                false,
                Skip,
                StepReason::NoRecipe,
            ),
        ];
        for (vm, rec, script, force, action, reason) in cases {
            assert_eq!(
                step_action(vm, rec, script, force),
                (action, reason.clone()),
                "{vm:?} {rec:?} {script:?} force={force}"
            );
        }
    }
}
