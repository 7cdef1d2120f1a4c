//! Continuous SMTP monitoring on [smtp-probe](smtp_probe_tokio): checks on a schedule, failures confirmed before
//! they count, incidents that open and close by rule, alerts queued in a durable outbox and delivered to
//! webhooks, Slack, Teams and email, history, uptime and response-time percentiles in SQLite (embedded, the
//! default) or PostgreSQL — as a library first, with the `smtp-probe-monitor` binary on top.
//!
//! Embed it in a tokio service: build it from a configuration, run it on your runtime, subscribe to its events,
//! read its snapshot and figures.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use smtp_probe_monitor::{config::Config, engine::Engine, events::Event, incident::State};
//!
//! let server = smtp_probe_testserver::Responder::new().start()?; // a mail server on 127.0.0.1
//! let data = tempfile::tempdir()?;
//! let mut config = Config::from_toml_str(
//!     &format!(
//!         r#"
//!         [service]
//!         data_dir = "{data}"          # SQLite file data/monitor.db, WAL
//!
//!         [[monitors]]
//!         name = "test MX"
//!         target = "{addr}"
//!         tls = "opportunistic"
//!         interval = "60s"
//!         tags = ["example"]
//!         "#,
//!         data = data.path().display(),
//!         addr = server.addr(),
//!     ),
//!     data.path(),
//! )?;
//! config.monitors[0].interval = Duration::from_secs(1); // for the example only: the file format's minimum is 30 s
//!
//! let engine = Engine::start(config).await?;
//! let mut events = engine.subscribe();
//! let state = loop {
//!     if let Event::Check { state, outcome } = events.recv().await? {
//!         println!("{}", outcome.summary); // "up: 127.0.0.1 answered in 2 ms"
//!         break state;
//!     }
//! };
//! assert_eq!(state, State::Up);
//! assert_eq!(engine.snapshot()[0].name, "test MX");
//! engine.shutdown(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! The pieces, one concept per module:
//!
//! | module | what it decides or does | IO |
//! | --- | --- | --- |
//! | [`config`] | the TOML file, validated (line, column, field), secrets from env or files | reads files |
//! | [`incident`] | confirmation, open after N, close after M, degraded vs down, flap damping | none |
//! | [`alert`] | opened / escalated / recovered / reminders / certificate thresholds / policy changes / maintenance and silence | none |
//! | [`published`] | what a `domain:` check found published (MX, MTA-STS, TLSA), remembered, and what changed | none |
//! | [`delivery`] | the outbox to webhooks, Slack, Teams and email: retries, pacing, grouping, channel health | network, database |
//! | [`schedule`] | slots with stable offsets, concurrency, per-host spacing, no catch-up, lateness | none |
//! | [`uptime`], [`histogram`], [`figures`] | time-weighted uptime, mergeable latency histograms, per-window figures | none |
//! | [`maintenance`], [`canary`] | recurring windows; the monitor's own connectivity | none |
//! | [`probe`] | the one module that calls `smtp-probe-tokio` | network |
//! | [`storage`] | the `Store` trait, SQLite/PostgreSQL, the batching writer task | database |
//! | [`engine`], [`snapshot`], [`events`] | the tokio service, its in-memory state and its event stream | all of the above |
//! | [`http`] | status page, JSON API, `/metrics`, `/probe`, `/healthz` (axum), with their own bounds and credentials | HTTP |
//! | [`reload`], [`logging`] | SIGHUP and file-watch reloads; text or JSON logs | signals, files |
//!
//! Time is an argument to every decision ([`clock::Timestamp`]); only the engine reads the clock, so the
//! decisions are tested with injected time and property tests.
#![forbid(unsafe_code)]

pub mod alert;
pub mod canary;
pub mod check;
pub mod clock;
pub mod config;
pub mod delivery;
#[cfg(feature = "demo")]
pub mod demo;
pub mod engine;
pub mod events;
pub mod figures;
pub mod histogram;
pub mod http;
pub mod id;
pub mod incident;
pub mod logging;
pub mod maintenance;
pub mod probe;
pub mod published;
pub mod reload;
pub mod schedule;
pub mod snapshot;
pub mod storage;
pub mod uptime;
