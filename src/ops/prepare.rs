//! Preparing a launch: compose the templates, check and lower them,
//! compile the recipes (fetching recipes from git) and build the graph.
//! Nothing is made on any provider here.

use super::env::{Env, PlacementError};
use super::git::GitRecipes;
use super::recipes::{self, RecipeDirs};
use super::templates::{self, Composed, TemplateError, TemplateSearch};
use crate::diagnostic::Diagnostic;
use crate::model::{self, ClusterSpec};
use crate::plan::graph::{DeployGraph, PlanError};
use crate::provider::Provider;
use crate::source::SourceMap;
use crate::state::{GitPin, StateError};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The description has errors; render them from `sources`.
    #[error("the cluster description has errors")]
    Invalid {
        sources: Box<SourceMap>,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(transparent)]
    Graph(#[from] PlanError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// A composed, checked, lowered description with its graph and recipes.
pub struct Prepared {
    pub composed: Composed,
    pub spec: ClusterSpec,
    pub graph: DeployGraph,
    pub recipes: HashMap<String, crate::recipe::Recipe>,
    /// The commits the recipes from git were compiled from.
    pub git_pins: Vec<GitPin>,
}

/// Composes, checks, lowers and plans; every problem with a span. Git
/// references use the commits in `pins` (a cluster's recorded ones) and
/// resolve the others.
pub fn prepare(
    search: &TemplateSearch,
    templates: &[String],
    add: Option<&str>,
    recipe_dirs: &RecipeDirs,
    pins: &[GitPin],
) -> Result<Prepared, PrepareError> {
    let git = GitRecipes::new(recipe_dirs.git.clone(), pins, false);
    finish_prepare(
        templates::compose(search, templates, add)?,
        recipe_dirs,
        Default::default(),
        &git,
    )
}

impl Prepared {
    /// The Ansible roles the configures written for Ansible use.
    pub fn ansible_roles(&self) -> Vec<crate::recipe::playbook::Role> {
        self.recipes
            .values()
            .filter_map(|r| r.ansible.as_ref())
            .next()
            .map(|a| a.roles.clone())
            .unwrap_or_default()
    }
}

/// Lowers, compiles the recipes of (fetching recipes from git), and plans
/// a composed description; `scaled` gives the elastic systems' nodes that
/// are on.
pub fn finish_prepare(
    mut composed: Composed,
    recipe_dirs: &RecipeDirs,
    scaled: indexmap::IndexMap<String, Vec<u32>>,
    git: &GitRecipes,
) -> Result<Prepared, PrepareError> {
    let (mut spec, mut diags) = model::lower(&composed.document);
    spec.scaled = scaled;
    diags.extend(composed.diagnostics.iter().cloned());
    if diags.iter().any(Diagnostic::is_error) {
        return Err(PrepareError::Invalid {
            sources: Box::new(composed.sources),
            diagnostics: diags,
        });
    }
    let recipes = recipes::compile(&spec, &mut composed.sources, recipe_dirs, git);
    let recipes = match recipes {
        Ok(r) => r,
        Err(d) => {
            return Err(PrepareError::Invalid {
                sources: Box::new(composed.sources),
                diagnostics: d,
            });
        }
    };
    let expanded: HashMap<String, String> = recipes
        .iter()
        .map(|(name, r)| (name.clone(), r.template_text()))
        .collect();
    let graph = DeployGraph::build_with(&spec, &expanded)?;
    composed.diagnostics = diags;
    Ok(Prepared {
        composed,
        spec,
        graph,
        recipes,
        git_pins: git.pins(),
    })
}

/// Where each system's VMs go.
pub fn place(
    env: &Env,
    spec: &ClusterSpec,
) -> Result<HashMap<String, Arc<dyn Provider>>, PlacementError> {
    env.providers.place(spec)
}

/// The elastic systems' nodes that are on, as the elasticity daemon
/// recorded them: systems it never managed keep their deploy count.
pub fn scaled_nodes(
    env: &Env,
    name: &str,
) -> Result<indexmap::IndexMap<String, Vec<u32>>, StateError> {
    let mut scaled: indexmap::IndexMap<String, Vec<u32>> = indexmap::IndexMap::new();
    for n in env.store.elastic_nodes(name)? {
        let on = scaled.entry(n.system.clone()).or_default();
        if n.state.is_on() {
            on.push(n.number);
        }
    }
    Ok(scaled)
}
