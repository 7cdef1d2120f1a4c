//! [`Item`]: one thing a renderer renders. Every format takes a slice of them, in the order they are to appear.

use smtp_probe_proto::domain::DomainReport;
use smtp_probe_proto::mx::{MxHostReport, MxReport};
use smtp_probe_proto::{Cause, Report, Verdict};

/// One result to render: a target's [`Report`], an MX domain's [`MxReport`] or a domain check's
/// [`DomainReport`], borrowed.
///
/// New kinds of result (a round trip, a domain's policies) become new variants; the enum is `non_exhaustive`
/// so that adding one is not a breaking change, and every renderer handles each kind in one place.
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

impl<'a> Item<'a> {
    /// The verdict that counts for this item: a target's, or an MX domain's aggregate verdict.
    pub fn verdict(&self) -> Verdict {
        match self {
            Item::Target(report) => report.verdict,
            Item::Mx(mx) => mx.verdict,
            Item::Domain(domain) => domain.verdict,
        }
    }

    /// The cause of that verdict: a target's, an MX domain's or a domain check's (`local_error` when the check could
    /// not run).
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Item::Target(report) => report.cause,
            Item::Mx(mx) => mx.cause,
            Item::Domain(domain) => domain.cause,
        }
    }

    /// Every probe report in the item, each with the MX host it was made for (`None` for a target).
    pub fn reports(&self) -> Box<dyn Iterator<Item = (Option<MxHost<'a>>, &'a Report)> + 'a> {
        let mx = match *self {
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

/// The targets' reports and the MX domains' reports of these items, each in order.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
pub(crate) fn split<'a>(items: &[Item<'a>]) -> (Vec<&'a Report>, Vec<&'a MxReport>) {
    let mut targets = Vec::new();
    let mut domains = Vec::new();
    for item in items {
        match *item {
            Item::Target(report) => targets.push(report),
            Item::Mx(mx) => domains.push(mx),
            Item::Domain(_) => {}
        }
    }
    (targets, domains)
}

/// The domain checks of these items, in order.
#[cfg_attr(not(any(feature = "prometheus", feature = "nagios", feature = "human")), allow(dead_code))]
pub(crate) fn domain_checks<'a>(items: &[Item<'a>]) -> Vec<&'a DomainReport> {
    items.iter().filter_map(|item| if let Item::Domain(d) = item { Some(*d) } else { None }).collect()
}
