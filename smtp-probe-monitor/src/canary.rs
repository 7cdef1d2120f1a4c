//! The monitor's own connectivity, judged from its canaries: monitors marked `canary = true`, chosen because
//! they are expected to be up whenever this machine's network is (a well-run MX of a big provider, a server
//! next door). When **every** canary's latest result is a failure, connectivity is lost: other monitors'
//! failures are recorded as `unknown`, not down, and their alerts are held — instead of the classic storm of
//! one "down" per monitor, there is one "monitor offline" alert. Any canary passing restores it. With no
//! canaries configured, connectivity is never in doubt.

use std::collections::HashMap;

use crate::check::Status;
use crate::id::MonitorId;

/// A change of the monitor's own connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectivityChange {
    /// Every canary is failing.
    Lost,
    /// A canary passed again.
    Restored,
}

/// Connectivity from canary results.
#[derive(Debug, Clone, Default)]
pub struct Connectivity {
    /// Canary → whether its latest known result failed.
    canaries: HashMap<MonitorId, Option<bool>>,
    lost: bool,
}

impl Connectivity {
    /// Sets which monitors are canaries (a reload keeps the results of those that stay).
    pub fn set_canaries(&mut self, ids: impl IntoIterator<Item = MonitorId>) -> Option<ConnectivityChange> {
        let old = std::mem::take(&mut self.canaries);
        for id in ids {
            let last = old.get(&id).copied().flatten();
            self.canaries.insert(id, last);
        }
        self.reevaluate()
    }

    /// Whether connectivity is lost now.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Feeds a result of any monitor; only canaries count. `Unknown` results are ignored.
    pub fn observe(&mut self, id: &MonitorId, status: Status) -> Option<ConnectivityChange> {
        if status == Status::Unknown {
            return None;
        }
        let slot = self.canaries.get_mut(id)?;
        *slot = Some(status == Status::Down);
        self.reevaluate()
    }

    fn reevaluate(&mut self) -> Option<ConnectivityChange> {
        let lost = !self.canaries.is_empty() && self.canaries.values().all(|v| *v == Some(true));
        match (self.lost, lost) {
            (false, true) => {
                self.lost = true;
                Some(ConnectivityChange::Lost)
            }
            (true, false) => {
                self.lost = false;
                Some(ConnectivityChange::Restored)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> MonitorId {
        MonitorId::from_name(s).unwrap()
    }

    #[test]
    fn lost_only_when_every_canary_fails() {
        let mut c = Connectivity::default();
        assert_eq!(c.observe(&id("x"), Status::Down), None, "no canaries: never lost");
        c.set_canaries([id("a"), id("b")]);
        assert_eq!(c.observe(&id("a"), Status::Down), None);
        assert_eq!(c.observe(&id("x"), Status::Down), None, "not a canary");
        assert_eq!(c.observe(&id("b"), Status::Down), Some(ConnectivityChange::Lost));
        assert!(c.lost());
        assert_eq!(c.observe(&id("b"), Status::Unknown), None);
        assert_eq!(c.observe(&id("a"), Status::Degraded), Some(ConnectivityChange::Restored));
        assert_eq!(c.set_canaries([id("b")]), Some(ConnectivityChange::Lost), "the remaining canary is down");
    }
}
