//! `imports` and `repositories`: finding the files a template imports and
//! reading their type definitions.
//!
//! A relative import is read beside the importing file (or joined to the
//! importing URL). A URL import is read from a local copy, looked up in each
//! `--import-dir` and then in the cache directory; only when there is none
//! is it asked of the caller's [`Fetcher`] (the CLI's downloads it over
//! HTTP into the cache; this module never touches the network).
//! For `scheme://host/a/b/c.yaml` the candidates are `DIR/host/a/b/c.yaml`,
//! `DIR/a/b/c.yaml`, `DIR/b/c.yaml` and `DIR/c.yaml`, longest first (the
//! cache uses the first form). A missing copy is an error that says where
//! nubo looked.
//!
//! This is the only part of the TOSCA front end that reads files.

use super::types::TypeTable;
use super::yaml::{self, Node, Value};
use crate::diagnostic::Diagnostic;
use crate::source::{SourceMap, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Gets a URL import's text, or says why not.
pub type FetchFn = dyn Fn(&str) -> Result<String, String> + Send + Sync;

/// Gets a URL import that has no local copy.
#[derive(Clone)]
pub struct Fetcher(pub std::sync::Arc<FetchFn>);

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fetcher")
    }
}

/// Where URL imports are read from.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Directories holding local copies of URL imports (`--import-dir`).
    pub import_dirs: Vec<PathBuf>,
    /// The download cache (`~/.cache/nubo/tosca`), laid out as `host/path`.
    pub cache_dir: Option<PathBuf>,
    /// Asked for a URL import with no local copy (none: offline).
    pub fetch: Option<Fetcher>,
}

impl ImportOptions {
    /// The user's cache directory: `$XDG_CACHE_HOME/nubo/tosca` or
    /// `~/.cache/nubo/tosca`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("nubo/tosca"))
    }
}

/// Where a template was read from, for resolving its relative imports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    File(PathBuf),
    Url(String),
    /// Text with no location (standard input, a test string).
    Text,
}

/// Reads every file `root` imports, transitively, into `sources`, and adds
/// their type definitions to `table`. Problems are reported at the import
/// that caused them.
pub fn load(
    root: &Node,
    origin: &Origin,
    opts: &ImportOptions,
    sources: &mut SourceMap,
    table: &mut TypeTable,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<Origin, Option<std::sync::Arc<TypeTable>>> = HashMap::new();
    seen.insert(origin.clone(), None);
    load_imports(root, origin, opts, sources, table, diags, &mut seen, 0);
}

#[allow(clippy::too_many_arguments)]
fn load_imports(
    root: &Node,
    origin: &Origin,
    opts: &ImportOptions,
    sources: &mut SourceMap,
    table: &mut TypeTable,
    diags: &mut Vec<Diagnostic>,
    seen: &mut HashMap<Origin, Option<std::sync::Arc<TypeTable>>>,
    depth: usize,
) {
    let Some(imports) = root.get("imports") else {
        return;
    };
    if imports.is_null() {
        return;
    }
    let Some(items) = imports.as_seq() else {
        diags.push(Diagnostic::error(
            imports.span,
            format!("`imports` must be a list, found {}", imports.kind()),
        ));
        return;
    };
    let repositories = root.get("repositories");
    for item in items {
        let Some((spec, span)) = import_target(item, repositories, diags) else {
            continue;
        };
        let target = match resolve(&spec, origin, opts) {
            Ok(t) => t,
            Err(why) => {
                diags.push(Diagnostic::error(span, why));
                continue;
            }
        };
        let (next, text) = target;
        let prefix = namespace_prefix(item);
        if let Some(read) = seen.get(&next) {
            // Already read (or an import cycle); a new prefix still names
            // its types.
            if let (Some(p), Some(t)) = (&prefix, read) {
                table.layers.push(prefixed(t, p));
            }
            continue;
        }
        seen.insert(next.clone(), None);
        if depth > 32 {
            diags.push(Diagnostic::error(span, "imports nest more than 32 deep"));
            continue;
        }
        let name = match &next {
            Origin::File(p) => p.display().to_string(),
            Origin::Url(u) => u.clone(),
            Origin::Text => spec.clone(),
        };
        let file = sources.add(name, text);
        let text = sources.text(file);
        let key = (file.0, next.clone());
        let cached = cache()
            .lock()
            .ok()
            .and_then(|c| c.get(&key).filter(|e| e.text == text).cloned());
        let entry = match cached {
            Some(e) => e,
            None => {
                let e = std::sync::Arc::new(read_import(file, text, &spec, span));
                if let Ok(mut c) = cache().lock() {
                    if c.len() > 256 {
                        c.clear();
                    }
                    c.insert(key, e.clone());
                }
                e
            }
        };
        diags.extend(entry.diags.iter().cloned());
        table.layers.push(entry.table.clone());
        if let Some(p) = &prefix {
            table.layers.push(prefixed(&entry.table, p));
        }
        seen.insert(next.clone(), Some(entry.table.clone()));
        let Some(doc) = &entry.doc else { continue };
        let doc = doc.clone();
        load_imports(&doc, &next, opts, sources, table, diags, seen, depth + 1);
    }
}

/// One imported file, read: its tree, its types and its problems.
struct Import {
    text: String,
    doc: Option<Node>,
    table: std::sync::Arc<TypeTable>,
    diags: Vec<Diagnostic>,
}

type Cache = std::sync::Mutex<std::collections::HashMap<(u32, Origin), std::sync::Arc<Import>>>;

/// Imports already read in this process, by file id and origin; an entry
/// is used only for the same text, so its spans stay right.
fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn read_import(file: crate::source::FileId, text: &str, spec: &str, span: Span) -> Import {
    let mut diags = Vec::new();
    let mut table = TypeTable::default();
    let (doc, ydiags) = yaml::parse(file, text);
    diags.extend(ydiags);
    let done = |doc, table, diags| Import {
        text: text.to_string(),
        doc,
        table: std::sync::Arc::new(table),
        diags,
    };
    let Some(doc) = doc else {
        diags.push(Diagnostic::error(
            span,
            format!("the import `{spec}` is not valid YAML (see above)"),
        ));
        return done(None, table, diags);
    };
    if doc.as_map().is_none() && !doc.is_null() {
        diags.push(Diagnostic::error(
            span,
            format!("the import `{spec}` is not a TOSCA service template (not a map)"),
        ));
        return done(None, table, diags);
    }
    match doc.get("tosca_definitions_version") {
        Some(v) => super::check::definitions_version(v, &mut diags),
        None => diags.push(Diagnostic::error(
            span,
            format!("the import `{spec}` has no `tosca_definitions_version`"),
        )),
    }
    table.add_document(&doc, &mut diags);
    done(Some(doc), table, diags)
}

/// An import's `namespace_prefix` (`NAME: {file: ..., namespace_prefix: P}`
/// or `{file: ..., namespace_prefix: P}`).
fn namespace_prefix(item: &Node) -> Option<String> {
    let def = match item.get("file") {
        Some(_) => item,
        None => match item.as_map()? {
            [(_, v)] => v,
            _ => return None,
        },
    };
    def.get("namespace_prefix")
        .and_then(Node::as_str)
        .filter(|p| !p.is_empty())
        .map(String::from)
}

/// The types a file defines, also named `PREFIX.NAME` (TOSCA's import
/// `namespace_prefix`).
fn prefixed(table: &TypeTable, prefix: &str) -> std::sync::Arc<TypeTable> {
    let mut out = TypeTable::default();
    for ((kind, name), def) in &table.types {
        let mut def = def.clone();
        def.name = format!("{prefix}.{name}");
        out.types.insert((*kind, def.name.clone()), def);
    }
    std::sync::Arc::new(out)
}

/// The file or URL one `imports` entry names, with the span to blame.
fn import_target(
    item: &Node,
    repositories: Option<&Node>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, Span)> {
    match &item.value {
        Value::Str(s) => Some((s.clone(), item.span)),
        Value::Map(entries) => {
            // `{file: ..., repository: ...}` (1.2+) or `name: <string or that map>`.
            let def = if item.get("file").is_some() {
                item
            } else if entries.len() == 1 {
                let v = &entries[0].1;
                if let Some(s) = v.as_str() {
                    return Some((s.to_string(), v.span));
                }
                v
            } else {
                diags.push(Diagnostic::error(
                    item.span,
                    "an import is a file name, `NAME: FILE`, or a map with `file`",
                ));
                return None;
            };
            let Some(file) = def.get("file") else {
                diags.push(Diagnostic::error(def.span, "this import has no `file`"));
                return None;
            };
            let Some(file_s) = file.as_str() else {
                diags.push(Diagnostic::error(
                    file.span,
                    format!("`file` takes a file name or URL, found {}", file.kind()),
                ));
                return None;
            };
            let Some(repo) = def.get("repository") else {
                return Some((file_s.to_string(), file.span));
            };
            let repo_name = repo.as_str().unwrap_or_default();
            let url = repositories
                .and_then(|r| r.get(repo_name))
                .and_then(|r| match &r.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Map(_) => r.get("url").and_then(Node::as_str).map(String::from),
                    _ => None,
                });
            match url {
                Some(u) => Some((
                    format!(
                        "{}/{}",
                        u.trim_end_matches('/'),
                        file_s.trim_start_matches('/')
                    ),
                    file.span,
                )),
                None => {
                    diags.push(Diagnostic::error(
                        repo.span,
                        format!("the repository `{repo_name}` is not defined in `repositories`"),
                    ));
                    None
                }
            }
        }
        _ => {
            diags.push(Diagnostic::error(
                item.span,
                format!("an import is a file name or a map, found {}", item.kind()),
            ));
            None
        }
    }
}

fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    })
}

/// Finds and reads one import.
fn resolve(spec: &str, from: &Origin, opts: &ImportOptions) -> Result<(Origin, String), String> {
    if let Some(path) = spec.strip_prefix("file://") {
        return read_file(Path::new(path), spec);
    }
    if is_url(spec) {
        return read_url(spec, opts);
    }
    match from {
        Origin::File(p) => {
            let base = p.parent().unwrap_or(Path::new(""));
            let first = read_file(&base.join(spec), spec);
            // `dir/file.yaml` imported from a file in `.../dir/`: the
            // path written from the directory above, as tosca-parser reads it.
            if first.is_err()
                && let Some((dir, file)) = spec.rsplit_once('/')
                && !dir.is_empty()
                && !dir.split('/').any(|c| c == "..")
                && normalize(base).ends_with(dir)
            {
                return read_file(&base.join(file), spec).or(first);
            }
            first
        }
        Origin::Url(u) => read_url(&join_url(u, spec), opts),
        Origin::Text => Err(format!(
            "the relative import `{spec}` needs the template to be read from a file"
        )),
    }
}

fn read_file(path: &Path, spec: &str) -> Result<(Origin, String), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((Origin::File(normalize(path)), text)),
        Err(e) => Err(format!(
            "cannot read the import `{spec}` ({}): {e}",
            path.display()
        )),
    }
}

fn normalize(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// `base` with its last path segment replaced by `rel` (`..` and `.`
/// segments resolved).
fn join_url(base: &str, rel: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("{scheme}://{host}/{}", parts.join("/"))
}

/// The local paths that may hold a copy of `url` under `dir`, longest first.
pub fn url_candidates(url: &str, dir: &Path) -> Vec<PathBuf> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let parts: Vec<&str> = rest
        .split('/')
        .filter(|p| !p.is_empty() && *p != "..")
        .collect();
    (0..parts.len())
        .map(|i| parts[i..].iter().fold(dir.to_path_buf(), |p, s| p.join(s)))
        .collect()
}

fn read_url(url: &str, opts: &ImportOptions) -> Result<(Origin, String), String> {
    let mut looked = Vec::new();
    for dir in &opts.import_dirs {
        for c in url_candidates(url, dir) {
            if let Ok(text) = std::fs::read_to_string(&c) {
                return Ok((Origin::Url(url.to_string()), text));
            }
        }
        looked.push(format!("--import-dir {}", dir.display()));
    }
    if let Some(cache) = &opts.cache_dir
        && let Some(c) = url_candidates(url, cache).into_iter().next()
    {
        if let Ok(text) = std::fs::read_to_string(&c) {
            return Ok((Origin::Url(url.to_string()), text));
        }
        looked.push(format!("the cache ({})", c.display()));
    }
    let looked = if looked.is_empty() {
        "no --import-dir was given and there is no cache".to_string()
    } else {
        format!("looked in {}", looked.join(", "))
    };
    let fetched = match &opts.fetch {
        Some(f) => match (f.0)(url) {
            Ok(text) => return Ok((Origin::Url(url.to_string()), text)),
            Err(e) => format!("downloading it failed ({e})"),
        },
        None => "nubo is offline".to_string(),
    };
    Err(format!(
        "cannot read the import `{url}`: {fetched}, and {looked}; \
         save the file there (e.g. under --import-dir DIR as DIR/{})",
        url.rsplit('/').next().unwrap_or("FILE")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_candidates_go_from_longest_to_basename() {
        let c = url_candidates("https://h.org/a/b.yaml", Path::new("/d"));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/d/h.org/a/b.yaml"),
                PathBuf::from("/d/a/b.yaml"),
                PathBuf::from("/d/b.yaml")
            ]
        );
        assert_eq!(
            join_url("https://h/a/b/c.yaml", "../d.yaml"),
            "https://h/a/d.yaml"
        );
    }
}
