//! Finding the texts of a TOSCA template's operation implementations
//! before anything is made, as IM does when it builds a node's configure:
//! a URL (`http://`, `https://`) is downloaded; a path (or `file://`) is
//! read relative to the file that names it (the template, or the import
//! that defines the node type), then under each `--import-dir`; a URL
//! named relative to an imported URL is joined to it. Offline
//! (`NUBO_OFFLINE=1`) a URL is taken only from a local copy (under an
//! `--import-dir` or the download cache, laid out `host/path` as for
//! imports). A `.yml`/`.yaml` text must be an Ansible playbook or task
//! list; any other is a script, run as IM runs it.
//!
//! What a launch resolved is recorded with its template, so `reconfigure`
//! (and every later recomposition) inlines the same texts without reading
//! or fetching again.

use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::tosca::ImportOptions;
use crate::tosca::implementation::{self, ShapeError};
use crate::tosca::imports::url_candidates;
use crate::tosca::lower::{Artifacts, Implementation};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImplementationError {
    #[error(
        "node `{node}`, operation `{op}`: the implementation `{url}` is not downloaded: nubo is offline (NUBO_OFFLINE=1) and there is no local copy ({looked}); \
         download it next to the template (`curl -o {base} {url}`) and write `implementation: {base}`, \
         or save it under an --import-dir DIR as DIR/{base}"
    )]
    Offline {
        node: String,
        op: String,
        url: String,
        base: String,
        looked: String,
    },
    #[error(
        "node `{node}`, operation `{op}`: the implementation `{url}` cannot be downloaded: {detail}; \
         download it next to the template and write `implementation: {base}`"
    )]
    Fetch {
        node: String,
        op: String,
        url: String,
        base: String,
        detail: String,
    },
    #[error(
        "node `{node}`, operation `{op}`: the implementation file `{reference}` is not found (looked at {looked})"
    )]
    NotFound {
        node: String,
        op: String,
        reference: String,
        looked: String,
    },
    #[error(
        "node `{node}`, operation `{op}`: the implementation `{reference}` is not an Ansible playbook or task list: {source}"
    )]
    Shape {
        node: String,
        op: String,
        reference: String,
        source: ShapeError,
    },
}

/// A resolved implementation text, as recorded with its template.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The reference as the template gives it.
    pub reference: String,
    /// Where it was read: a path or a URL.
    pub source: String,
    pub text: String,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn base_name(reference: &str) -> String {
    let r = reference.split(['?', '#']).next().unwrap_or(reference);
    r.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("FILE")
        .to_string()
}

/// `base` with its last path segment replaced by `rel`.
fn join_url(base: &str, rel: &str) -> String {
    match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |j| j + 2) => format!("{}/{rel}", &base[..i]),
        _ => format!("{base}/{rel}"),
    }
}

/// Resolves every implementation not in `recorded`; the texts by
/// reference, the recorded list (old and new), and an error diagnostic at
/// each implementation that cannot be had.
/// The name a template given as text (`--add`, a body sent to `nubo
/// serve`) is read under: it has no place of its own
/// (`templates::EXTRA` is this name).
pub const TEXT_ORIGIN: &str = "--add";

pub fn resolve(
    implementations: &[Implementation],
    sources: &SourceMap,
    opts: &ImportOptions,
    recorded: &[Recorded],
) -> (Artifacts, Vec<Recorded>, Vec<Diagnostic>) {
    let mut texts = Artifacts::new();
    let mut record: Vec<Recorded> = Vec::new();
    let mut diags = Vec::new();
    for i in implementations {
        if texts.contains_key(&i.reference) {
            continue;
        }
        let found = match recorded.iter().find(|r| r.reference == i.reference) {
            Some(r) => Ok(r.clone()),
            None => {
                let written_in = sources.get(i.span.file).name.clone();
                read(i, &written_in, opts)
            }
        };
        let checked = found.and_then(|r| match implementation::plays(&r.text) {
            Ok(_) => Ok(r),
            // A script (not `.yml`/`.yaml`) is run as it is.
            Err(_) if !implementation::is_ansible(&i.reference) => Ok(r),
            Err(source) => Err(ImplementationError::Shape {
                node: i.node.clone(),
                op: i.op.clone(),
                reference: r.source.clone(),
                source,
            }),
        });
        match checked {
            Ok(r) => {
                texts.insert(i.reference.clone(), r.text.clone());
                record.push(r);
            }
            Err(e) => diags.push(Diagnostic::error(i.span, e.to_string())),
        }
    }
    (texts, record, diags)
}

/// Reads or downloads one implementation, `written_in` naming the file
/// (a path or a URL) it is written in.
fn read(
    i: &Implementation,
    written_in: &str,
    opts: &ImportOptions,
) -> Result<Recorded, ImplementationError> {
    let reference = i.reference.as_str();
    if is_url(reference) {
        return download(i, reference, opts);
    }
    if is_url(written_in) && !reference.starts_with("file://") && !reference.starts_with('/') {
        return download(i, &join_url(written_in, reference), opts);
    }
    let path = Path::new(reference.strip_prefix("file://").unwrap_or(reference));
    if written_in == TEXT_ORIGIN {
        // A text with no place of its own (a body sent to `nubo serve`)
        // names no file of this machine.
        return Err(ImplementationError::NotFound {
            node: i.node.clone(),
            op: i.op.clone(),
            reference: reference.to_string(),
            looked: "nothing: a template given as text has its implementations from URLs only"
                .into(),
        });
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if path.is_absolute() {
        candidates.push(path.to_path_buf());
    } else {
        let p = Path::new(written_in);
        if written_in != "-" && !written_in.starts_with("builtin:") {
            candidates.push(p.parent().unwrap_or(Path::new("")).join(path));
        }
        candidates.extend(opts.import_dirs.iter().map(|d| d.join(path)));
    }
    for c in &candidates {
        if let Ok(text) = std::fs::read_to_string(c) {
            return Ok(Recorded {
                reference: reference.to_string(),
                source: c.display().to_string(),
                text,
            });
        }
    }
    Err(ImplementationError::NotFound {
        node: i.node.clone(),
        op: i.op.clone(),
        reference: reference.to_string(),
        looked: if candidates.is_empty() {
            "nothing: the template is not read from a file; give an --import-dir".into()
        } else {
            candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

fn download(
    i: &Implementation,
    url: &str,
    opts: &ImportOptions,
) -> Result<Recorded, ImplementationError> {
    let recorded = |text: String, source: String| Recorded {
        reference: i.reference.clone(),
        source,
        text,
    };
    let base = base_name(url);
    match &opts.fetch {
        Some(f) => match (f.0)(url) {
            Ok(text) => Ok(recorded(text, url.to_string())),
            Err(detail) => Err(ImplementationError::Fetch {
                node: i.node.clone(),
                op: i.op.clone(),
                url: url.to_string(),
                base,
                detail,
            }),
        },
        None => {
            let mut looked = Vec::new();
            let dirs = opts.import_dirs.iter().chain(opts.cache_dir.iter());
            for dir in dirs {
                for c in url_candidates(url, dir) {
                    if let Ok(text) = std::fs::read_to_string(&c) {
                        return Ok(recorded(text, c.display().to_string()));
                    }
                    looked.push(c.display().to_string());
                }
            }
            Err(ImplementationError::Offline {
                node: i.node.clone(),
                op: i.op.clone(),
                url: url.to_string(),
                base,
                looked: if looked.is_empty() {
                    "no --import-dir and no cache".into()
                } else {
                    format!("looked at {}", looked.join(", "))
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;
    use crate::tosca::imports::Fetcher;
    use std::sync::Arc;

    fn imp(sources: &mut SourceMap, written_in: &str, reference: &str) -> Implementation {
        let file = sources.add(written_in, "x");
        Implementation {
            node: "app".into(),
            op: "create".into(),
            reference: reference.into(),
            span: Span::new(file, 0, 1),
        }
    }

    fn opts(fetch: Option<Fetcher>, dirs: Vec<PathBuf>) -> ImportOptions {
        ImportOptions {
            import_dirs: dirs,
            cache_dir: None,
            fetch,
        }
    }

    #[test]
    fn a_relative_path_is_read_next_to_the_file_that_names_it_then_in_import_dirs() {
        let dir = std::env::temp_dir().join(format!("nubo-impl-{}", std::process::id()));
        let other = dir.join("other");
        std::fs::create_dir_all(dir.join("types")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(dir.join("types/create.yml"), "- shell: echo types\n").unwrap();
        std::fs::write(other.join("start.yml"), "- shell: echo other\n").unwrap();
        let mut sources = SourceMap::new();
        let a = imp(
            &mut sources,
            &dir.join("types/defs.yaml").display().to_string(),
            "create.yml",
        );
        let b = imp(
            &mut sources,
            &dir.join("t.yaml").display().to_string(),
            "start.yml",
        );
        let (texts, record, diags) =
            resolve(&[a, b], &sources, &opts(None, vec![other.clone()]), &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(texts["create.yml"], "- shell: echo types\n");
        assert_eq!(texts["start.yml"], "- shell: echo other\n");
        assert_eq!(
            record[1].source,
            other.join("start.yml").display().to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_names_the_node_the_operation_and_where_it_looked() {
        let mut sources = SourceMap::new();
        let a = imp(&mut sources, "/nonexistent/t.yaml", "nope.yml");
        let (_, _, diags) = resolve(&[a], &sources, &opts(None, vec![]), &[]);
        let m = &diags[0].message;
        assert!(
            m.contains("node `app`, operation `create`")
                && m.contains("`nope.yml`")
                && m.contains("/nonexistent/nope.yml"),
            "{m}"
        );
    }

    #[test]
    fn offline_a_url_is_not_fetched_and_the_error_says_how_to_provide_it() {
        let mut sources = SourceMap::new();
        let a = imp(
            &mut sources,
            "/t/t.yaml",
            "https://example.org/a/install.yml",
        );
        let (_, _, diags) = resolve(&[a], &sources, &opts(None, vec![]), &[]);
        let m = &diags[0].message;
        assert!(
            m.contains("offline")
                && m.contains("https://example.org/a/install.yml")
                && m.contains("implementation: install.yml")
                && m.contains("node `app`, operation `create`"),
            "{m}"
        );
    }

    #[test]
    fn a_url_is_fetched_and_relative_references_of_url_imports_are_joined() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let fetch = Fetcher(Arc::new(move |url: &str| {
            s.lock().unwrap().push(url.to_string());
            Ok("- debug: msg=hi\n".to_string())
        }));
        let mut sources = SourceMap::new();
        let a = imp(&mut sources, "/t/t.yaml", "http://h/x/a.yml");
        let b = imp(&mut sources, "https://h/types/defs.yaml", "artifacts/b.yml");
        let (texts, record, diags) = resolve(&[a, b], &sources, &opts(Some(fetch), vec![]), &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(texts.len(), 2);
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["http://h/x/a.yml", "https://h/types/artifacts/b.yml"]
        );
        assert_eq!(record[1].source, "https://h/types/artifacts/b.yml");
    }

    #[test]
    fn recorded_texts_are_used_without_reading_or_fetching() {
        let fetch = Fetcher(Arc::new(|_: &str| Err("must not fetch".to_string())));
        let mut sources = SourceMap::new();
        let a = imp(&mut sources, "/t/t.yaml", "http://h/a.yml");
        let rec = Recorded {
            reference: "http://h/a.yml".into(),
            source: "http://h/a.yml".into(),
            text: "- shell: recorded\n".into(),
        };
        let (texts, record, diags) = resolve(
            &[a],
            &sources,
            &opts(Some(fetch), vec![]),
            std::slice::from_ref(&rec),
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(texts["http://h/a.yml"], "- shell: recorded\n");
        assert_eq!(record, vec![rec]);
    }

    #[test]
    fn a_text_that_is_not_ansible_is_refused_with_the_node_and_url() {
        let fetch = Fetcher(Arc::new(|_: &str| Ok("<html>not found</html>".to_string())));
        let mut sources = SourceMap::new();
        let a = imp(&mut sources, "/t/t.yaml", "http://h/a.yml");
        let (_, _, diags) = resolve(&[a], &sources, &opts(Some(fetch), vec![]), &[]);
        let m = &diags[0].message;
        assert!(
            m.contains("node `app`, operation `create`")
                && m.contains("`http://h/a.yml` is not an Ansible playbook or task list"),
            "{m}"
        );
    }
}
