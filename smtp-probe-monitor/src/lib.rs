//! Continuous SMTP monitoring on smtp-probe. (Crate docs are completed with the engine.)
#![forbid(unsafe_code)]

pub mod alert;
pub mod canary;
pub mod check;
pub mod clock;
pub mod config;
pub mod engine;
pub mod events;
pub mod figures;
pub mod histogram;
pub mod id;
pub mod incident;
pub mod logging;
pub mod maintenance;
pub mod probe;
pub mod reload;
pub mod schedule;
pub mod snapshot;
pub mod storage;
pub mod uptime;
