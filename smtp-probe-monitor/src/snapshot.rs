//! The in-memory snapshot of every monitor's current state: what a status page or an API answers from without
//! touching storage. Updated by the engine after each judged check; readers take a cheap consistent copy.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::check::{CheckOutcome, Status};
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::{OpenIncident, State};

/// One monitor now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonitorSnapshot {
    /// Stable id.
    pub id: MonitorId,
    /// Display name.
    pub name: String,
    /// Target as people read it.
    pub target: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Check interval, seconds.
    pub interval_secs: u64,
    /// State (from the incident machine).
    pub state: State,
    /// The last check's status.
    pub last_status: Option<Status>,
    /// The last check.
    pub last_check: Option<Arc<CheckOutcome>>,
    /// The open incident.
    pub incident: Option<OpenIncident>,
    /// The maintenance window covering it now.
    pub maintenance: Option<String>,
    /// Whether this instance holds its lease (always true on SQLite).
    pub owned: bool,
    /// Checks run by this instance since start.
    pub checks: u64,
    /// When it entered its state (if known).
    pub since: Option<Timestamp>,
}

/// Every monitor's snapshot, shared between the engine and readers.
#[derive(Debug, Clone, Default)]
pub struct Snapshots(Arc<RwLock<BTreeMap<MonitorId, MonitorSnapshot>>>);

impl Snapshots {
    /// A copy of every monitor, in id order.
    pub fn all(&self) -> Vec<MonitorSnapshot> {
        self.0.read().expect("snapshot lock").values().cloned().collect()
    }

    /// One monitor.
    pub fn get(&self, id: &MonitorId) -> Option<MonitorSnapshot> {
        self.0.read().expect("snapshot lock").get(id).cloned()
    }

    /// Every monitor's id, in order.
    pub fn ids(&self) -> Vec<MonitorId> {
        self.0.read().expect("snapshot lock").keys().cloned().collect()
    }

    /// Runs `f` over every monitor, in id order, under the read lock (no copy: keep `f` short).
    pub fn for_each(&self, mut f: impl FnMut(&MonitorSnapshot)) {
        self.0.read().expect("snapshot lock").values().for_each(&mut f);
    }

    /// How many monitors.
    pub fn len(&self) -> usize {
        self.0.read().expect("snapshot lock").len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn update(&self, id: &MonitorId, f: impl FnOnce(&mut MonitorSnapshot)) {
        if let Some(s) = self.0.write().expect("snapshot lock").get_mut(id) {
            f(s);
        }
    }

    pub(crate) fn insert(&self, s: MonitorSnapshot) {
        self.0.write().expect("snapshot lock").insert(s.id.clone(), s);
    }

    pub(crate) fn remove(&self, id: &MonitorId) {
        self.0.write().expect("snapshot lock").remove(id);
    }
}
