//! Fuzz the TOSCA front end: any text must parse, check and (when valid)
//! lower to RADL without panicking, with every diagnostic inside the text.
//!
//! Run: `cargo fuzz run tosca` (from the crate root; needs cargo-fuzz).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nubo::source::SourceMap;
use nubo::tosca::{self, ImportOptions, Origin};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = SourceMap::new();
    let id = sources.add("fuzz.yaml", text);
    let checked = tosca::validate(&mut sources, id, &Origin::Text, &ImportOptions::default());
    for d in &checked.diagnostics {
        let len = sources.text(d.span.file).len();
        assert!(d.span.start <= d.span.end && d.span.end as usize <= len);
        let _ = d.render(&sources);
    }
    if !checked.has_errors() {
        let radl = tosca::lower::to_radl(&checked);
        let _ = nubo::radl::printer::print(&radl);
    }
});
