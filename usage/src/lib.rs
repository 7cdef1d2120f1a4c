//! Not published. The tests of this crate are the library as a Rust service team meets it: each one is the code a
//! team would write for one task, using only the published crates (`smtp-probe-tokio` with its `serde` and `render`
//! features), and checks the result against the loopback Postfix.
//!
//! - `tests/starttls.rs`: a one-shot STARTTLS probe with a private CA, its report as JSON.
//! - `tests/readiness.rs`: an axum readiness endpoint answered from a [`CachedProbe`] kept fresh in the background.
//! - `tests/concurrent.rs`: three targets probed at once, rendered as the one JSON array and Prometheus text.
//!
//! [`CachedProbe`]: https://docs.rs/smtp-probe-tokio/latest/smtp_probe_tokio/struct.CachedProbe.html
