//! ARCHITECTURE.md's invariants, checked against the source (as
//! rust-analyzer's tidy tests do). Each `*Checked:*` line of
//! ARCHITECTURE.md names a directory of `src/` and what it must not use;
//! the other rules are written here:
//! - nothing outside `src/cli/` (and `src/main.rs`, which only calls
//!   `cli::main`) prints or builds an exit code;
//! - async code in `src/ops/` reaches the state store only through
//!   `ops::db::Db` (no `env.store` in an `async fn`);
//! - the files of `src/ops/` do not import each other in a circle.
//!
//! Code under `#[cfg(test)]` and comments are not looked at.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file: comments blanked (line structure kept), and
/// everything from the first `#[cfg(test)]` on dropped (test modules
/// stand at the end of a file here).
pub fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut kept = line.len();
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                    kept = i;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        out.push_str(&line[..kept]);
        out.push('\n');
    }
    out
}

/// Whether `code` uses `path` (`crate::provider`, `tokio`, `std::fs`,
/// `process::Command`): the path itself, or its last segment inside a
/// `use PARENT::{...}` group.
pub fn uses(code: &str, path: &str) -> bool {
    let bounded = |hay: &str, needle: &str| {
        hay.match_indices(needle).any(|(i, _)| {
            let before = hay[..i].chars().next_back();
            let after = hay[i + needle.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    };
    if bounded(code, path) {
        return true;
    }
    // `use std::{fs, io}` / `use crate::{provider, ...}`.
    if let Some((parent, last)) = path.rsplit_once("::") {
        let open = format!("{parent}::{{");
        for (i, _) in code.match_indices(&open) {
            let rest = &code[i + open.len()..];
            if let Some(end) = rest.find('}')
                && bounded(&rest[..end], last)
            {
                return true;
            }
        }
    }
    false
}

/// `(directory, forbidden paths)` from ARCHITECTURE.md's `*Checked:*`
/// lines: "*Checked:* `radl/` uses none of `crate::provider`, `tokio`."
fn checked_rules() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut rules = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("*Checked:* `") else {
            continue;
        };
        let (dir, rest) = rest.split_once("` uses none of ").unwrap_or_else(|| {
            panic!("ARCHITECTURE.md: a *Checked:* line of the wrong form: {line}")
        });
        let forbidden: Vec<String> = rest
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        assert!(!forbidden.is_empty(), "ARCHITECTURE.md: {line}");
        rules.push((dir.trim_end_matches('/').to_string(), forbidden));
    }
    rules
}

/// Each directory's forbidden uses; what breaks one, file by file.
pub fn layer_violations(src: &Path, rules: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (dir, forbidden) in rules {
        let files = rust_files(&src.join(dir));
        assert!(
            !files.is_empty(),
            "ARCHITECTURE.md names `{dir}/`, which has no files"
        );
        for f in files {
            let c = code(&std::fs::read_to_string(&f).unwrap());
            for p in forbidden {
                if uses(&c, p) {
                    out.push(format!(
                        "{} uses `{p}`, which `{dir}/` must not",
                        f.display()
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn each_directory_uses_only_what_architecture_md_allows() {
    let rules = checked_rules();
    assert!(
        rules.len() >= 8,
        "ARCHITECTURE.md lost its *Checked:* lines"
    );
    let v = layer_violations(&root().join("src"), &rules);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn nothing_outside_cli_prints_or_makes_an_exit_code() {
    let mut bad = Vec::new();
    for f in rust_files(&root().join("src")) {
        let rel = f.strip_prefix(root().join("src")).unwrap();
        // The binaries' entry points: `main.rs` (nubo) and `bin/`.
        if rel.starts_with("cli") || rel.starts_with("bin") || rel == Path::new("main.rs") {
            continue;
        }
        let c = code(&std::fs::read_to_string(&f).unwrap());
        for what in [
            "println!",
            "eprintln!",
            "print!",
            "eprint!",
            "ExitCode",
            "process::exit",
        ] {
            if uses(&c, what) {
                bad.push(format!("{} uses {what}", f.display()));
            }
        }
    }
    let main = code(&std::fs::read_to_string(root().join("src/main.rs")).unwrap());
    assert!(
        main.contains("nubo::cli::main()") && !main.contains("ExitCode::from"),
        "src/main.rs only calls cli::main"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Regression: `nubo radl json | head -1` panicked ("failed printing to
/// stdout") once the reader had gone; command output goes through
/// `cli/output.rs`, which ends quietly on a closed pipe. Code merged later
/// brought `println!` back into `cli/` twice.
#[test]
fn command_output_goes_through_cli_output() {
    let mut bad = Vec::new();
    for f in rust_files(&root().join("src/cli")) {
        if f.ends_with("output.rs") {
            continue;
        }
        let c = code(&std::fs::read_to_string(&f).unwrap());
        for what in ["println!", "print!"] {
            if uses(&c, what) {
                bad.push(format!(
                    "{} uses {what}: use out!/outln! (cli/output.rs)",
                    f.display()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The bodies of the `async fn`s in `code`.
fn async_bodies(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("async fn ") {
        let Some(open) = code[i..].find('{').map(|o| i + o) else {
            continue;
        };
        let mut depth = 0usize;
        for (j, ch) in code[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(&code[open..open + j + 1]);
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

pub fn async_store_violations(src: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for f in rust_files(&src.join("ops")) {
        if f.ends_with("db.rs") {
            continue;
        }
        let c = code(&std::fs::read_to_string(&f).unwrap());
        for body in async_bodies(&c) {
            for what in ["env.store", "self.store", ".store()", "StateStore::open"] {
                if body.contains(what) {
                    bad.push(format!(
                        "{}: an async fn uses `{what}`; go through `env.db()`",
                        f.display()
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn async_code_reaches_the_state_store_through_db() {
    let v = async_store_violations(&root().join("src"));
    assert!(v.is_empty(), "{}", v.join("\n"));
}

/// The module of `src/ops/` each file of it imports (`super::X`,
/// `crate::ops::X`), by module name (`elastic/` counts as one).
pub fn ops_imports(ops: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = std::fs::read_dir(ops)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_stem()?.to_str()?.to_string();
            (name != "mod").then_some(name)
        })
        .collect();
    for f in rust_files(ops) {
        let rel = f.strip_prefix(ops).unwrap();
        let me = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if me == "mod" {
            continue;
        }
        let nested = rel.components().count() > 1;
        let c = code(&std::fs::read_to_string(&f).unwrap());
        let mut prefixes = vec!["crate::ops::".to_string()];
        prefixes.push(if nested { "super::super::" } else { "super::" }.to_string());
        for m in &modules {
            if *m == me {
                continue;
            }
            let hit = prefixes.iter().any(|p| {
                let path = format!("{p}{m}");
                uses(&c, &path)
                    || uses(&c, &format!("{}{{", p)) && {
                        // `use super::{a, b}`
                        c.match_indices(&format!("{p}{{")).any(|(i, _)| {
                            let rest = &c[i + p.len() + 1..];
                            rest.find('}').is_some_and(|end| uses(&rest[..end], m))
                        })
                    }
            });
            if hit {
                graph.entry(me.clone()).or_default().insert(m.clone());
            }
        }
        graph.entry(me).or_default();
    }
    graph
}

/// A circle in `graph`, if there is one, as the modules on it.
pub fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|x| x == m).unwrap();
                    let mut c = path[start..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_files_of_ops_import_each_other_in_no_circle() {
    let g = ops_imports(&root().join("src/ops"));
    assert!(
        g.get("launch").is_some_and(|d| d.contains("executor")),
        "the import graph is read: {g:?}"
    );
    if let Some(c) = circle(&g) {
        panic!("src/ops/ imports in a circle: {}", c.join(" -> "));
    }
}

/// The checks themselves catch what they are for, on made-up trees.
#[test]
fn the_checks_catch_a_bad_import_a_circle_and_a_store_call() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::create_dir_all(src.join("radl")).unwrap();
    std::fs::create_dir_all(src.join("ops")).unwrap();
    std::fs::write(
        src.join("radl/parser.rs"),
        "// crate::provider in a comment is fine\nuse crate::{source, ssh::Session};\n",
    )
    .unwrap();
    let rules = vec![(
        "radl".to_string(),
        vec!["crate::provider".to_string(), "crate::ssh".to_string()],
    )];
    let v = layer_violations(src, &rules);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("crate::ssh"));

    std::fs::write(src.join("ops/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(
        src.join("ops/a.rs"),
        "use super::b::X;\npub async fn f(env: &Env) { env.store.vms(\"c\"); }\n",
    )
    .unwrap();
    std::fs::write(src.join("ops/b.rs"), "use super::{a, db};\n").unwrap();
    let c = circle(&ops_imports(&src.join("ops"))).expect("a circle");
    assert_eq!(c.len(), 3, "{c:?}");
    assert_eq!(async_store_violations(src).len(), 1);
}
