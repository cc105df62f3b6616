//! Crash points for the crash-safety tests.
//!
//! `NUBO_TEST_KILL_AT=NAME[:N]` makes nubo send itself SIGKILL the N-th
//! time (default: the first) it passes the crash point `NAME`: a real
//! SIGKILL, at a chosen place, so the tests can prove that any command that
//! follows finds nothing untracked. Without the variable a crash point
//! costs one environment lookup.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static CHECKED: AtomicBool = AtomicBool::new(false);
static TARGET: Mutex<Option<(String, u32)>> = Mutex::new(None);

/// Kills the process here if `NUBO_TEST_KILL_AT` says so.
pub fn point(name: &str) {
    if !CHECKED.swap(true, Ordering::AcqRel) {
        let spec = std::env::var("NUBO_TEST_KILL_AT").ok();
        *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = spec.map(|s| match s.split_once(':') {
            Some((n, k)) => (n.to_string(), k.parse().unwrap_or(1)),
            None => (s, 1),
        });
    }
    let mut target = TARGET.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((n, left)) = target.as_mut()
        && n == name
    {
        *left = left.saturating_sub(1);
        if *left == 0 {
            tracing::warn!(point = name, "NUBO_TEST_KILL_AT: killing nubo");
            // SAFETY: kill(2) on our own pid.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}
