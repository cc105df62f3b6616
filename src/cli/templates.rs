//! `nubo templates`: the templates `launch` can compose.

use super::common::fail;
use crate::ops::templates::{self, TemplateSearch};
use std::process::ExitCode;

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

pub fn run(args: Args) -> ExitCode {
    let search = TemplateSearch::default();
    let pattern = match args
        .search
        .map(|s| regex::RegexBuilder::new(&s).case_insensitive(true).build())
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return fail(2, format!("bad pattern for -s: {e}")),
    };
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
        match serde_json::to_string_pretty(&list) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(2, e),
        }
        return ExitCode::SUCCESS;
    }
    println!("{:<16} {:<10} SUMMARY", "NAME", "KIND");
    for t in list {
        println!("{:<16} {:<10} {}", t.name, t.kind, t.summary);
    }
    ExitCode::SUCCESS
}
