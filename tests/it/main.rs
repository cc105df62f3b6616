//! The one integration-test crate: each module covers one capability.

mod cli_validate;
mod radl_corpus;
mod radl_invalid;
mod radl_reference;
mod radl_roundtrip;
mod ssh;
mod support;
