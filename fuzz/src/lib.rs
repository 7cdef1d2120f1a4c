//! Shared code of the smtp-probe fuzz targets: hand-written input decoders and the properties each target checks.
//!
//! Everything lives in [`checks`], a plain-Rust module that depends on `smtp-probe-proto` only, so the stable test
//! `smtp-probe-proto/tests/fuzz_corpus.rs` can include the very same file and replay the committed corpus.

pub mod checks;
pub mod imap;
pub mod policy_checks;
