//! Finding recipes and compiling a cluster's configures before anything is
//! launched: every recipe part is parsed (an Ansible body is reported
//! here, with its place), includes are expanded, and the parts of a
//! composed configure are joined. Nothing runs until all of them compile.
//!
//! `include: NAME` looks for `NAME` (then `NAME.yaml`, `NAME.yml`) in
//! `./recipes`, the user's recipe directory
//! (`$XDG_CONFIG_HOME/nubo/recipes`) and the recipes built into nubo; in a
//! recipe from git, first next to that recipe at its commit.
//! `include: {git: URL, rev: REV, path: PATH}` is served by
//! [`GitRecipes`](super::git::GitRecipes).

use super::builtin;
use super::git::{GitCache, GitRecipes};
use super::templates::user_config_dir;
use crate::diagnostic::Diagnostic;
use crate::model::ClusterSpec;
use crate::recipe::{self, IncludeRef, Recipe, RecipeSource};
use crate::source::{SourceMap, read_text};
use std::collections::HashMap;
use std::path::PathBuf;

/// Where `include: NAME` looks, and where recipes from git are cached.
#[derive(Clone, Debug)]
pub struct RecipeDirs {
    pub dirs: Vec<PathBuf>,
    pub builtin: bool,
    pub git: GitCache,
}

impl Default for RecipeDirs {
    fn default() -> Self {
        let mut dirs = vec![PathBuf::from("recipes")];
        if let Some(d) = user_config_dir() {
            dirs.push(d.join("recipes"));
        }
        RecipeDirs {
            dirs,
            builtin: true,
            git: GitCache::default(),
        }
    }
}

/// Recipes for one compile: the directories, and git.
struct Sources<'a> {
    dirs: &'a RecipeDirs,
    git: &'a GitRecipes,
}

impl RecipeSource for Sources<'_> {
    fn load(&self, r: &IncludeRef) -> Result<(String, String), String> {
        self.load_in(r, None)
    }

    fn load_in(&self, r: &IncludeRef, from: Option<&str>) -> Result<(String, String), String> {
        match r {
            IncludeRef::Git { url, rev, path, .. } => self
                .git
                .load_git(url, rev.as_deref(), path.as_deref())
                .map_err(|e| e.to_string()),
            IncludeRef::Name { name, .. } => {
                if let Some(found) = from.and_then(|f| self.git.load_beside(f, name)) {
                    return found;
                }
                self.dirs.find(name)
            }
        }
    }
}

impl RecipeDirs {
    /// Finds `include: NAME` (or `template: NAME`) in the directories,
    /// then among the built-in recipes.
    pub fn find(&self, name: &str) -> Result<(String, String), String> {
        if name.contains("..") || name.starts_with('/') {
            return Err(format!(
                "recipe name `{name}` must be relative, without `..`"
            ));
        }
        let candidates = [
            name.to_string(),
            format!("{name}.yaml"),
            format!("{name}.yml"),
        ];
        for dir in &self.dirs {
            for c in &candidates {
                let p = dir.join(c);
                if p.is_file() {
                    let text = read_text(&p).map_err(|e| e.to_string())?;
                    return Ok((p.display().to_string(), text));
                }
            }
        }
        if self.builtin {
            for c in &candidates {
                if let Some(text) = builtin::recipe(c) {
                    return Ok((format!("builtin:{c}"), text.to_string()));
                }
            }
        }
        let mut looked: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        if self.builtin {
            looked.push("the built-in recipes".into());
        }
        Err(format!(
            "recipe `{name}` not found (looked in {})",
            looked.join(", ")
        ))
    }
}

/// Compiles every configure the cluster runs: name → recipe with includes
/// expanded. Every problem is returned, with its span.
///
/// Git references are resolved through `git` (recorded commits as they
/// are); `git.pins()` then says which commits were used.
pub fn compile(
    spec: &ClusterSpec,
    sources: &mut SourceMap,
    dirs: &RecipeDirs,
    git: &GitRecipes,
) -> Result<HashMap<String, Recipe>, Vec<Diagnostic>> {
    let src = Sources { dirs, git };
    let used: Vec<String> = spec.steps().into_iter().map(|s| s.configure).collect();
    let mut out = HashMap::new();
    let mut diags = Vec::new();
    for (name, text) in &spec.recipes {
        let Some(text) = text else { continue };
        if !used.contains(name) {
            continue; // defined but never run: not compiled, as IM ignores it
        }
        let mut steps = Vec::new();
        for part in &text.parts {
            let parsed = recipe::parse(part.span.file, part.span.start as usize, &part.text)
                .and_then(|r| recipe::expand_includes(r, &src, sources));
            match parsed {
                Ok(r) => steps.extend(r.steps),
                Err(d) => diags.extend(d),
            }
        }
        out.insert(name.clone(), Recipe { steps });
    }
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(out)
    }
}
