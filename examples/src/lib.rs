//! Runnable examples of smtp-probe in services, each a thin `main` over a module of this library so that tests
//! can run the same code in-process:
//!
//! - [`health`] (`health-endpoint`): an HTTP readiness / deep-health endpoint, `GET /health/mail`, answered from
//!   a probe that runs in the background.
//! - [`monitor`] (`monitor`): watches several servers and prints a line when one changes state.
//! - [`exporter`] (`exporter`): a Prometheus exporter in the blackbox style, `GET /probe?target=..&module=..`.
//!
//! All three probe with the tokio adapter, `smtp-probe-tokio`, and take `--demo` to probe the bundled loopback
//! demo server. The advice that matters in all of them: probe every few minutes, not every few seconds
//! (receivers rate-limit and greylist); every probe ends with QUIT; a mail check is a readiness or alerting
//! signal, never a liveness check.
#![forbid(unsafe_code)]

pub mod common;
pub mod exporter;
pub mod health;
pub mod monitor;
