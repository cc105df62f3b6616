//! Every configure body of the corpus either parses as a native recipe or
//! is reported as Ansible, with one error pointing inside the body; none
//! gets "unknown step kind" or is taken for a native recipe. The corpus
//! bodies (IM's and EC3's, and those IM's TOSCA lowering writes) are all
//! Ansible, so all must be reported as such.

use crate::support::{corpus_dir, corpus_files};
use nubo::radl::ast::{ConfigureBody, Sentence};
use nubo::recipe::{self, ansible};
use nubo::source::{FileId, SourceMap};
use nubo::tosca::{self, ImportOptions, Origin};

/// Checks one body (at `base` in `file`); `Ok(true)` when native.
fn classify(sources: &SourceMap, file: FileId, base: usize, text: &str) -> Result<bool, String> {
    let hint = recipe::detect_ansible(text);
    match recipe::parse(file, base, text) {
        Ok(_) => match hint {
            None => Ok(true),
            Some(h) => Err(format!("parsed as native, yet detect_ansible says {h:?}")),
        },
        Err(diags) => {
            let rendered: Vec<String> = diags.iter().map(|d| d.render(sources)).collect();
            if diags.len() != 1 || diags[0].message != ansible::MESSAGE {
                return Err(format!("not reported as Ansible:\n{}", rendered.join("")));
            }
            let d = &diags[0];
            let (start, end) = (d.span.start as usize, d.span.end as usize);
            if start < base || end > base + text.len() {
                return Err(format!("the span lies outside the body:\n{}", rendered[0]));
            }
            match hint {
                Some(h) if h.offset + base == start => Ok(false),
                other => Err(format!(
                    "detect_ansible disagrees with parse ({other:?}):\n{}",
                    rendered[0]
                )),
            }
        }
    }
}

#[test]
fn corpus_radl_bodies_are_native_or_reported_as_ansible() {
    let mut problems = Vec::new();
    let (mut native, mut ansible) = (0, 0);
    for path in corpus_files("radl", &["radl"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut sources = SourceMap::new();
        let id = sources.add(path.display().to_string(), text.clone());
        let v = nubo::radl::validate(id, &text);
        for c in &v.document.configures {
            let ConfigureBody::Recipe { text: body, span } = &c.body else {
                continue;
            };
            assert_eq!(
                &text[span.start as usize..span.start as usize + body.len()],
                body,
                "the body's span starts where its text does"
            );
            match classify(&sources, id, span.start as usize, body) {
                Ok(true) => {
                    native += 1;
                    problems.push(format!(
                        "{}: configure {} parses as a native recipe, but the corpus holds Ansible only",
                        path.display(),
                        c.name
                    ));
                }
                Ok(false) => ansible += 1,
                Err(e) => problems.push(format!("{}: configure {}: {e}", path.display(), c.name)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    if corpus_dir().is_some() {
        assert!(
            ansible >= 40,
            "only {ansible} Ansible bodies found ({native} native)"
        );
    }
}

#[test]
fn bodies_written_by_the_tosca_lowering_are_reported_as_ansible() {
    let Some(corpus) = corpus_dir() else { return };
    let opts = ImportOptions {
        import_dirs: vec![corpus.join("tosca/grycap")],
        cache_dir: None,
        fetch: None,
    };
    let mut problems = Vec::new();
    let mut seen = 0;
    for path in corpus_files("tosca", &["yaml", "yml"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut sources = SourceMap::new();
        let id = sources.add(path.display().to_string(), text.clone());
        let checked = tosca::validate(&mut sources, id, &Origin::File(path.clone()), &opts);
        if checked.has_errors() {
            continue;
        }
        let radl = tosca::lower::to_radl(&checked);
        for s in &radl.sentences {
            let Sentence::Configure(c) = s else { continue };
            let ConfigureBody::Recipe { text: body, .. } = &c.body else {
                continue;
            };
            if body.trim().is_empty() {
                continue;
            }
            seen += 1;
            let bid = sources.add(
                format!("{} (configure {})", path.display(), c.name.text),
                body.clone(),
            );
            match classify(&sources, bid, 0, body) {
                Ok(false) => {}
                Ok(true) => problems.push(format!(
                    "{}: configure {} parses as native:\n{body}",
                    path.display(),
                    c.name.text
                )),
                Err(e) => problems.push(format!(
                    "{}: configure {}: {e}",
                    path.display(),
                    c.name.text
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(seen > 0, "the TOSCA lowering wrote no recipe body");
}
