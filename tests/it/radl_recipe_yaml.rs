//! The fast path of the recipe YAML check (`radl::recipe_yaml`) never
//! accepts what the full check (`tosca::yaml::check_syntax`, on the event
//! parser) rejects: compared on every recipe body of the corpus and on
//! mutations of them (a byte deleted, a YAML indicator inserted, a line
//! indented differently or repeated).

use nubo::radl::ast::ConfigureBody;
use nubo::radl::recipe_yaml::plainly_valid;
use nubo::source::FileId;
use nubo::tosca::yaml::check_syntax;

fn corpus_bodies() -> Vec<String> {
    let mut bodies = Vec::new();
    for path in crate::support::corpus_files("radl", &["radl"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let (tree, _) = nubo::radl::parse(FileId(0), &text);
        let (doc, _) = nubo::radl::document::Document::build(&tree);
        for c in &doc.configures {
            if let ConfigureBody::Recipe { text, .. } = &c.body {
                bodies.push(text.clone());
            }
        }
    }
    bodies
}

/// Mutations of `body`: deletions and insertions at every `stride`th
/// byte, and each line indented by one less, one more, two more, and
/// repeated.
fn mutations(body: &str, stride: usize) -> Vec<String> {
    const INSERTED: &[&str] = &[
        " ", "\n", ":", ": ", "- ", "#", " #", "{", "}", "[", "]", ",", "'", "\"", "a", "&", "*",
        "!", "|", "?", "\\", "---\n",
    ];
    let mut out = Vec::new();
    let cuts: Vec<usize> = (0..=body.len())
        .filter(|i| body.is_char_boundary(*i))
        .step_by(stride)
        .collect();
    for &i in &cuts {
        if let Some(c) = body[i..].chars().next() {
            out.push(format!("{}{}", &body[..i], &body[i + c.len_utf8()..]));
        }
        for s in INSERTED {
            out.push(format!("{}{s}{}", &body[..i], &body[i..]));
        }
    }
    let lines: Vec<&str> = body.split('\n').collect();
    for n in 0..lines.len() {
        let with = |line: String| {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            l[n] = line;
            l.join("\n")
        };
        let line = lines[n];
        if let Some(rest) = line.strip_prefix(' ') {
            out.push(with(rest.to_string()));
        }
        out.push(with(format!(" {line}")));
        out.push(with(format!("  {line}")));
        out.push(with(format!("{line}\n{line}")));
    }
    out
}

#[test]
fn recipe_yaml_fast_path_agrees_with_the_full_check_on_the_corpus() {
    let bodies = corpus_bodies();
    if bodies.is_empty() {
        return; // corpus_files has reported the skip
    }
    let mut fast = 0;
    for body in &bodies {
        assert_eq!(
            check_syntax(body),
            Ok(()),
            "a corpus recipe is YAML:\n{body}"
        );
        if plainly_valid(body) {
            fast += 1;
        }
    }
    // The point of the fast path: the corpus's recipes take it.
    assert!(
        fast * 10 >= bodies.len() * 9,
        "only {fast} of {} corpus recipes take the fast path",
        bodies.len()
    );
}

#[test]
fn recipe_yaml_fast_path_never_accepts_what_the_full_check_rejects() {
    let bodies = corpus_bodies();
    if bodies.is_empty() {
        return;
    }
    let (mut tried, mut fast, mut rejected) = (0, 0, 0);
    for body in &bodies {
        for m in mutations(body, 3) {
            tried += 1;
            let full = check_syntax(&m);
            if full.is_err() {
                rejected += 1;
            }
            if plainly_valid(&m) {
                fast += 1;
                assert_eq!(
                    full,
                    Ok(()),
                    "the fast path accepted a text the full check rejects:\n{m}"
                );
            }
        }
    }
    eprintln!("{tried} mutants: {fast} on the fast path, {rejected} rejected by the full check");
    // Both verdicts occur often, so the comparison means something.
    assert!(
        fast * 4 > tried,
        "{fast} of {tried} mutants took the fast path"
    );
    assert!(
        rejected * 10 > tried,
        "{rejected} of {tried} mutants were rejected"
    );
}
