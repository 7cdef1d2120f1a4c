//! A scripted server and a simulated clock, for tests of the probe and of anything built on it
//! (feature `testing`).
//!
//! The [`Harness`] moves bytes between a [`Probe`](crate::Probe) and a [`Script`], and when both sides wait it jumps the clock
//! straight to the probe's deadline, so timeout tests are instant and deterministic. Server bytes can be fed whole,
//! cut at any offset, or in chunks of any size, to show that the split never changes the report.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use smtp_probe_proto::testing::{Harness, ServerStep::*};
//! use smtp_probe_proto::{Cause, ProbeConfig, TlsMode, Verdict};
//!
//! let config = ProbeConfig::builder("mx.test".parse()?).tls(TlsMode::None).overall_timeout(Duration::from_secs(5)).build()?;
//! let script = vec![Send(b"220-mx.test\r\n".to_vec()), Hang];
//! let mut harness = Harness::new(config, Instant::now(), script);
//! let report = harness.run();
//! assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingTimeout)));
//! assert_eq!(harness.elapsed(), Duration::from_secs(5)); // simulated: the test took no time
//! # Ok::<(), smtp_probe_proto::Error>(())
//! ```
//!
//! [`fuzz`] holds the fuzz targets' input decoders and property checks: the cargo-fuzz targets (in the
//! repository's `fuzz/` crate) and this crate's corpus replay test call the same functions.

mod harness;
mod size;

pub mod fuzz;

pub use harness::{Feed, Harness, Script, ServerStep, expect, send, wall_start};
pub use size::report_heap_bytes;
