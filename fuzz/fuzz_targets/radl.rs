//! Fuzz the RADL front end: any text must lex, parse, lower and check
//! without panicking; and when it parses cleanly, printing the tree and
//! parsing the printed text must give back the same tree.
//!
//! Run: `cargo fuzz run radl` (from the crate root; needs cargo-fuzz).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nubo::radl::{self, ast::ClearSpans, printer};
use nubo::source::FileId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let v = radl::validate(FileId(0), text);
    for d in v.diagnostics() {
        assert!(d.span.end as usize <= text.len() && d.span.start <= d.span.end);
    }
    if v.syntax.is_empty() {
        let printed = printer::print(&v.tree);
        let (mut again, diags) = radl::parse(FileId(0), &printed);
        assert!(diags.is_empty(), "printed form does not parse: {diags:?}\n{printed}");
        let mut tree = v.tree;
        tree.clear_spans();
        again.clear_spans();
        assert_eq!(tree, again, "round trip changed the tree:\n{printed}");
    }
});
