//! `nubo templates`: the templates `launch` can compose.

use super::error::{CliError, CliResult, Message};
use super::output::outln;
use crate::ops::templates::{self, TemplateSearch};

#[derive(clap::Args)]
pub struct Args {
    /// Only templates whose name or summary matches this regular
    /// expression (case-insensitive).
    #[arg(short = 's', long, value_name = "PATTERN")]
    search: Option<String>,
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let search = TemplateSearch::default();
    let pattern = args
        .search
        .map(|s| regex::RegexBuilder::new(&s).case_insensitive(true).build())
        .transpose()
        .map_err(|e| CliError::usage(Message(format!("bad pattern for -s: {e}"))))?;
    let list: Vec<_> = search
        .list()
        .iter()
        .map(templates::info)
        .filter(|t| {
            pattern
                .as_ref()
                .is_none_or(|p| p.is_match(&t.name) || p.is_match(&t.summary))
        })
        .collect();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(CliError::failed)?
        );
        return Ok(());
    }
    outln!("{:<16} {:<10} SUMMARY", "NAME", "KIND");
    for t in list {
        outln!("{:<16} {:<10} {}", t.name, t.kind, t.summary);
    }
    Ok(())
}
