//! Progress for long operations: a bar on a terminal, one line per
//! finished piece of work otherwise (logs, CI).

use crate::ops::observer::{Event, Observer};
use crate::plan::graph::Vertex;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
    started: Mutex<HashMap<Vertex, Instant>>,
    tty: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            bar: Mutex::new(None),
            started: Mutex::new(HashMap::new()),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event) {
        match event {
            Event::Phase { name, total } => {
                if self.tty && !self.quiet {
                    let bar = ProgressBar::new(*total as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>9} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(name.to_string());
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    if let Some(old) = self
                        .bar
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .replace(bar)
                    {
                        old.finish_and_clear();
                    }
                } else {
                    self.line(format!("{name}: {total} to do"));
                }
            }
            Event::Started(v) => {
                self.started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(v.clone(), Instant::now());
                if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    bar.set_message(v.to_string());
                }
            }
            Event::Finished { vertex, error } => {
                let took = self
                    .started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(vertex)
                    .map(|t| t.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    bar.inc(1);
                }
                match error {
                    None => {
                        if !self.tty {
                            self.line(format!("  done {vertex} ({took:.2} s)"));
                        }
                    }
                    Some(e) => self.line(format!("  FAILED {vertex} ({took:.2} s): {e}")),
                }
            }
            Event::Kept(node) => self.line(format!("  kept vm {node} (running)")),
            Event::Created(_) => {}
            Event::Destroyed(node) => self.line(format!("  destroyed vm {node}")),
            Event::StepKept(k) => {
                if !self.tty {
                    self.line(format!(
                        "  kept configure {} on {} (step {}): already done",
                        k.configure, k.node, k.step
                    ));
                }
            }
            Event::StepDone { .. } => {}
            Event::Note(n) => self.line(format!("  {n}")),
        }
    }
}
