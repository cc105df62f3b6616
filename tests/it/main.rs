//! The one integration-test crate: each module covers one capability.

mod radl_corpus;
mod support;
