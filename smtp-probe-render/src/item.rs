//! [`Item`]: one thing a renderer renders. Every format takes a slice of them, in the order they are to appear.

use smtp_probe_proto::domain::DomainReport;
use smtp_probe_proto::mx::{MxHostReport, MxReport};
use std::time::Duration;

use smtp_probe_proto::{Cause, Phase, Report, RoundTripReport, Verdict};

/// One result to render: a target's [`Report`], an MX domain's [`MxReport`], a round trip's [`RoundTripReport`]
/// or a domain check's [`DomainReport`], borrowed.
///
/// New kinds of result become new variants; the enum is `non_exhaustive` so that adding one
/// is not a breaking change, and every renderer handles each kind in one place.
///
/// ```
/// use std::time::SystemTime;
/// use smtp_probe_proto::{Cause, Phase, Report, Verdict};
/// use smtp_probe_render::Item;
///
/// let report = Report::without_session("mx.example.com:25", SystemTime::UNIX_EPOCH, Cause::ConnectRefused,
///     Phase::Connect, "connection refused");
/// let items = [Item::from(&report)];
/// assert_eq!(items[0].verdict(), Verdict::Down);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Item<'a> {
    /// One target, probed once.
    Target(&'a Report),
    /// Every MX host of a domain.
    Mx(&'a MxReport),
    /// A round trip: a message submitted and looked for in a mailbox.
    RoundTrip(&'a RoundTripReport),
    /// A domain check: records, policies, and every MX host judged under them.
    Domain(&'a DomainReport),
}

impl<'a> From<&'a DomainReport> for Item<'a> {
    fn from(report: &'a DomainReport) -> Item<'a> {
        Item::Domain(report)
    }
}

impl<'a> From<&'a Report> for Item<'a> {
    fn from(report: &'a Report) -> Item<'a> {
        Item::Target(report)
    }
}

impl<'a> From<&'a MxReport> for Item<'a> {
    fn from(report: &'a MxReport) -> Item<'a> {
        Item::Mx(report)
    }
}

impl<'a> From<&'a RoundTripReport> for Item<'a> {
    fn from(report: &'a RoundTripReport) -> Item<'a> {
        Item::RoundTrip(report)
    }
}

impl<'a> Item<'a> {
    /// The verdict that counts for this item: a target's, an MX domain's aggregate verdict, or a round trip's.
    pub fn verdict(&self) -> Verdict {
        match self {
            Item::Target(report) => report.verdict,
            Item::Mx(mx) => mx.verdict,
            Item::RoundTrip(roundtrip) => roundtrip.verdict,
            Item::Domain(domain) => domain.verdict,
        }
    }

    /// The cause of that verdict: a target's, an MX domain's, a round trip's or a domain check's (`local_error` when
    /// the check could
    /// not run).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Item::Target(report) => report.cause,
            Item::Mx(mx) => mx.cause,
            Item::RoundTrip(roundtrip) => roundtrip.cause,
            Item::Domain(domain) => domain.cause,
        }
    }

    /// Every probe report in the item, each with the MX host it was made for (`None` for a target). A round trip
    /// has none here: its submission is part of it, rendered with it (its own metrics, perfdata and text).
    pub fn reports(&self) -> Box<dyn Iterator<Item = (Option<MxHost<'a>>, &'a Report)> + 'a> {
        let mx = match *self {
            Item::RoundTrip(_) => return Box::new(std::iter::empty()),
            Item::Target(report) => return Box::new(std::iter::once((None, report))),
            Item::Mx(mx) => mx,
            Item::Domain(domain) => &domain.mx,
        };
        Box::new(
            mx.hosts
                .iter()
                .flat_map(move |host| host.reports.iter().map(move |r| (Some(MxHost { domain: mx, host }), r))),
        )
    }
}

/// Where a report of an MX domain comes from: the domain's report and the host's.
#[derive(Debug, Clone, Copy)]
pub struct MxHost<'a> {
    /// The domain's report.
    pub domain: &'a MxReport,
    /// The host's report.
    pub host: &'a MxHostReport,
}

/// The worst verdict of these items (`None` for none): what an exit status or a Nagios state follows.
///
/// ```
/// use smtp_probe_render::worst_verdict;
/// assert_eq!(worst_verdict(&[]), None);
/// ```
pub fn worst_verdict(items: &[Item<'_>]) -> Option<Verdict> {
    items.iter().map(Item::verdict).max()
}

/// Every report of every item, in order, with its MX host.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios")), allow(dead_code))]
pub(crate) fn all_reports<'a>(items: &'a [Item<'a>]) -> impl Iterator<Item = (Option<MxHost<'a>>, &'a Report)> + 'a {
    items.iter().flat_map(Item::reports)
}

/// The items by kind, each in order.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
#[derive(Default)]
pub(crate) struct Kinds<'a> {
    /// The targets' reports.
    pub(crate) targets: Vec<&'a Report>,
    /// The MX domains' reports.
    pub(crate) domains: Vec<&'a MxReport>,
    /// The round trips' reports.
    pub(crate) roundtrips: Vec<&'a RoundTripReport>,
}

/// The items by kind.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
pub(crate) fn split<'a>(items: &[Item<'a>]) -> Kinds<'a> {
    let mut kinds = Kinds::default();
    for item in items {
        match *item {
            Item::Target(report) => kinds.targets.push(report),
            Item::Mx(mx) => kinds.domains.push(mx),
            Item::RoundTrip(roundtrip) => kinds.roundtrips.push(roundtrip),
            Item::Domain(_) => {}
        }
    }
    kinds
}

/// Time in each phase of a round trip: the submission's phases, then the mailbox's (its connection, then each
/// IMAP phase, the repeated searches summed), each phase once.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
pub(crate) fn roundtrip_phases(r: &RoundTripReport) -> Vec<(Phase, Duration)> {
    let mut phases: Vec<(Phase, Duration)> = r.submit.as_ref().map(Report::phase_durations).unwrap_or_default();
    let mut add = |phase: Phase, duration: Duration| match phases.iter_mut().find(|(p, _)| *p == phase) {
        Some((_, total)) => *total = total.saturating_add(duration),
        None => phases.push((phase, duration)),
    };
    if let Some(connect) = r.mailbox.connect {
        add(Phase::ImapConnect, connect);
    }
    for step in &r.mailbox.steps {
        add(step.phase, step.duration);
    }
    phases
}

/// The domain checks of these items, in order.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
pub(crate) fn domain_checks<'a>(items: &[Item<'a>]) -> Vec<&'a DomainReport> {
    items.iter().filter_map(|item| if let Item::Domain(d) = item { Some(*d) } else { None }).collect()
}
