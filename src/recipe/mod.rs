//! Native recipes: the body of a RADL `configure NAME (@begin ... @end)`
//! (or a file in `recipes/`), a YAML list of steps, turned into one POSIX
//! `sh` script per (node, configure).
//!
//! ```text
//! text ──parse──▶ Recipe ──expand_includes──▶ Recipe ──render(ctx)──▶ Script ──(caller: sh -s over SSH)──▶ output ──parse_results──▶ [StepResult]
//! ```
//!
//! `parse` checks structure and value types and recognises Ansible bodies
//! (`ansible`); `expand_includes` splices included recipes and loads file
//! templates through the caller's [`RecipeSource`]; `render` fills every
//! string in with handlebars (strict mode, `template`) and writes the
//! script (`script`, helpers in `prelude.sh`); `parse_results` reads the
//! script's marker lines back (`results`). The step kinds and the context
//! are documented in `recipes/README.md`.
//!
//! A body written for Ansible (`ansible`) is not parsed into steps: its
//! parts are checked and kept (`playbook`), and the caller runs it with
//! `ansible-playbook` on an inventory built from the same context
//! (`inventory`); `render` then gives its identity for the step records.
//!
//! Invariant: this module does no I/O and knows no SSH; it works on text
//! and a context handed to it, and hands back text.

pub mod ansible;
pub mod ansible_output;
pub mod include;
pub mod inventory;
pub mod parse;
pub mod playbook;
pub mod results;
pub mod script;
pub mod step;
pub mod template;
pub mod validate;

pub use ansible::{AnsibleHint, detect_ansible};
pub use include::{RecipeSource, expand_includes};
pub use parse::parse;
pub use results::{Outcome, StepResult, parse_results};
pub use script::{Script, render};
pub use step::{
    Action, AnsibleBody, FileContent, IncludeRef, Recipe, ServiceState, Step, StepKind, Text, When,
};
