//! Templates: finding them by name and composing them into one cluster
//! description, as EC3 does for `launch`.
//!
//! A template argument is a path when it names an existing file or
//! contains a `/`; otherwise a name, looked up as `NAME.radl` (then
//! `NAME.yaml`/`NAME.yml`, TOSCA) in, first to last: `./templates`, the
//! user's template directory (`$XDG_CONFIG_HOME/nubo/templates`, else
//! `~/.config/nubo/templates`), and the templates built into nubo (the
//! repository's `templates/`). `include NAME (template = 'a b')` sentences
//! pull further templates in before the one that includes them; a cycle is
//! an error. Documents are then composed in order with
//! [`Document::compose`].

use super::builtin;
use crate::diagnostic::Diagnostic;
use crate::radl::document::Document;
use crate::radl::{self, check};
use crate::source::{FileId, ReadError, SourceMap, Span, read_text};
use crate::tosca::{self, ImportOptions};
use std::path::{Path, PathBuf};

/// Where templates are looked for.
#[derive(Clone, Debug)]
pub struct TemplateSearch {
    /// Directories searched in order before the built-in templates.
    pub dirs: Vec<PathBuf>,
    /// Whether the built-in templates are searched last.
    pub builtin: bool,
    pub imports: ImportOptions,
    /// Input values for the TOSCA templates (`--input`, `--inputs`).
    pub inputs: InputValues,
}

/// Input values given to the TOSCA templates of a launch.
#[derive(Clone, Debug, Default)]
pub struct InputValues {
    /// `NAME=VALUE` arguments, in order (a later one wins).
    pub args: Vec<String>,
    /// YAML files of `NAME: VALUE`, read before the arguments.
    pub files: Vec<PathBuf>,
    /// Report required inputs with neither a value nor a default (a launch
    /// or a plan; `validate --compose` leaves them to the launch).
    pub require_all: bool,
}

impl Default for TemplateSearch {
    fn default() -> Self {
        let mut dirs = vec![PathBuf::from("templates")];
        if let Some(d) = user_config_dir() {
            dirs.push(d.join("templates"));
        }
        TemplateSearch {
            dirs,
            builtin: true,
            imports: super::fetch::import_options(Vec::new(), false),
            inputs: InputValues::default(),
        }
    }
}

/// `$XDG_CONFIG_HOME/nubo`, else `~/.config/nubo`.
pub fn user_config_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .map(|p| p.join("nubo"))
        .or_else(|| var("HOME").map(|h| h.join(".config/nubo")))
}

/// A template found: its name, where it came from, its text.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Found {
    pub name: String,
    /// A path, or `builtin:NAME.radl`.
    pub origin: String,
    pub text: String,
    pub tosca: bool,
    /// A TOSCA template's input values given at launch, checked (JSON):
    /// recorded so `reconfigure` lowers the template the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<(String, serde_json::Value)>,
    /// A TOSCA template's operation implementations as the launch read
    /// or downloaded them: recorded so `reconfigure` inlines the same
    /// texts, not what the files or URLs hold later.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implementations: Vec<super::tosca_artifacts::Recorded>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "template `{name}` not found (looked in {looked}); run `nubo templates` to list the templates there are"
    )]
    NotFound { name: String, looked: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "the recorded description cannot be read ({0}); was the state written by another nubo version?"
    )]
    Recorded(String),
    #[error(transparent)]
    InputArg(#[from] tosca::inputs::InputArgError),
}

const EXTENSIONS: [(&str, bool); 3] = [("radl", false), ("yaml", true), ("yml", true)];

impl TemplateSearch {
    /// Finds one template by name or path.
    pub fn find(&self, arg: &str) -> Result<Found, TemplateError> {
        let path = Path::new(arg);
        if arg.contains('/') || path.is_file() {
            let text = read_text(path)?;
            return Ok(Found {
                name: template_name(path),
                origin: arg.to_string(),
                text,
                tosca: tosca::is_tosca_path(path),
                inputs: Vec::new(),
                implementations: Vec::new(),
            });
        }
        for dir in &self.dirs {
            for (ext, tosca) in EXTENSIONS {
                let p = dir.join(format!("{arg}.{ext}"));
                if p.is_file() {
                    return Ok(Found {
                        name: arg.to_string(),
                        origin: p.display().to_string(),
                        text: read_text(&p)?,
                        tosca,
                        inputs: Vec::new(),
                        implementations: Vec::new(),
                    });
                }
            }
        }
        if self.builtin {
            for (ext, tosca) in EXTENSIONS {
                let file = format!("{arg}.{ext}");
                if let Some(text) = builtin::template(&file) {
                    return Ok(Found {
                        name: arg.to_string(),
                        origin: format!("builtin:{file}"),
                        text: text.to_string(),
                        tosca,
                        inputs: Vec::new(),
                        implementations: Vec::new(),
                    });
                }
            }
        }
        let mut looked: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        if self.builtin {
            looked.push("the built-in templates".into());
        }
        Err(TemplateError::NotFound {
            name: arg.to_string(),
            looked: looked.join(", "),
        })
    }

    /// Every template visible, first found wins, sorted by name.
    pub fn list(&self) -> Vec<Found> {
        let mut out: Vec<Found> = Vec::new();
        let mut push = |f: Found| {
            if !out.iter().any(|o| o.name == f.name) {
                out.push(f);
            }
        };
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let Some(ext) = p.extension().and_then(|e| e.to_str()) else {
                    continue;
                };
                let Some((_, tosca)) = EXTENSIONS.iter().find(|(e, _)| *e == ext) else {
                    continue;
                };
                if let Ok(text) = read_text(&p) {
                    push(Found {
                        name: template_name(&p),
                        origin: p.display().to_string(),
                        text,
                        tosca: *tosca,
                        inputs: Vec::new(),
                        implementations: Vec::new(),
                    });
                }
            }
        }
        if self.builtin {
            for (file, text) in builtin::TEMPLATES {
                let p = Path::new(file);
                push(Found {
                    name: template_name(p),
                    origin: format!("builtin:{file}"),
                    text: text.to_string(),
                    tosca: tosca::is_tosca_path(p),
                    inputs: Vec::new(),
                    implementations: Vec::new(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

fn template_name(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One template's summary for `nubo templates`: EC3's `description`
/// features `kind` and `short`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TemplateInfo {
    pub name: String,
    pub kind: String,
    pub summary: String,
    pub origin: String,
}

/// Reads the summary of a template (RADL `description`; TOSCA
/// `description`).
pub fn info(found: &Found) -> TemplateInfo {
    let mut kind = String::from(if found.tosca { "main" } else { "component" });
    let mut summary = String::new();
    if found.tosca {
        summary = found
            .text
            .lines()
            .find_map(|l| l.strip_prefix("description:"))
            .map(|s| s.trim().trim_matches(['\'', '"']).to_string())
            .unwrap_or_default();
    } else {
        let v = radl::validate(FileId(0), &found.text);
        if let Some(d) = v.document.descriptions.first() {
            if let Some(k) = d.features.get_str("kind") {
                kind = k.to_string();
            }
            summary = d.features.get_str("short").unwrap_or_default().to_string();
        }
    }
    TemplateInfo {
        name: found.name.clone(),
        kind,
        summary,
        origin: found.origin.clone(),
    }
}

/// The templates composed into one document.
#[derive(Debug)]
pub struct Composed {
    pub sources: SourceMap,
    pub document: Document,
    /// The templates read, in composition order (includes first).
    pub templates: Vec<String>,
    /// Every problem found in any template, then in the composition.
    pub diagnostics: Vec<Diagnostic>,
    /// Every template read (and `--add`), in composition order: what the
    /// state store records, so `reconfigure` composes the same text again.
    pub pieces: Vec<Found>,
    /// Every piece as RADL text, in composition order (a TOSCA template
    /// lowered and printed): what IM's `radl` answers with.
    pub radl: Vec<String>,
}

impl Composed {
    /// The pieces as recorded in the state store (JSON).
    pub fn record(&self) -> String {
        serde_json::to_string(&self.pieces).expect("pieces serialize")
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Finds, reads and composes `names`, then `add` (an extra RADL text, from
/// `--add`), then checks the whole.
pub fn compose(
    search: &TemplateSearch,
    names: &[String],
    add: Option<&str>,
) -> Result<Composed, TemplateError> {
    let mut c = Composer {
        search,
        out: Composed {
            sources: SourceMap::new(),
            document: Document::default(),
            templates: Vec::new(),
            diagnostics: Vec::new(),
            pieces: Vec::new(),
            radl: Vec::new(),
        },
        stack: Vec::new(),
        recorded: None,
        given: Vec::new(),
        inputs_known: None,
    };
    c.read_inputs()?;
    for n in names {
        c.add_template(n, None)?;
    }
    if let Some(text) = add {
        c.add_extra(text, None);
    }
    Ok(c.finish())
}

/// Composes again what a launch recorded ([`Composed::record`]): the same
/// texts, in the same order, whatever the template directories hold now.
pub fn compose_recorded(search: &TemplateSearch, record: &str) -> Result<Composed, TemplateError> {
    let pieces: Vec<Found> =
        serde_json::from_str(record).map_err(|e| TemplateError::Recorded(e.to_string()))?;
    let mut c = Composer {
        search,
        out: Composed {
            sources: SourceMap::new(),
            document: Document::default(),
            templates: Vec::new(),
            diagnostics: Vec::new(),
            pieces: Vec::new(),
            radl: Vec::new(),
        },
        stack: Vec::new(),
        recorded: Some(pieces.clone()),
        given: Vec::new(),
        inputs_known: None,
    };
    for p in &pieces {
        if p.name == EXTRA {
            c.add_extra(&p.text, Some(p));
        } else {
            c.add_template(&p.name, None)?;
        }
    }
    Ok(c.finish())
}

/// The name `--add` text is recorded under.
pub const EXTRA: &str = super::tosca_artifacts::TEXT_ORIGIN;

impl Found {
    /// A text with no location of its own (a built-in template, the
    /// `--add` text): relative imports and implementations are not
    /// looked for beside it.
    pub fn text_only(&self) -> bool {
        self.origin.starts_with("builtin:") || self.origin == EXTRA
    }
}

impl Composer<'_> {
    /// The extra text (`--add`, or a body sent to `nubo serve`): RADL, or
    /// a TOSCA template when it begins as one ([`tosca::is_tosca_text`]).
    /// `recorded`: the piece as a launch recorded it (its inputs and
    /// implementations).
    fn add_extra(&mut self, text: &str, recorded: Option<&Found>) {
        let mut found = recorded.cloned().unwrap_or_else(|| Found {
            name: EXTRA.into(),
            origin: EXTRA.into(),
            text: text.to_string(),
            tosca: tosca::is_tosca_text(text),
            inputs: Vec::new(),
            implementations: Vec::new(),
        });
        if found.tosca {
            self.add_tosca(&mut found);
            self.out.pieces.push(found);
        } else {
            let file = self.out.sources.add(EXTRA, text.to_string());
            self.out.pieces.push(found);
            self.add_radl(file);
        }
    }

    /// Reads the `--inputs` files, then the `--input` arguments.
    fn read_inputs(&mut self) -> Result<(), TemplateError> {
        let values = &self.search.inputs;
        for f in &values.files {
            let given =
                tosca::inputs::from_file(&mut self.out.sources, f, &mut self.out.diagnostics)?;
            self.given.extend(given);
        }
        for a in &values.args {
            if let Some(g) =
                tosca::inputs::from_arg(&mut self.out.sources, a, &mut self.out.diagnostics)?
            {
                self.given.push(g);
            }
        }
        Ok(())
    }

    /// Input values no TOSCA template defines.
    fn unknown_inputs(&mut self) {
        for g in &self.given {
            let known = self.inputs_known.as_ref();
            if known.is_some_and(|k| k.contains(&g.name)) {
                continue;
            }
            let d = match known {
                None => Diagnostic::error(
                    g.name_span,
                    format!(
                        "an input value (`{}`) is given, but none of the templates is TOSCA",
                        g.name
                    ),
                )
                .with_note(
                    "help: inputs are for TOSCA templates (`.yaml`); RADL templates take none",
                ),
                Some(k) => Diagnostic::error(
                    g.name_span,
                    format!("no template has an input `{}`", g.name),
                )
                .with_note(if k.is_empty() {
                    "help: the TOSCA templates define no `inputs`".to_string()
                } else {
                    format!(
                        "help: the inputs are {}",
                        k.iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            };
            self.out.diagnostics.push(d);
        }
    }

    fn finish(mut self) -> Composed {
        self.unknown_inputs();
        let mut out = self.out;
        out.document.descriptions.clear();
        let inherited = out.document.apply_inheritance(true);
        out.diagnostics.extend(inherited);
        out.diagnostics.extend(check::check(&out.document));
        out
    }
}

struct Composer<'a> {
    search: &'a TemplateSearch,
    out: Composed,
    /// Templates being read, for include cycles.
    stack: Vec<String>,
    /// Recomposing a recorded launch: templates come from here.
    recorded: Option<Vec<Found>>,
    /// Input values given (`--input`, `--inputs`).
    given: Vec<tosca::inputs::Given>,
    /// The inputs the TOSCA templates define (`None`: no TOSCA template).
    inputs_known: Option<Vec<String>>,
}

impl Composer<'_> {
    fn add_template(&mut self, name: &str, included_at: Option<Span>) -> Result<(), TemplateError> {
        if let Some(pos) = self.stack.iter().position(|n| n == name) {
            let chain = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&name.to_string()))
                .cloned()
                .collect::<Vec<_>>()
                .join(" -> ");
            if let Some(span) = included_at {
                self.out.diagnostics.push(Diagnostic::error(
                    span,
                    format!("templates include each other: {chain}"),
                ));
            }
            return Ok(());
        }
        if self.out.templates.iter().any(|t| t == name) {
            return Ok(()); // already composed
        }
        let mut found = match &self.recorded {
            Some(pieces) => pieces
                .iter()
                .find(|p| p.name == name)
                .cloned()
                .ok_or_else(|| TemplateError::NotFound {
                    name: name.to_string(),
                    looked: "the recorded description".into(),
                })?,
            None => self.search.find(name)?,
        };
        self.stack.push(found.name.clone());
        if found.tosca {
            self.add_tosca(&mut found);
        } else {
            let file = self
                .out
                .sources
                .add(found.origin.clone(), found.text.clone());
            self.add_radl(file);
        }
        self.stack.pop();
        self.out.templates.push(found.name.clone());
        self.out.pieces.push(found);
        Ok(())
    }

    /// A TOSCA template (or a TOSCA `--add` text, such as a body sent
    /// to `nubo serve`): checked, its inputs resolved, lowered to RADL and
    /// composed. `found` gets its input values and implementations, as
    /// recorded.
    fn add_tosca(&mut self, found: &mut Found) {
        // The text found (or recorded), not the file as it is now.
        let origin = if found.text_only() {
            tosca::Origin::Text
        } else {
            tosca::Origin::File(PathBuf::from(&found.origin))
        };
        let file = self
            .out
            .sources
            .add(found.origin.clone(), found.text.clone());
        let checked = tosca::validate(&mut self.out.sources, file, &origin, &self.search.imports);
        let failed = checked.has_errors();
        self.out
            .diagnostics
            .extend(checked.diagnostics.iter().cloned());
        let known = self.inputs_known.get_or_insert_with(Vec::new);
        known.extend(checked.topology.inputs.keys().cloned());
        if !failed {
            let given: Vec<tosca::inputs::Given> = if self.recorded.is_some() {
                found
                    .inputs
                    .iter()
                    .map(|(n, v)| tosca::inputs::from_recorded(&mut self.out.sources, n, v))
                    .collect()
            } else {
                self.given.clone()
            };
            let values = tosca::inputs::resolve(
                &checked,
                &given,
                self.search.inputs.require_all && self.recorded.is_none(),
                &mut self.out.diagnostics,
            );
            found.inputs = values
                .iter()
                .map(|(n, v)| (n.clone(), tosca::yaml::to_json(v)))
                .collect();
            // Nodes nubo does not lower stop the launch, named.
            let refused = tosca::lower::refusals(&checked, &values);
            for r in &refused {
                self.out
                    .diagnostics
                    .push(Diagnostic::error(r.span, r.to_string()));
            }
            // The implementations, read or downloaded now (before any
            // VM), or as recorded.
            let needed = if refused.is_empty() {
                tosca::lower::implementations(&checked, &values)
            } else {
                Vec::new()
            };
            let (texts, record, failed) = super::tosca_artifacts::resolve(
                &needed,
                &self.out.sources,
                &self.search.imports,
                &found.implementations,
            );
            found.implementations = record;
            if failed.is_empty() && refused.is_empty() {
                let tree = tosca::lower::to_radl_resolved(&checked, &values, &texts);
                self.out.radl.push(crate::radl::printer::print(&tree));
                let (doc, diags) = Document::build(&tree);
                self.out.diagnostics.extend(diags);
                self.out.document.compose(doc);
            }
            self.out.diagnostics.extend(failed);
        }
    }

    fn add_radl(&mut self, file: FileId) {
        let text = self.out.sources.text(file).to_string();
        self.out.radl.push(text.clone());
        let (tree, syntax) = radl::parse(file, &text);
        self.out.diagnostics.extend(syntax);
        let (doc, diags) = Document::build(&tree);
        self.out.diagnostics.extend(diags);
        // Includes first, so this template's own values win.
        for inc in &doc.includes {
            let Some(list) = inc.features.get_str("template") else {
                continue;
            };
            for name in list.split_whitespace() {
                if let Err(e) = self.add_template(name, Some(inc.span)) {
                    self.out
                        .diagnostics
                        .push(Diagnostic::error(inc.span, e.to_string()));
                }
            }
        }
        self.out.document.compose(doc);
    }
}
