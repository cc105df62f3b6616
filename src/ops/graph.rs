//! `nubo graph`: the deployment graph of a RADL file, as DOT.

use super::radl_file::{self, ReadError};
use crate::diagnostic::Diagnostic;
use crate::model;
use crate::plan::{DeployGraph, PlanError};
use crate::source::SourceMap;
use std::path::PathBuf;

pub struct GraphOptions {
    pub file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the description is invalid")]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Reads, checks and lowers the file, then builds its graph.
pub fn graph(sources: &mut SourceMap, opts: &GraphOptions) -> Result<DeployGraph, GraphError> {
    let (_, v) = radl_file::load(sources, &opts.file)?;
    let mut errors: Vec<_> = v
        .diagnostics()
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    let (spec, lower_diags) = model::lower(&v.document);
    errors.extend(lower_diags);
    if !errors.is_empty() {
        return Err(GraphError::Invalid(errors));
    }
    Ok(DeployGraph::build(&spec)?)
}

/// The graph `launch` would walk for these templates (names or files,
/// composed as `launch` composes them, recipes compiled), on a cluster
/// with nothing recorded.
pub fn graph_of_templates(
    templates: &[String],
    add: Option<&str>,
) -> Result<DeployGraph, super::prepare::PrepareError> {
    let prepared = super::prepare::prepare(
        &Default::default(),
        templates,
        add,
        &Default::default(),
        &[],
    )?;
    Ok(prepared.graph)
}
