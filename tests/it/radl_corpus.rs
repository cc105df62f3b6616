//! Every corpus RADL file parses, and prints back to the same tree.

use crate::support::corpus_files;
use nubo::radl::{self, ast::ClearSpans, printer};
use nubo::source::SourceMap;

#[test]
fn every_corpus_file_parses_and_round_trips() {
    let files = corpus_files("radl", &["radl"]);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut sm = SourceMap::new();
        let id = sm.add(path.display().to_string(), text.clone());
        let (mut tree, diags) = radl::parse(id, &text);
        let rendered: Vec<_> = diags.iter().map(|d| d.render(&sm)).collect();
        assert!(diags.is_empty(), "{}", rendered.join("\n"));
        let printed = printer::print(&tree);
        let id2 = sm.add("printed", printed.clone());
        let (mut again, diags) = radl::parse(id2, &printed);
        assert!(
            diags.is_empty(),
            "printed form of {} fails: {:?}\n{printed}",
            path.display(),
            diags
        );
        tree.clear_spans();
        again.clear_spans();
        assert_eq!(tree, again, "round trip of {}", path.display());
    }
    assert!(
        files.is_empty() || files.len() >= 30,
        "corpus has {} RADL files",
        files.len()
    );
}
