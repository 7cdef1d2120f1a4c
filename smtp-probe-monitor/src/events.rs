//! The event stream: everything the engine decides, as it happens, on a `tokio::sync::broadcast` channel
//! ([`crate::engine::EngineHandle::subscribe`]). A slow subscriber misses events (it sees `Lagged`); the engine
//! never waits for one. Storage, not this stream, is the record.

use std::sync::Arc;

use crate::alert::{Alert, AlertKind};
use crate::check::CheckOutcome;
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::{IncidentEvent, State};

/// Something the engine did or decided.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A check finished (after it was judged).
    Check {
        /// The result.
        outcome: Arc<CheckOutcome>,
        /// The monitor's state afterwards.
        state: State,
    },
    /// A monitor changed state.
    StateChanged {
        /// Which.
        monitor: MonitorId,
        /// Before.
        from: State,
        /// After.
        to: State,
        /// When.
        at: Timestamp,
    },
    /// Something happened to an incident.
    Incident {
        /// Which monitor.
        monitor: MonitorId,
        /// What.
        event: IncidentEvent,
    },
    /// An alert was queued in the outbox.
    Alert {
        /// The alert.
        alert: Alert,
    },
    /// An attempt to deliver an alert to a channel ended.
    Delivery {
        /// The alert's dedup key.
        alert: String,
        /// Its kind.
        kind: AlertKind,
        /// Its monitor.
        monitor: Option<MonitorId>,
        /// The channel.
        channel: String,
        /// `delivered`, `failed` (tried again), `rejected`, `expired` or `skipped`.
        status: String,
        /// The attempt's number for this alert and channel, from 1.
        attempt: u32,
        /// What the channel said.
        detail: String,
    },
    /// The monitor's own connectivity changed (canaries).
    Connectivity {
        /// Whether it is online now.
        online: bool,
        /// When.
        at: Timestamp,
    },
    /// A new configuration is running.
    Reloaded {
        /// Monitors added or changed.
        changed: Vec<MonitorId>,
        /// Monitors removed.
        removed: Vec<MonitorId>,
    },
}
