//! Progress for long operations: on a terminal, a bar per phase (a
//! launch's networks, VMs and configuration, which overlap; a destroy's
//! VMs), each left on screen as it completes; otherwise (logs, CI) one
//! line per phase and per finished piece of work.

use crate::ops::observer::{Event, Observer};
use crate::plan::changes::VmAction;
use crate::plan::graph::{Phase, Vertex};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct Progress {
    inner: Mutex<Inner>,
    /// Bars (a terminal) or lines.
    bars: bool,
    quiet: bool,
}

#[derive(Default)]
struct Inner {
    multi: Option<MultiProgress>,
    phases: Vec<(Phase, ProgressBar)>,
    started: HashMap<Vertex, Instant>,
}

/// A phase as its bar stands: phase, done, total, complete.
#[cfg(test)]
type PhaseState = (Phase, u64, u64, bool);

impl Progress {
    /// Bars when standard error is a terminal and not `quiet`.
    pub fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self::with_target(quiet, tty.then(ProgressDrawTarget::stderr))
    }

    /// Bars drawn to `target`, or lines when `None`.
    fn with_target(quiet: bool, target: Option<ProgressDrawTarget>) -> Self {
        let bars = target.is_some() && !quiet;
        Progress {
            inner: Mutex::new(Inner {
                multi: target.filter(|_| bars).map(MultiProgress::with_draw_target),
                ..Inner::default()
            }),
            bars,
            quiet,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each update is a single assignment or insert: a panic elsewhere
        // cannot leave it half done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn line(&self, inner: &Inner, text: String) {
        if self.quiet {
            return;
        }
        match &inner.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// Leaves every bar as it stands (a phase cut short by a failure shows
    /// how far it got) and stops drawing.
    pub fn finish(&self) {
        let mut inner = self.lock();
        for (_, bar) in inner.phases.drain(..) {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        inner.multi = None;
    }

    fn bar(inner: &Inner, phase: Phase) -> Option<ProgressBar> {
        inner
            .phases
            .iter()
            .find(|(name, _)| *name == phase)
            .map(|(_, b)| b.clone())
    }

    /// One more done in `phase`; a phase done is drawn complete.
    fn advance(inner: &Inner, phase: Phase) {
        if let Some(bar) = Self::bar(inner, phase) {
            bar.inc(1);
            if bar.length().is_some_and(|len| bar.position() >= len) {
                bar.finish_with_message("");
            }
        }
    }

    fn add_phase(&self, inner: &mut Inner, name: Phase, total: usize) {
        if let Some((_, old)) = inner.phases.iter().find(|(n, _)| *n == name) {
            old.abandon();
        }
        inner.phases.retain(|(n, _)| *n != name);
        if !self.bars {
            if total > 0 {
                self.line(inner, format!("{name}: {total} to do"));
            }
            return;
        }
        let Some(multi) = &inner.multi else { return };
        if total == 0 {
            return;
        }
        let bar = multi.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>13} [{bar:30}] {pos:>3}/{len:<3} {elapsed:>4} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(name.as_str());
        bar.enable_steady_tick(Duration::from_millis(120));
        inner.phases.push((name, bar));
    }

    #[cfg(test)]
    fn phases(&self) -> Vec<PhaseState> {
        self.lock()
            .phases
            .iter()
            .map(|(n, b)| (*n, b.position(), b.length().unwrap_or(0), b.is_finished()))
            .collect()
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event) {
        let mut inner = self.lock();
        match event {
            Event::Phase { name, total } => self.add_phase(&mut inner, *name, *total),
            Event::Started(v) => {
                inner.started.insert(v.clone(), Instant::now());
                if let Some(bar) = Self::bar(&inner, v.phase()) {
                    bar.set_message(v.to_string());
                }
            }
            Event::Finished { vertex, error } => {
                let took = inner
                    .started
                    .remove(vertex)
                    .map_or(0.0, |t| t.elapsed().as_secs_f64());
                Self::advance(&inner, vertex.phase());
                match error {
                    None if !self.bars => {
                        self.line(&inner, format!("  done {vertex} ({took:.2} s)"))
                    }
                    None => {}
                    Some(e) => self.line(&inner, format!("  FAILED {vertex} ({took:.2} s): {e}")),
                }
            }
            Event::Kept(node) => self.line(&inner, format!("  kept vm {node} (running)")),
            Event::Created(_) | Event::StepDone { .. } => {}
            Event::Destroyed(node) => {
                Self::advance(&inner, Phase::Destroy);
                if !self.bars {
                    self.line(&inner, format!("  destroyed vm {node}"));
                }
            }
            Event::StepKept(k) => {
                if !self.bars {
                    self.line(
                        &inner,
                        format!(
                            "  kept configure {} on {} (step {}): already done",
                            k.configure, k.node, k.step
                        ),
                    );
                }
            }
            Event::VmAction { node, action } => match action {
                VmAction::Start | VmAction::Recreate => {
                    self.line(&inner, format!("  {action} vm {node}"))
                }
                VmAction::Create | VmAction::Keep | VmAction::Destroy | VmAction::Stop => {}
            },
            Event::StepAction { .. } => {}
            Event::Note(n) => self.line(&inner, format!("  {n}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::graph::PHASES;

    fn vm(n: &str) -> Vertex {
        Vertex::Vm {
            system: "wn".into(),
            name: n.into(),
        }
    }

    fn step(n: &str, s: u32) -> Vertex {
        Vertex::Configure {
            node: n.into(),
            system: "wn".into(),
            configure: "wn".into(),
            step: s,
        }
    }

    fn done(p: &Progress, v: Vertex, error: Option<&str>) {
        p.on(&Event::Started(v.clone()));
        p.on(&Event::Finished {
            vertex: v,
            error: error.map(crate::plan::walk::Failure::from),
        });
    }

    fn bars() -> Progress {
        Progress::with_target(false, Some(ProgressDrawTarget::hidden()))
    }

    #[test]
    fn a_launch_has_a_bar_per_phase_each_counting_its_own_work() {
        let p = bars();
        for (phase, total) in PHASES.into_iter().zip([1, 2, 4]) {
            p.on(&Event::Phase { name: phase, total });
        }
        done(&p, Vertex::Network { name: "n".into() }, None);
        done(&p, vm("wn-1"), None);
        done(&p, step("wn-1", 1), None);
        assert_eq!(
            p.phases(),
            vec![
                (Phase::Networks, 1, 1, true),
                (Phase::Vms, 1, 2, false),
                (Phase::Configuration, 1, 4, false),
            ]
        );
        done(&p, vm("wn-2"), None);
        for (n, s) in [("wn-1", 2), ("wn-2", 1), ("wn-2", 2)] {
            done(&p, step(n, s), None);
        }
        assert!(
            p.phases()
                .iter()
                .all(|&(_, pos, len, finished)| pos == len && finished)
        );
        p.finish();
        assert!(p.phases().is_empty());
    }

    #[test]
    fn a_phase_cut_short_by_a_failure_stays_where_it_got() {
        let p = bars();
        p.on(&Event::Phase {
            name: Phase::Vms,
            total: 2,
        });
        p.on(&Event::Phase {
            name: Phase::Configuration,
            total: 0,
        });
        done(&p, vm("wn-1"), Some("quota"));
        // No bar for an empty phase; a failed vertex still counts as done.
        assert_eq!(p.phases(), vec![(Phase::Vms, 1, 2, false)]);
        p.finish();
    }

    #[test]
    fn destroy_counts_destroyed_vms() {
        let p = bars();
        p.on(&Event::Phase {
            name: Phase::Destroy,
            total: 2,
        });
        p.on(&Event::Destroyed("a".into()));
        p.on(&Event::Destroyed("b".into()));
        assert_eq!(p.phases(), vec![(Phase::Destroy, 2, 2, true)]);
    }

    #[test]
    fn without_a_terminal_there_are_no_bars() {
        let p = Progress::with_target(false, None);
        p.on(&Event::Phase {
            name: Phase::Vms,
            total: 2,
        });
        done(&p, vm("wn-1"), None);
        assert!(p.phases().is_empty());
        let q = Progress::with_target(true, Some(ProgressDrawTarget::hidden()));
        q.on(&Event::Phase {
            name: Phase::Vms,
            total: 2,
        });
        assert!(q.phases().is_empty(), "quiet (--json) draws nothing");
    }
}
