//! Splicing included recipes (and loading `file` templates) through a
//! source the caller supplies: nubo parses references, the caller finds
//! the text (a `recipes/` directory, a git checkout, a test's map).

use super::parse::parse;
use super::step::{Action, FileContent, IncludeRef, Recipe, Step, Text};
use crate::diagnostic::Diagnostic;
use crate::source::{SourceMap, Span};

/// Finds the text a reference names. `load` returns a display name (a
/// path, for messages) and the text, or why it cannot.
///
/// It serves two kinds of reference: `include:` (a recipe) and a `file`
/// step's `template:` (a template file). Names come as written: a name
/// without an extension (`hosts`) is a recipe the caller usually finds as
/// `recipes/hosts.yaml`; a name with one (`motd.hbs`) is a file name.
pub trait RecipeSource {
    fn load(&self, r: &IncludeRef) -> Result<(String, String), String>;

    /// `load` for a reference written in a loaded file: `from` is the
    /// display name `load` gave that file (`None` in the recipe handed to
    /// `expand_includes`), so a source can find names next to it (a
    /// recipe from git includes files of its own repository).
    fn load_in(&self, r: &IncludeRef, from: Option<&str>) -> Result<(String, String), String> {
        let _ = from;
        self.load(r)
    }
}

/// How deep includes may nest (a chain of distinct names that never ends
/// is as wrong as a cycle).
pub const MAX_DEPTH: usize = 16;

/// Replaces every `include` step by the steps of the recipe it names
/// (recursively), and loads every `file` template. Loaded texts are added
/// to `sources`, so diagnostics point into them. A cycle is an error that
/// names the chain.
pub fn expand_includes(
    recipe: Recipe,
    src: &dyn RecipeSource,
    sources: &mut SourceMap,
) -> Result<Recipe, Vec<Diagnostic>> {
    let mut x = Expander {
        src,
        sources,
        chain: Vec::new(),
        origins: Vec::new(),
        diags: Vec::new(),
    };
    let steps = x.steps(recipe.steps);
    if x.diags.is_empty() {
        Ok(Recipe {
            steps,
            ansible: recipe.ansible,
        })
    } else {
        Err(x.diags)
    }
}

struct Expander<'a> {
    src: &'a dyn RecipeSource,
    sources: &'a mut SourceMap,
    /// The includes being expanded, outermost first.
    chain: Vec<IncludeRef>,
    /// The display name each of `chain` was loaded under.
    origins: Vec<String>,
    diags: Vec<Diagnostic>,
}

impl Expander<'_> {
    fn steps(&mut self, steps: Vec<Step>) -> Vec<Step> {
        let mut out = Vec::with_capacity(steps.len());
        for mut step in steps {
            match step.action {
                Action::Include(r) => out.extend(self.include(r)),
                Action::File {
                    content:
                        FileContent::Template {
                            ref reference,
                            ref mut loaded,
                        },
                    ..
                } if loaded.is_none() => {
                    if let Some((id, text, _)) = self.load(reference, "template") {
                        let len = text.len();
                        *loaded = Some(Text {
                            value: text.clone(),
                            span: Span::new(id, 0, len),
                            raw: text,
                        });
                    }
                    out.push(step);
                }
                _ => out.push(step),
            }
        }
        out
    }

    /// Loads what `r` names; returns its file, text and display name.
    fn load(
        &mut self,
        r: &IncludeRef,
        what: &str,
    ) -> Option<(crate::source::FileId, String, String)> {
        let from = self.origins.last().map(String::as_str);
        match self.src.load_in(r, from) {
            Ok((name, text)) => {
                let id = self.sources.add(name.clone(), text.clone());
                Some((id, text, name))
            }
            Err(why) => {
                self.diags.push(Diagnostic::error(
                    r.span(),
                    format!("cannot load {what} `{r}`: {why}"),
                ));
                None
            }
        }
    }

    fn include(&mut self, r: IncludeRef) -> Vec<Step> {
        if let Some(i) = self.chain.iter().position(|c| c.key() == r.key()) {
            let names: Vec<String> = self.chain[i..]
                .iter()
                .chain([&r])
                .map(|c| c.to_string())
                .collect();
            let mut d =
                Diagnostic::error(r.span(), format!("include cycle: {}", names.join(" -> ")));
            for c in &self.chain[i..] {
                d = d.with_related(c.span(), format!("`{c}` included here"));
            }
            self.diags.push(d);
            return Vec::new();
        }
        if self.chain.len() >= MAX_DEPTH {
            self.diags.push(Diagnostic::error(
                r.span(),
                format!("includes nest more than {MAX_DEPTH} deep here"),
            ));
            return Vec::new();
        }
        let Some((id, text, name)) = self.load(&r, "recipe") else {
            return Vec::new();
        };
        match parse(id, 0, &text) {
            Ok(recipe) => {
                self.chain.push(r);
                self.origins.push(name);
                let steps = self.steps(recipe.steps);
                self.chain.pop();
                self.origins.pop();
                steps
            }
            Err(diags) => {
                self.diags.extend(diags);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl RecipeSource for Map {
        fn load(&self, r: &IncludeRef) -> Result<(String, String), String> {
            match r {
                IncludeRef::Name { name, .. } => self
                    .0
                    .get(name.as_str())
                    .map(|t| (format!("recipes/{name}.yaml"), t.to_string()))
                    .ok_or_else(|| "no such recipe".to_string()),
                IncludeRef::Git { .. } => Err("git is not served here".into()),
            }
        }
    }

    fn expand(root: &str, files: &[(&'static str, &'static str)]) -> Result<Recipe, Vec<String>> {
        let mut sm = SourceMap::new();
        let id = sm.add("root.yaml", root);
        let r =
            parse(id, 0, root).map_err(|d| d.into_iter().map(|d| d.message).collect::<Vec<_>>())?;
        expand_includes(r, &Map(files.iter().copied().collect()), &mut sm)
            .map_err(|d| d.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn splices_in_order() {
        let r = expand(
            "- shell: a\n- include: b\n- shell: d\n",
            &[("b", "- shell: b\n- include: c\n"), ("c", "- shell: c\n")],
        )
        .unwrap();
        let cmds: Vec<_> = r
            .steps
            .iter()
            .map(|s| match &s.action {
                Action::Shell { command } => command.value.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(cmds, ["a", "b", "c", "d"]);
        // Spans of spliced steps point into the included file.
        assert_eq!(r.steps[1].span.file, FileId(1));
    }

    #[test]
    fn cycles_name_the_chain() {
        let e = expand(
            "- include: a\n",
            &[("a", "- include: b\n"), ("b", "- include: a\n")],
        )
        .unwrap_err();
        assert_eq!(e, ["include cycle: a -> b -> a"]);
        let e = expand("- include: a\n", &[("a", "- include: a\n")]).unwrap_err();
        assert_eq!(e, ["include cycle: a -> a"]);
    }

    /// Records the `from` each load is given.
    struct Origins(std::cell::RefCell<Vec<(String, Option<String>)>>);

    impl RecipeSource for Origins {
        fn load(&self, _: &IncludeRef) -> Result<(String, String), String> {
            Err("load_in is called".into())
        }

        fn load_in(&self, r: &IncludeRef, from: Option<&str>) -> Result<(String, String), String> {
            self.0
                .borrow_mut()
                .push((r.to_string(), from.map(str::to_string)));
            let text = match r.to_string().as_str() {
                "a" => "- include: b\n- file: {path: /x, template: t}\n",
                "b" => "- shell: b\n",
                _ => "x\n",
            };
            Ok((format!("dir/{r}.yaml"), text.into()))
        }
    }

    #[test]
    fn loads_are_told_which_file_they_are_written_in() {
        let mut sm = SourceMap::new();
        let root = "- include: a\n- file: {path: /y, template: u}\n";
        let id = sm.add("root.yaml", root);
        let src = Origins(Default::default());
        expand_includes(parse(id, 0, root).unwrap(), &src, &mut sm).unwrap();
        let seen = src.0.into_inner();
        let from = |s: &str| Some(s.to_string());
        assert_eq!(
            seen,
            [
                ("a".to_string(), None),
                ("b".to_string(), from("dir/a.yaml")),
                ("t".to_string(), from("dir/a.yaml")),
                ("u".to_string(), None),
            ]
        );
    }

    #[test]
    fn load_failures_and_templates() {
        let e = expand("- include: nope\n", &[]).unwrap_err();
        assert_eq!(e, ["cannot load recipe `nope`: no such recipe"]);
        let e = expand(
            "- include: {git: https://h/r.git, rev: v1, path: a.yaml}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e,
            ["cannot load recipe `git https://h/r.git@v1:a.yaml`: git is not served here"]
        );
        let r = expand(
            "- file: {path: /x, template: t}\n",
            &[("t", "{{node.name}}\n")],
        )
        .unwrap();
        let Action::File {
            content: FileContent::Template { loaded, .. },
            ..
        } = &r.steps[0].action
        else {
            panic!()
        };
        assert_eq!(loaded.as_ref().unwrap().value, "{{node.name}}\n");
    }
}
