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
use crate::recipe::playbook::{self, Role, RoleRef};
use crate::recipe::{self, AnsibleBody, IncludeRef, Recipe, RecipeSource};
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
    let mut roles: Option<Vec<Role>> = None;
    for (name, text) in &spec.recipes {
        let Some(text) = text else { continue };
        if !used.contains(name) {
            continue; // defined but never run: not compiled, as IM ignores it
        }
        if text
            .parts
            .iter()
            .any(|p| recipe::detect_ansible(&p.text).is_some())
        {
            let mut parts = Vec::new();
            for part in &text.parts {
                if recipe::detect_ansible(&part.text).is_none() && !part.text.trim().is_empty() {
                    diags.push(Diagnostic::error(
                        part.span,
                        format!(
                            "configure `{name}` joins an Ansible body and a native recipe; \
                             write each as a configure of its own"
                        ),
                    ));
                    continue;
                }
                match playbook::check_part(part.span.file, part.span.start as usize, &part.text) {
                    Ok(p) => parts.push(p),
                    Err(d) => diags.extend(d),
                }
            }
            let roles = match &roles {
                Some(r) => r.clone(),
                None => {
                    let at = text.parts.first().map(|p| p.span);
                    let (r, d) = ansible_roles(spec, git, at);
                    diags.extend(d);
                    roles = Some(r.clone());
                    r
                }
            };
            out.insert(
                name.clone(),
                Recipe {
                    steps: Vec::new(),
                    ansible: Some(AnsibleBody { parts, roles }),
                },
            );
            continue;
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
        out.insert(
            name.clone(),
            Recipe {
                steps,
                ansible: None,
            },
        );
    }
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(out)
    }
}

/// The Ansible roles the systems' applications name
/// (`disk.0.applications contains (name = 'ansible.modules.NAME')`), as IM
/// collects them for the whole cluster; roles from git are fetched (or
/// found in the cache) now, at their recorded commit. Galaxy roles are
/// installed at launch, before any VM is made (`ops::ansible_roles`).
fn ansible_roles(
    spec: &ClusterSpec,
    git: &GitRecipes,
    at: Option<crate::source::Span>,
) -> (Vec<Role>, Vec<Diagnostic>) {
    let mut roles: Vec<Role> = Vec::new();
    let mut diags = Vec::new();
    for system in &spec.systems {
        let features = crate::radl::json::features(&system.features);
        let apps = features
            .get("disk.0.applications")
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default();
        for app in apps {
            let Some(app_name) = app["name"].as_str() else {
                continue;
            };
            let Some(parsed) = playbook::role_ref(app_name, app["version"].as_str()) else {
                continue;
            };
            let Some(span) = at else { continue };
            let role = match parsed {
                Err(m) => {
                    diags.push(Diagnostic::error(span, m));
                    continue;
                }
                Ok(RoleRef::Galaxy { name, version }) => Role::Galaxy { name, version },
                Ok(RoleRef::Git { name, url, rev }) => match git.role_tree(&url, rev.as_deref()) {
                    Ok((commit, tree)) => Role::Git {
                        name,
                        url,
                        commit,
                        tree,
                    },
                    Err(e) => {
                        diags.push(Diagnostic::error(
                            span,
                            format!(
                                "Ansible role `{name}` cannot be fetched from git: {e}; \
                                 give a git URL nubo can reach (`ansible.modules.git+URL|{name}`) \
                                 or a local repository (`git+file:///PATH|{name}`)"
                            ),
                        ));
                        continue;
                    }
                },
            };
            if !roles.iter().any(|r| r.name() == role.name()) {
                roles.push(role);
            }
        }
    }
    (roles, diags)
}
