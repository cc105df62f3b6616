//! The one integration-test crate: each module covers one capability.

mod radl_corpus;
mod radl_reference;
mod support;
