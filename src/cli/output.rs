//! Standard output for what a command prints. A reader that goes away
//! before the end (`nubo radl json | head -1`) is not an error: the rest
//! of the output is dropped and the command ends as it would have, with no
//! message (other tools die of SIGPIPE; Rust ignores that signal, so a
//! plain `println!` would panic instead). Any other failure to write is
//! said once on standard error and makes the command fail.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// 0: writing; 1: the reader went away; 2: another write error.
static STATE: AtomicU8 = AtomicU8::new(0);
const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

/// Writes to standard output, unless it can no longer be written.
pub fn write(args: std::fmt::Arguments) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    let mut out = std::io::stdout().lock();
    let Err(e) = out.write_fmt(args) else {
        return;
    };
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        STATE.store(CLOSED, Ordering::Relaxed);
    } else if STATE.swap(FAILED, Ordering::Relaxed) == OPEN {
        eprintln!("nubo: cannot write to standard output: {e}");
    }
}

/// Flushes what is buffered (at the end of a command).
pub fn flush() {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    if let Err(e) = std::io::stdout().lock().flush() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STATE.store(CLOSED, Ordering::Relaxed);
        } else if STATE.swap(FAILED, Ordering::Relaxed) == OPEN {
            eprintln!("nubo: cannot write to standard output: {e}");
        }
    }
}

/// Did a write fail for another reason than a reader gone away?
pub fn failed() -> bool {
    STATE.load(Ordering::Relaxed) == FAILED
}

/// `print!` for command output, through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*))
    };
}

/// `println!` for command output, through [`write`].
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
