//! SPF (RFC 7208): record syntax ([`SpfRecord`]) and a sans-IO `check_host()` that follows `include`s and
//! `redirect`s through DNS by asking its caller for each lookup, counting DNS-querying terms against the
//! 10-lookup limit and void lookups against 2 (RFC 7208 §4.6.4).
//!
//! [`SpfCheck`] is driven like the probe: call [`SpfCheck::poll`]; on [`SpfPoll::Lookup`] resolve the query and
//! hand the answer to [`SpfCheck::handle_answer`]; repeat until [`SpfPoll::Done`].
//!
//! ```
//! use smtp_probe_proto::policy::spf::{QueryType, SpfAnswer, SpfCheck, SpfPoll, SpfResult};
//!
//! // A tiny zone: example.com includes _spf.example.com, which lists one network.
//! let zone = |name: &str, qtype: QueryType| match (name, qtype) {
//!     ("example.com", QueryType::Txt) => SpfAnswer::txt(["v=spf1 include:_spf.example.com mx -all"]),
//!     ("_spf.example.com", QueryType::Txt) => SpfAnswer::txt(["v=spf1 ip4:192.0.2.0/24 ~all"]),
//!     ("example.com", QueryType::Mx) => SpfAnswer::Exchanges(vec!["mx.example.com".into()]),
//!     _ => SpfAnswer::NxDomain,
//! };
//! let mut check = SpfCheck::new("example.com")?;
//! let report = loop {
//!     match check.poll() {
//!         SpfPoll::Lookup(query) => {
//!             let answer = zone(&query.name, query.qtype);
//!             check.handle_answer(answer)?;
//!         }
//!         SpfPoll::Done(report) => break report,
//!     }
//! };
//! // A sender outside every listed network: the final `-all`.
//! assert_eq!(report.result, SpfResult::Fail);
//! assert_eq!(report.lookups, 2); // include + mx
//! assert_eq!(report.records.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Without a sender address (the default) the check answers "what happens to mail from a host this domain does
//! not list" — the path on which the lookup limits bite: `ip4`, `ip6`, `a`, `mx` and `ptr` never match, and
//! address lookups for `a` are of type A (an IPv4 sender). [`SpfCheck::sender`] sets an address to evaluate a real
//! sender; `ptr` never matches even then (RFC 7208 §5.5 advises against it; this check does not resolve it).
//!
//! Receivers stop at the 11th DNS-querying term with `permerror`; this check goes on counting (up to its own
//! [`SpfLimits::max_queries`]) so the report says how far over the limit the domain is, while
//! [`SpfReport::result`] stays what receivers conclude. The evaluation restarts from cached answers after each
//! answer (it is small: at most [`SpfLimits::max_queries`] answers and [`record::MAX_TERMS`] terms a record), so
//! no state machine has to be kept by hand and every answer is asked for once.

pub mod record;

use core::fmt;
use core::net::IpAddr;
use std::collections::HashMap;

use record::{MacroExpand, MacroPart, MacroString, in_network};
pub use record::{Mechanism, Qualifier, SpfRecord, SpfSyntaxError, Term, is_spf1};

use super::finding::{Problem, RecordFinding};
use super::text::{DomainError, normalize_domain, quote};

/// Limits of a check: those of RFC 7208 and this tool's own bounds on work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpfLimits {
    /// DNS-querying terms before `permerror` (RFC 7208 §4.6.4: 10).
    pub max_lookups: u32,
    /// Void lookups before `permerror` (RFC 7208 §4.6.4: 2).
    pub max_void_lookups: u32,
    /// Address lookups one `mx` mechanism may need (RFC 7208 §4.6.4: 10).
    pub max_mx_names: usize,
    /// DNS queries this check asks its caller for, in all; beyond it the check stops and says so.
    pub max_queries: u32,
    /// Nesting of `include`/`redirect`.
    pub max_depth: usize,
    /// DNS-querying terms evaluated past which the check stops counting (includes of includes can repeat
    /// cached records many times over; this bounds the work).
    pub max_counted: u32,
}

impl Default for SpfLimits {
    fn default() -> SpfLimits {
        SpfLimits {
            max_lookups: 10,
            max_void_lookups: 2,
            max_mx_names: 10,
            max_queries: 64,
            max_depth: 16,
            max_counted: 100,
        }
    }
}

/// The DNS record type of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum QueryType {
    /// TXT: SPF records.
    Txt,
    /// A.
    A,
    /// AAAA.
    Aaaa,
    /// MX.
    Mx,
}

/// A lookup the check needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpfQuery {
    /// The name, lower case, without a trailing dot.
    pub name: String,
    /// The type.
    pub qtype: QueryType,
}

/// What DNS said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpfAnswer {
    /// TXT records, each one's strings joined.
    Txt(Vec<Vec<u8>>),
    /// A or AAAA records.
    Addresses(Vec<IpAddr>),
    /// MX exchanges (preference does not matter to SPF).
    Exchanges(Vec<String>),
    /// NOERROR, no records of the type.
    NoData,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL, timeout, refused: `temperror`.
    Failed(String),
}

impl SpfAnswer {
    /// TXT records from text.
    pub fn txt<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(records: I) -> SpfAnswer {
        SpfAnswer::Txt(records.into_iter().map(|r| r.as_ref().to_vec()).collect())
    }

    /// Whether this is a void answer (RFC 7208 §4.6.4): NXDOMAIN, or no records.
    fn is_void(&self) -> bool {
        match self {
            SpfAnswer::NoData | SpfAnswer::NxDomain => true,
            SpfAnswer::Txt(r) => r.is_empty(),
            SpfAnswer::Addresses(a) => a.is_empty(),
            SpfAnswer::Exchanges(e) => e.is_empty(),
            SpfAnswer::Failed(_) => false,
        }
    }

    fn fits(&self, qtype: QueryType) -> bool {
        match self {
            SpfAnswer::Txt(_) => qtype == QueryType::Txt,
            SpfAnswer::Addresses(_) => matches!(qtype, QueryType::A | QueryType::Aaaa),
            SpfAnswer::Exchanges(_) => qtype == QueryType::Mx,
            _ => true,
        }
    }
}

/// The result of check_host() (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SpfResult {
    /// No SPF record.
    None,
    /// Nothing matched and there is no `redirect`, or `?` matched.
    Neutral,
    /// `+` matched.
    Pass,
    /// `-` matched.
    Fail,
    /// `~` matched.
    SoftFail,
    /// A DNS failure.
    TempError,
    /// The records cannot be evaluated (syntax, limits, include of nothing).
    PermError,
}

impl SpfResult {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a record was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Via {
    /// The domain checked.
    Top,
    /// An `include`.
    Include,
    /// A `redirect`.
    Redirect,
}

/// One record evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SpfNode {
    /// Its domain.
    pub domain: String,
    /// How deep (0 for the domain checked).
    pub depth: usize,
    /// How it was reached.
    pub via: Via,
    /// The record text, escaped and cut (empty when none was found).
    pub record: String,
    /// DNS-querying terms of this record that were evaluated (what it adds to the count by itself).
    pub lookups: u32,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SpfReport {
    /// The domain checked.
    pub domain: String,
    /// What receivers conclude for the sender (by default: a host the domain does not list).
    pub result: SpfResult,
    /// Why, for `permerror` and `temperror`.
    pub reason: Option<String>,
    /// DNS-querying terms evaluated, in all (it may exceed the limit: the check counts on).
    pub lookups: u32,
    /// Lookups that returned nothing.
    pub void_lookups: u32,
    /// The term that crossed the lookup limit, as `domain: term`.
    pub limit_crossed_at: Option<String>,
    /// DNS queries asked of the caller.
    pub queries: u32,
    /// Every record evaluated, in order.
    pub records: Vec<SpfNode>,
    /// Whether the walk ran to its end (false: stopped at a hard error or at this tool's work bound).
    pub complete: bool,
    /// Problems worth reporting.
    pub findings: Vec<RecordFinding>,
}

/// What to do next.
#[derive(Debug)]
pub enum SpfPoll<'a> {
    /// Resolve this, then call [`SpfCheck::handle_answer`].
    Lookup(&'a SpfQuery),
    /// The check is over.
    Done(&'a SpfReport),
}

/// Misuse of the drive protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpfUsageError {
    /// `handle_answer` without a pending lookup.
    #[error("no lookup is pending")]
    NoLookupPending,
    /// An answer of another type than the query (e.g. TXT data for an MX query).
    #[error("the answer does not fit a {0:?} query")]
    WrongAnswerType(QueryType),
}

/// A check of one domain's SPF (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct SpfCheck {
    domain: String,
    sender_ip: Option<IpAddr>,
    sender: Option<(String, String)>,
    helo: Option<String>,
    limits: SpfLimits,
    answers: HashMap<SpfQuery, SpfAnswer>,
    pending: Option<SpfQuery>,
    report: Option<SpfReport>,
}

impl SpfCheck {
    /// A check of `domain` with the RFC limits.
    pub fn new(domain: &str) -> Result<SpfCheck, DomainError> {
        SpfCheck::with_limits(domain, SpfLimits::default())
    }

    /// A check of `domain` with these limits.
    pub fn with_limits(domain: &str, limits: SpfLimits) -> Result<SpfCheck, DomainError> {
        Ok(SpfCheck {
            domain: normalize_domain(domain)?,
            sender_ip: None,
            sender: None,
            helo: None,
            limits,
            answers: HashMap::new(),
            pending: None,
            report: None,
        })
    }

    /// Evaluates for a real sender: its address, and optionally its `local@domain` MAIL FROM and HELO name
    /// (for the `%{s}`, `%{l}`, `%{o}`, `%{h}` macros).
    pub fn sender(mut self, ip: IpAddr, mail_from: Option<&str>, helo: Option<&str>) -> SpfCheck {
        self.sender_ip = Some(ip.to_canonical());
        self.sender = mail_from.and_then(|m| m.rsplit_once('@')).map(|(l, d)| (l.to_owned(), d.to_ascii_lowercase()));
        self.helo = helo.map(str::to_owned);
        self
    }

    /// What to do next. Each call without a new answer returns the same thing.
    pub fn poll(&mut self) -> SpfPoll<'_> {
        if self.report.is_none() && self.pending.is_none() {
            let domain = self.domain.clone();
            let mut run = Run::new(self);
            let (pending, report) = match run.check_host(&domain, 0, Via::Top) {
                Err(Stop::Need(query)) => (Some(query), None),
                outcome => (None, Some(run.finish(self, outcome))),
            };
            self.pending = pending;
            self.report = report;
        }
        match (&self.report, &self.pending) {
            (Some(report), _) => SpfPoll::Done(report),
            (None, Some(query)) => SpfPoll::Lookup(query),
            // Exactly one of the two is set above.
            (None, None) => unreachable!("poll sets a report or a pending query"),
        }
    }

    /// The answer to the pending lookup.
    pub fn handle_answer(&mut self, answer: SpfAnswer) -> Result<(), SpfUsageError> {
        let query = self.pending.take().ok_or(SpfUsageError::NoLookupPending)?;
        if !answer.fits(query.qtype) {
            let qtype = query.qtype;
            self.pending = Some(query);
            return Err(SpfUsageError::WrongAnswerType(qtype));
        }
        self.answers.insert(query, answer);
        Ok(())
    }

    /// The report, once done.
    pub fn report(&self) -> Option<&SpfReport> {
        self.report.as_ref()
    }
}

/// Why an evaluation stopped early.
enum Stop {
    /// An answer is missing.
    Need(SpfQuery),
    /// A result that ends check_host() everywhere (permerror, temperror), with its problem and reason.
    Error(SpfResult, Problem, String),
}

/// One evaluation pass over the cached answers.
struct Run<'a> {
    check: &'a SpfCheck,
    lookups: u32,
    voids: u32,
    limit_crossed_at: Option<String>,
    /// The RFC limits crossed (lookups, void lookups), in the order they were crossed.
    limit_errors: Vec<(Problem, String)>,
    records: Vec<SpfNode>,
    stack: Vec<String>,
    findings: Vec<RecordFinding>,
}

impl<'a> Run<'a> {
    fn new(check: &'a SpfCheck) -> Run<'a> {
        Run {
            check,
            lookups: 0,
            voids: 0,
            limit_crossed_at: None,
            limit_errors: Vec::new(),
            records: Vec::new(),
            stack: Vec::new(),
            findings: Vec::new(),
        }
    }

    fn finish(self, check: &SpfCheck, outcome: Result<SpfResult, Stop>) -> SpfReport {
        let mut findings = self.findings;
        // The first limit crossed ends the evaluation for receivers: permerror, whatever came after it.
        let limit_reason = self.limit_errors.first().map(|(_, reason)| reason.clone());
        findings.extend(self.limit_errors.into_iter().map(|(problem, reason)| RecordFinding::new(problem, reason)));
        let (result, reason, complete) = match (outcome, limit_reason) {
            (Ok(_), Some(reason)) => (SpfResult::PermError, Some(reason), true),
            (Ok(result), None) => (result, None, true),
            (Err(Stop::Error(_, problem, reason)), Some(limit_reason)) => {
                findings.push(RecordFinding::new(problem, reason));
                (SpfResult::PermError, Some(limit_reason), false)
            }
            (Err(Stop::Error(result, problem, reason)), None) => {
                findings.push(RecordFinding::new(problem, reason.clone()));
                (result, Some(reason), false)
            }
            (Err(Stop::Need(_)), _) => unreachable!("a missing answer never finishes a run"),
        };
        if result == SpfResult::None {
            findings.push(RecordFinding::new(Problem::SpfMissing, format!("no v=spf1 record at {}", check.domain)));
        }
        SpfReport {
            domain: check.domain.clone(),
            result,
            reason,
            lookups: self.lookups,
            void_lookups: self.voids,
            limit_crossed_at: self.limit_crossed_at,
            queries: u32::try_from(check.answers.len()).unwrap_or(u32::MAX),
            records: self.records,
            complete,
            findings,
        }
    }

    /// The cached answer to a query, or a stop asking for it (or a work-bound error).
    fn lookup(&mut self, name: &str, qtype: QueryType) -> Result<SpfAnswer, Stop> {
        let query = SpfQuery { name: name.to_owned(), qtype };
        if let Some(answer) = self.check.answers.get(&query) {
            return Ok(answer.clone());
        }
        if self.check.answers.len() as u64 >= u64::from(self.check.limits.max_queries) {
            return Err(Stop::Error(
                SpfResult::PermError,
                Problem::SpfWorkLimit,
                format!("stopped after {} DNS queries", self.check.limits.max_queries),
            ));
        }
        Err(Stop::Need(query))
    }

    /// Counts a DNS-querying term; past the limit, remembers where (receivers stop there with permerror).
    fn count_lookup(&mut self, domain: &str, term: &Term, node: usize) -> Result<(), Stop> {
        if self.lookups >= self.check.limits.max_counted {
            return Err(Stop::Error(
                SpfResult::PermError,
                Problem::SpfWorkLimit,
                format!("stopped counting after {} DNS-querying terms", self.check.limits.max_counted),
            ));
        }
        self.lookups = self.lookups.saturating_add(1);
        self.records[node].lookups = self.records[node].lookups.saturating_add(1);
        if self.lookups == self.check.limits.max_lookups.saturating_add(1) {
            let at = format!("{domain}: {term}");
            self.limit_crossed_at = Some(at.clone());
            self.limit_errors.push((
                Problem::SpfTooManyLookups,
                format!("more than {} DNS-querying terms; the limit is crossed at {at}", self.check.limits.max_lookups),
            ));
        }
        Ok(())
    }

    fn count_void(&mut self, name: &str) {
        self.voids = self.voids.saturating_add(1);
        if self.voids == self.check.limits.max_void_lookups.saturating_add(1) {
            self.limit_errors.push((
                Problem::SpfTooManyVoidLookups,
                format!(
                    "more than {} void lookups; the limit is crossed at {name}",
                    self.check.limits.max_void_lookups
                ),
            ));
        }
    }

    fn finish_mx_limit(&mut self, name: &str, count: usize) -> Stop {
        Stop::Error(
            SpfResult::PermError,
            Problem::SpfTooManyMxNames,
            format!("mx of {name} has {count} exchanges; at most {} may be looked up", self.check.limits.max_mx_names),
        )
    }

    /// check_host() for `domain` (RFC 7208 §4).
    fn check_host(&mut self, domain: &str, depth: usize, via: Via) -> Result<SpfResult, Stop> {
        let node = self.records.len();
        self.records.push(SpfNode { domain: domain.to_owned(), depth, via, record: String::new(), lookups: 0 });
        let record = match self.lookup(domain, QueryType::Txt)? {
            SpfAnswer::Failed(why) => {
                return Err(Stop::Error(
                    SpfResult::TempError,
                    Problem::SpfLookupFailed,
                    format!("TXT {domain}: {}", quote(why.as_bytes())),
                ));
            }
            SpfAnswer::Txt(records) => {
                let mut spf = records.iter().filter(|r| is_spf1(r));
                match (spf.next(), spf.next()) {
                    (Some(one), None) => Some(one.clone()),
                    (Some(_), Some(_)) => {
                        return Err(Stop::Error(
                            SpfResult::PermError,
                            Problem::SpfMultiple,
                            format!("{domain} has more than one v=spf1 record"),
                        ));
                    }
                    (None, _) => None,
                }
            }
            _ => None,
        };
        let Some(text) = record else {
            return match via {
                Via::Top => Ok(SpfResult::None),
                _ => Err(Stop::Error(
                    SpfResult::PermError,
                    Problem::SpfIncludeNone,
                    format!("{domain} has no SPF record"),
                )),
            };
        };
        self.records[node].record = quote(&text);
        let record = SpfRecord::parse(&text)
            .map_err(|e| Stop::Error(SpfResult::PermError, Problem::SpfInvalid, format!("{domain}: {e}")))?;
        self.stack.push(domain.to_owned());
        let result = self.evaluate(domain, &record, depth, node);
        self.stack.pop();
        result
    }

    fn evaluate(&mut self, domain: &str, record: &SpfRecord, depth: usize, node: usize) -> Result<SpfResult, Stop> {
        for term in &record.terms {
            let Term::Directive(qualifier, mechanism) = term else { continue };
            if mechanism.queries_dns() {
                self.count_lookup(domain, term, node)?;
            }
            if self.matches(domain, mechanism, term, depth)? {
                if *mechanism == Mechanism::All && *qualifier == Qualifier::Pass && depth == 0 {
                    self.findings.push(RecordFinding::new(
                        Problem::SpfPassAll,
                        format!("{domain}: \"{term}\" passes mail from every host"),
                    ));
                }
                return Ok(match qualifier {
                    Qualifier::Pass => SpfResult::Pass,
                    Qualifier::Fail => SpfResult::Fail,
                    Qualifier::SoftFail => SpfResult::SoftFail,
                    Qualifier::Neutral => SpfResult::Neutral,
                });
            }
        }
        match record.redirect() {
            Some(spec) if !record.has_all() => {
                let term = Term::Redirect(spec.clone());
                self.count_lookup(domain, &term, node)?;
                match self.target(domain, spec, &term)? {
                    Some(target) => self.descend(&target, depth, Via::Redirect),
                    None => Ok(SpfResult::Neutral),
                }
            }
            _ => Ok(SpfResult::Neutral),
        }
    }

    /// An include or redirect target: follows it unless it loops or is too deep.
    fn descend(&mut self, target: &str, depth: usize, via: Via) -> Result<SpfResult, Stop> {
        if self.stack.iter().any(|d| d == target) {
            return Err(Stop::Error(
                SpfResult::PermError,
                Problem::SpfLoop,
                format!("{target} is reached again through {}", self.stack.join(" -> ")),
            ));
        }
        if depth + 1 > self.check.limits.max_depth {
            return Err(Stop::Error(
                SpfResult::PermError,
                Problem::SpfWorkLimit,
                format!("includes nested deeper than {}", self.check.limits.max_depth),
            ));
        }
        self.check_host(target, depth + 1, via)
    }

    fn matches(&mut self, domain: &str, mechanism: &Mechanism, term: &Term, depth: usize) -> Result<bool, Stop> {
        let ip = self.check.sender_ip;
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(net, len) => Ok(ip.is_some_and(|ip| in_network(ip, IpAddr::V4(*net), *len, 128))),
            Mechanism::Ip6(net, len) => Ok(ip.is_some_and(|ip| in_network(ip, IpAddr::V6(*net), 32, *len))),
            Mechanism::Include(spec) => {
                let Some(target) = self.target(domain, spec, term)? else { return Ok(false) };
                // RFC 7208 §5.2: pass matches; fail, softfail, neutral do not; errors propagate; none is permerror.
                Ok(self.descend(&target, depth, Via::Include)? == SpfResult::Pass)
            }
            Mechanism::A { domain: spec, v4, v6 } => {
                let Some(target) = self.optional_target(domain, spec.as_ref(), term)? else { return Ok(false) };
                let qtype = if ip.is_some_and(|ip| ip.is_ipv6()) { QueryType::Aaaa } else { QueryType::A };
                let addresses = self.addresses(&target, qtype, true)?;
                Ok(ip.is_some_and(|ip| addresses.iter().any(|a| in_network(ip, *a, *v4, *v6))))
            }
            Mechanism::Mx { domain: spec, v4, v6 } => {
                let Some(target) = self.optional_target(domain, spec.as_ref(), term)? else { return Ok(false) };
                let exchanges = match self.lookup(&target, QueryType::Mx)? {
                    SpfAnswer::Exchanges(e) if !e.is_empty() => e,
                    SpfAnswer::Failed(why) => return Err(self.dns_failed(&target, "MX", &why)),
                    _ => {
                        self.count_void(&target);
                        return Ok(false);
                    }
                };
                if exchanges.len() > self.check.limits.max_mx_names {
                    return Err(self.finish_mx_limit(&target, exchanges.len()));
                }
                // Without a sender nothing can match: the exchanges' addresses are not needed.
                let Some(ip) = ip else { return Ok(false) };
                let qtype = if ip.is_ipv6() { QueryType::Aaaa } else { QueryType::A };
                for exchange in exchanges {
                    let Ok(name) = normalize_domain(&exchange) else { continue };
                    if self.addresses(&name, qtype, false)?.iter().any(|a| in_network(ip, *a, *v4, *v6)) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(_) => {
                if !self.findings.iter().any(|f| f.problem == Problem::SpfPtrUsed) {
                    self.findings.push(RecordFinding::new(Problem::SpfPtrUsed, format!("{domain}: \"{term}\"")));
                }
                Ok(false)
            }
            Mechanism::Exists(spec) => {
                let Some(target) = self.target(domain, spec, term)? else { return Ok(false) };
                Ok(!self.addresses(&target, QueryType::A, true)?.is_empty())
            }
        }
    }

    fn dns_failed(&self, name: &str, qtype: &str, why: &str) -> Stop {
        Stop::Error(
            SpfResult::TempError,
            Problem::SpfLookupFailed,
            format!("{qtype} {name}: {}", quote(why.as_bytes())),
        )
    }

    /// A/AAAA of `name`; empty answers count as void when `void` (the mechanism's own lookup).
    fn addresses(&mut self, name: &str, qtype: QueryType, void: bool) -> Result<Vec<IpAddr>, Stop> {
        let answer = self.lookup(name, qtype)?;
        if let SpfAnswer::Failed(why) = &answer {
            let kind = if qtype == QueryType::A { "A" } else { "AAAA" };
            return Err(self.dns_failed(name, kind, why));
        }
        if void && answer.is_void() {
            self.count_void(name);
        }
        Ok(match answer {
            SpfAnswer::Addresses(a) => a,
            _ => Vec::new(),
        })
    }

    fn optional_target(
        &mut self,
        domain: &str,
        spec: Option<&MacroString>,
        term: &Term,
    ) -> Result<Option<String>, Stop> {
        match spec {
            None => Ok(Some(domain.to_owned())),
            Some(spec) => self.target(domain, spec, term),
        }
    }

    /// A domain-spec expanded and checked; `None` (with a finding) when it depends on what is not known.
    fn target(&mut self, domain: &str, spec: &MacroString, term: &Term) -> Result<Option<String>, Stop> {
        let Some(expanded) = self.expand(domain, spec) else {
            let message = format!("{domain}: \"{term}\" depends on the sender; counted, not followed");
            if !self.findings.iter().any(|f| f.message == message) {
                self.findings.push(RecordFinding::new(Problem::SpfUnexpandable, message));
            }
            return Ok(None);
        };
        normalize_domain(&expanded)
            .map(Some)
            .map_err(|e| Stop::Error(SpfResult::PermError, Problem::SpfInvalid, format!("{domain}: \"{term}\": {e}")))
    }

    /// RFC 7208 §7.3 expansion, `None` when a macro needs a value this check does not have.
    fn expand(&self, domain: &str, spec: &MacroString) -> Option<String> {
        let mut out = String::new();
        for part in &spec.parts {
            match part {
                MacroPart::Literal(text) => out.push_str(text),
                MacroPart::Expand(e) => out.push_str(&self.macro_value(domain, e)?),
            }
        }
        // A name longer than 253 characters loses labels on the left (RFC 7208 §7.3).
        let mut name = out.strip_suffix('.').unwrap_or(&out);
        while name.len() > 253 {
            name = name.split_once('.').map(|(_, rest)| rest)?;
        }
        Some(name.to_owned())
    }

    fn macro_value(&self, domain: &str, e: &MacroExpand) -> Option<String> {
        let ip = self.check.sender_ip;
        let value = match e.letter {
            'd' => domain.to_owned(),
            'o' => self.check.sender.as_ref().map_or_else(|| self.check.domain.clone(), |(_, d)| d.clone()),
            's' => self.check.sender.as_ref().map(|(l, d)| format!("{l}@{d}"))?,
            'l' => self.check.sender.as_ref().map(|(l, _)| l.clone())?,
            'h' => self.check.helo.clone()?,
            'v' => if ip?.is_ipv4() { "in-addr" } else { "ip6" }.to_owned(),
            'i' => match ip? {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => v6
                    .octets()
                    .iter()
                    .flat_map(|b| [b >> 4, b & 0xf])
                    .map(|n| format!("{n:x}"))
                    .collect::<Vec<_>>()
                    .join("."),
            },
            // The validated name of the sender needs PTR lookups this check does not make; RFC 7208 §7.3
            // allows "unknown".
            'p' => {
                ip?;
                "unknown".to_owned()
            }
            _ => return None,
        };
        let delimiters: &[char] = &if e.delimiters.is_empty() { vec!['.'] } else { e.delimiters.chars().collect() };
        let mut parts: Vec<&str> = value.split(delimiters).collect();
        if e.reverse {
            parts.reverse();
        }
        if let Some(keep) = e.keep {
            parts.drain(..parts.len().saturating_sub(keep));
        }
        let joined = parts.join(".");
        Some(if e.escape { url_escape(&joined) } else { joined })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
