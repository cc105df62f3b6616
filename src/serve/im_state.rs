//! The Infrastructure Manager's state names, a VM's from nubo's records
//! and the infrastructure's from its VMs' (IM's rule).

use crate::state::{ClusterStatus, Step, StepStatus, Vm, VmState};

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const STOPPED: &str = "stopped";
pub const OFF: &str = "off";
pub const FAILED: &str = "failed";
pub const CONFIGURED: &str = "configured";
pub const UNCONFIGURED: &str = "unconfigured";
pub const DELETING: &str = "deleting";
pub const UNKNOWN: &str = "unknown";

/// A recorded VM's state, IM's way: a running VM is `configured` once the
/// cluster's launch finished and each of its steps is `ok`,
/// `unconfigured` when one of them failed, else `running`.
pub fn vm_state(cluster: ClusterStatus, vm: &Vm, steps: &[Step]) -> &'static str {
    match vm.state {
        VmState::Pending | VmState::Creating => PENDING,
        VmState::Stopped => STOPPED,
        VmState::Failed => FAILED,
        VmState::Destroying => DELETING,
        VmState::Destroyed => OFF,
        VmState::Running => {
            let mine = steps.iter().filter(|s| s.key.node == vm.node);
            let mut any_failed = false;
            let mut all_ok = true;
            for s in mine {
                match s.status {
                    StepStatus::Ok => {}
                    StepStatus::Failed => any_failed = true,
                    _ => all_ok = false,
                }
            }
            if any_failed || cluster == ClusterStatus::Failed {
                UNCONFIGURED
            } else if all_ok && cluster == ClusterStatus::Running {
                CONFIGURED
            } else {
                RUNNING
            }
        }
    }
}

/// The infrastructure's state from its VMs' (IM's precedence): any
/// `failed` wins; then `unknown`; `pending` beats `running`; `stopped`,
/// `off`, `configured`, `deleting` count only when nothing was set yet;
/// `unconfigured` overrides `configured`. Without VMs: `failed` when the
/// launch failed, else `pending`.
pub fn infrastructure_state<'a>(
    vms: impl IntoIterator<Item = &'a str>,
    failed: bool,
) -> &'static str {
    let mut state: Option<&'static str> = None;
    for s in vms {
        state = match (s, state) {
            (FAILED, _) => Some(FAILED),
            (UNKNOWN, Some(FAILED)) => state,
            (UNKNOWN, _) => Some(UNKNOWN),
            (PENDING, Some(FAILED | UNKNOWN)) => state,
            (PENDING, _) => Some(PENDING),
            (RUNNING, Some(FAILED | UNKNOWN | PENDING)) => state,
            (RUNNING, _) => Some(RUNNING),
            (UNCONFIGURED, None | Some(CONFIGURED)) => Some(UNCONFIGURED),
            (STOPPED, None) => Some(STOPPED),
            (OFF, None) => Some(OFF),
            (CONFIGURED, None) => Some(CONFIGURED),
            (DELETING, None) => Some(DELETING),
            _ => state,
        };
    }
    state.unwrap_or(if failed { FAILED } else { PENDING })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ims_precedence() {
        assert_eq!(
            infrastructure_state([CONFIGURED, CONFIGURED], false),
            CONFIGURED
        );
        assert_eq!(infrastructure_state([CONFIGURED, RUNNING], false), RUNNING);
        assert_eq!(
            infrastructure_state([RUNNING, PENDING, CONFIGURED], false),
            PENDING
        );
        assert_eq!(
            infrastructure_state([PENDING, FAILED, RUNNING], false),
            FAILED
        );
        assert_eq!(
            infrastructure_state([CONFIGURED, UNCONFIGURED], false),
            UNCONFIGURED
        );
        assert_eq!(
            infrastructure_state([UNCONFIGURED, CONFIGURED], false),
            UNCONFIGURED
        );
        assert_eq!(infrastructure_state([STOPPED, STOPPED], false), STOPPED);
        assert_eq!(infrastructure_state([UNKNOWN, RUNNING], false), UNKNOWN);
        assert_eq!(infrastructure_state([], false), PENDING);
        assert_eq!(infrastructure_state([], true), FAILED);
    }
}
