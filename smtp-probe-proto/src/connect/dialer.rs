//! [`Dialer`]: the sans-IO planner of one probe, from the target's name to its reports (see the
//! [module docs](super)); the same planner connects a round trip to its mailbox.

use core::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::{AddressFamily, ProbeConfig};
use crate::connect::{
    AddressPolicy, ConnectFailure, DenialReason, MAX_LOOKUPS, ProbeStart, ResolveFailure, literal_address, local_fault,
    worst,
};
use crate::imap::MailboxConfig;
use crate::report::{Cause, Finding, Phase, Report, Severity};
use crate::target::Target;

/// What a [`Dialer`] plans the connection to: a probe's [`ProbeConfig`] (the default), or a round trip's
/// [`MailboxConfig`]. Each owns its target and the rules for reaching it: the address-family policy, the address
/// policy, the connect timeout. Sealed: the planner knows what each connection is for.
pub trait Reach: sealed::Reach {}

impl Reach for ProbeConfig {}
impl Reach for MailboxConfig {}

pub(crate) mod sealed {
    use super::*;

    /// What the planner reads from a configuration.
    pub trait Reach: Clone + core::fmt::Debug {
        fn target(&self) -> &Target;
        fn address_family(&self) -> AddressFamily;
        fn address_policy(&self) -> &AddressPolicy;
        fn connect_timeout(&self) -> Duration;
    }

    impl Reach for ProbeConfig {
        fn target(&self) -> &Target {
            ProbeConfig::target(self)
        }
        fn address_family(&self) -> AddressFamily {
            ProbeConfig::address_family(self)
        }
        fn address_policy(&self) -> &AddressPolicy {
            ProbeConfig::address_policy(self)
        }
        fn connect_timeout(&self) -> Duration {
            self.timeouts().connect
        }
    }

    impl Reach for MailboxConfig {
        fn target(&self) -> &Target {
            MailboxConfig::target(self)
        }
        fn address_family(&self) -> AddressFamily {
            MailboxConfig::address_family(self)
        }
        fn address_policy(&self) -> &AddressPolicy {
            MailboxConfig::address_policy(self)
        }
        fn connect_timeout(&self) -> Duration {
            self.timeouts().connect
        }
    }
}

/// What the adapter must do next: the result of [`Dialer::poll`].
///
/// The set of variants is closed: a driver handles each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dial {
    /// Resolve the host of [`Dialer::target`], giving up at `deadline`. Hand the addresses (any port: the target's
    /// is used) to [`Dialer::handle_resolved`], a failure to [`Dialer::handle_resolve_failed`]
    /// ([`ResolveFailure::TimedOut`] when the deadline came first). Then poll again.
    Resolve {
        /// The probe's overall deadline.
        deadline: Instant,
    },
    /// Connect to `addr`, giving up at `deadline`. Connected: set `TCP_NODELAY`, call
    /// [`Dialer::handle_connected`], drive a [`Conversation::over`](super::Conversation::over) the connection it
    /// returns, close the socket, and hand the conversation's report to [`Dialer::handle_report`] (a mailbox: drive
    /// a [`MailboxConversation`](super::MailboxConversation) instead; it makes the mailbox report). Not connected:
    /// [`Dialer::handle_connect_failed`]. Then poll again.
    ///
    /// Never asked for once the overall deadline has passed.
    Connect {
        /// Where to connect.
        addr: SocketAddr,
        /// The connect timeout from now, cut to the overall deadline.
        deadline: Instant,
    },
    /// Every report is made: take them with [`Dialer::into_report`] or [`Dialer::into_reports`]. Every later poll
    /// returns `Done` again.
    Done,
}

/// The planner of one probe: resolve (unless the target is an address), apply the address policy and the
/// address-family policy, connect to each group's addresses in turn within the deadlines, and make the reports.
///
/// `Dialer` alone plans a probe ([`Dialer::new`]); `Dialer<MailboxConfig>` plans a round trip's connection to its
/// mailbox ([`Dialer::mailbox`]) by the same rules, and makes the mailbox report when no connection was made.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use smtp_probe_proto::connect::{AddressPolicy, ConnectFailure, Dial, Dialer, Origin, ProbeStart};
/// use smtp_probe_proto::{Cause, ProbeConfig};
///
/// // An MX host whose name resolves to the cloud metadata address and to a host that refuses connections.
/// let config = ProbeConfig::builder("mx.example.com".parse()?)
///     .address_policy(AddressPolicy::new(Origin::Dns))
///     .build()?;
/// let now = Instant::now();
/// let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, SystemTime::now()));
/// assert!(matches!(dialer.poll(now), Dial::Resolve { .. }));
/// dialer.handle_resolved(now, ["169.254.169.254".parse()?, "192.0.2.1".parse()?]);
/// let Dial::Connect { addr, .. } = dialer.poll(now) else { panic!("one address is allowed") };
/// assert_eq!(addr.to_string(), "192.0.2.1:25");
/// dialer.handle_connect_failed(now, ConnectFailure::Io(std::io::ErrorKind::ConnectionRefused.into()));
/// assert_eq!(dialer.poll(now), Dial::Done);
/// let report = dialer.into_report();
/// assert_eq!(report.cause, Some(Cause::ConnectRefused));
/// assert!(report.findings.iter().any(|f| f.message
///     == "address 169.254.169.254 of mx.example.com is denied by the address policy (cloud metadata)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Dialer<C: Reach = ProbeConfig> {
    config: C,
    start: ProbeStart,
    /// At most this many addresses of each group are tried (MX mode).
    address_limit: usize,
    state: State,
    groups: Vec<Group>,
    /// The group being dialed, and its next address.
    group: usize,
    next: usize,
    attempts: Vec<Attempt>,
    group_started: Option<Instant>,
    resolve: Option<Duration>,
    /// Findings for every report: addresses denied or left out.
    notes: Vec<Finding>,
    reports: Vec<Report>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Start,
    Resolving { since: Instant },
    Dialing,
    Connecting { addr: SocketAddr, since: Instant, deadline: Instant },
    Done,
}

/// Addresses tried one after another until one connects; each group yields one report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    /// `"IPv4"` or `"IPv6"` when the family policy probes each family on its own.
    family: Option<&'static str>,
    addrs: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Attempt {
    addr: SocketAddr,
    /// `None`: not tried, the overall deadline had passed.
    failure: Option<ConnectFailure>,
}

/// A connection a [`Dialer`] asked for, established: what a [`Conversation::over`](super::Conversation::over) it needs (small, to be moved to
/// the adapter's pump, where the conversation is made).
#[derive(Debug, Clone)]
pub struct Connection {
    pub(super) config: ProbeConfig,
    pub(super) connected: Instant,
    pub(super) start: ProbeStart,
    pub(super) peer: Option<SocketAddr>,
    pub(super) dialed: Option<Dialed>,
}

/// What a dialed conversation's report gets from the dialer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialed {
    connect: Duration,
    family: Option<&'static str>,
}

impl Dialed {
    /// How long the connect took.
    pub(super) fn connect(self) -> Duration {
        self.connect
    }

    /// Adds the connect time (to the timings measured from the connection, the acceptance of a test message
    /// included), and the family when each family is probed on its own.
    pub(super) fn complete(self, report: &mut Report) {
        report.connect = Some(self.connect);
        report.total = report.total.saturating_add(self.connect);
        report.response_time = report.response_time.saturating_add(self.connect);
        if let Some(accepted) = &mut report.message_accepted {
            *accepted = accepted.saturating_add(self.connect);
        }
        if let Some(family) = self.family {
            let addr = report.address.clone().unwrap_or_default();
            report.findings.push(info(Phase::Connect, format!("{family} probed separately ({addr})")));
        }
    }
}

impl Dialer {
    /// The planner for a probe of `config` that started at `start`.
    pub fn new(config: &ProbeConfig, start: ProbeStart) -> Dialer {
        Dialer::planning(config.clone(), start)
    }

    /// A planner whose probe is already decided: these are its reports.
    pub(crate) fn finished(config: &ProbeConfig, start: ProbeStart, report: Report) -> Dialer {
        let mut dialer = Dialer::new(config, start);
        dialer.state = State::Done;
        dialer.reports.push(report);
        dialer
    }

    /// Tries at most `limit` addresses of each address group (MX mode's per-host limit).
    pub(crate) fn with_address_limit(mut self, limit: usize) -> Dialer {
        self.address_limit = limit.max(1);
        self
    }

    /// The configuration of the probe.
    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// The connection asked for by the last [`Dial::Connect`] is established: returns what a
    /// [`Conversation::over`](super::Conversation::over) it needs; its report goes to [`handle_report`](Self::handle_report).
    pub fn handle_connected(&mut self, now: Instant) -> Connection {
        let (peer, dialed) = self.connected(now);
        Connection { config: self.config.clone(), connected: now, start: self.start, peer, dialed }
    }

    /// The report of the conversation over the last connection, once it asked to close: it joins the others.
    pub fn handle_report(&mut self, _now: Instant, report: Report) {
        self.push_report(report);
    }

    /// The reports, one per address group (never empty).
    pub fn into_reports(self) -> Vec<Report> {
        self.reports()
    }

    /// One report: the only one, or the worst of the per-family reports with the others noted.
    pub fn into_report(self) -> Report {
        let wall = self.start.wall;
        // `into_reports` is never empty: the fallback is never made.
        worst(self.into_reports()).unwrap_or_else(|| Report::empty(String::new(), wall, 0))
    }
}

impl<C: Reach> Dialer<C> {
    /// The planner for a connection to `config`'s target, started at `start`.
    pub(super) fn planning(config: C, start: ProbeStart) -> Dialer<C> {
        Dialer {
            config,
            start,
            address_limit: usize::MAX,
            state: State::Start,
            groups: Vec::new(),
            group: 0,
            next: 0,
            attempts: Vec::new(),
            group_started: None,
            resolve: None,
            notes: Vec::new(),
            reports: Vec::new(),
        }
    }

    /// What is connected to: resolve its host for [`Dial::Resolve`].
    pub fn target(&self) -> &Target {
        self.config.target()
    }

    /// The address-family policy: a resolver that asks for A and AAAA records separately need not ask for a
    /// family the policy leaves out.
    pub fn address_family(&self) -> AddressFamily {
        self.config.address_family()
    }

    /// The next thing to do.
    pub fn poll(&mut self, now: Instant) -> Dial {
        loop {
            match self.state {
                State::Start => match literal_address(self.config.target()) {
                    Some(addr) => self.use_addresses(vec![addr]),
                    None if now >= self.start.deadline => {
                        let why = "no time left to resolve it before the overall deadline";
                        self.push_report(self.dns_failure(why));
                        self.state = State::Done;
                    }
                    None => {
                        self.state = State::Resolving { since: now };
                        return Dial::Resolve { deadline: self.start.deadline };
                    }
                },
                State::Resolving { .. } => return Dial::Resolve { deadline: self.start.deadline },
                State::Connecting { addr, deadline, .. } => return Dial::Connect { addr, deadline },
                State::Dialing => {
                    let Some(group) = self.groups.get(self.group) else {
                        self.state = State::Done;
                        continue;
                    };
                    let Some(&addr) = group.addrs.get(self.next) else {
                        let report = self.connect_failed(now);
                        self.push_report(report);
                        self.next_group();
                        continue;
                    };
                    self.next += 1;
                    if now >= self.start.deadline {
                        self.attempts.push(Attempt { addr, failure: None });
                        continue;
                    }
                    let deadline = crate::config::deadline_after(now, self.config.connect_timeout());
                    let deadline = deadline.min(self.start.deadline);
                    self.group_started.get_or_insert(now);
                    self.state = State::Connecting { addr, since: now, deadline };
                    return Dial::Connect { addr, deadline };
                }
                State::Done => return Dial::Done,
            }
        }
    }

    /// The addresses the name resolved to, in the resolver's order.
    pub fn handle_resolved(&mut self, now: Instant, addrs: impl IntoIterator<Item = IpAddr>) {
        if let State::Resolving { since } = self.state {
            self.resolve = Some(now.saturating_duration_since(since));
            let port = self.config.target().port();
            let mut unique: Vec<SocketAddr> = Vec::new();
            for addr in addrs.into_iter().map(|ip| SocketAddr::new(ip, port)) {
                if !unique.contains(&addr) {
                    unique.push(addr);
                }
            }
            self.use_addresses(unique);
        }
    }

    /// The lookup failed, or its deadline passed.
    pub fn handle_resolve_failed(&mut self, now: Instant, failure: ResolveFailure) {
        let State::Resolving { since } = self.state else { return };
        self.resolve = Some(now.saturating_duration_since(since));
        let host = self.config.target().host();
        let report = match failure {
            ResolveFailure::Io(e) => match local_fault(&e) {
                Some(what) => self.local_error(Phase::Resolve, format!("{what} (resolving {host}: {e})")),
                None => self.dns_failure(&e.to_string()),
            },
            ResolveFailure::Failed(why) => self.dns_failure(&why),
            ResolveFailure::TimedOut => self.dns_failure("no answer before the deadline"),
            ResolveFailure::NoLookupSlot => self.local_error(
                Phase::Resolve,
                format!(
                    "no DNS lookup could start before the deadline: {MAX_LOOKUPS} earlier lookups are still running \
                     (the OS resolver cannot be interrupted; check the resolver configuration)"
                ),
            ),
        };
        self.push_report(report);
        self.state = State::Done;
    }

    /// The connection asked for by the last [`Dial::Connect`] is established: where, and what its report gets
    /// from the planner (nothing when no connect was asked for).
    pub(super) fn connected(&mut self, now: Instant) -> (Option<SocketAddr>, Option<Dialed>) {
        let (peer, dialed) = match self.state {
            State::Connecting { addr, since, .. } => {
                let family = self.groups.get(self.group).and_then(|g| g.family);
                (Some(addr), Some(Dialed { connect: now.saturating_duration_since(since), family }))
            }
            _ => (None, None),
        };
        if dialed.is_some() {
            self.next_group();
        }
        (peer, dialed)
    }

    /// The connection asked for by the last [`Dial::Connect`] could not be established.
    pub fn handle_connect_failed(&mut self, _now: Instant, failure: ConnectFailure) {
        if let State::Connecting { addr, .. } = self.state {
            self.attempts.push(Attempt { addr, failure: Some(failure) });
            self.state = State::Dialing;
        }
    }

    /// The reports, one per address group (never empty).
    pub(super) fn reports(mut self) -> Vec<Report> {
        if self.reports.is_empty() {
            let why = "the probe was abandoned before it finished";
            let report = self.local_error(Phase::Connect, why.to_owned());
            self.push_report(report);
        }
        self.reports
    }

    /// The configuration connected for.
    pub(super) fn reach(&self) -> &C {
        &self.config
    }

    /// When the connection started, and its overall deadline.
    pub(super) fn start(&self) -> ProbeStart {
        self.start
    }

    /// Applies the address policy and the family policy to the addresses found, and plans the groups.
    fn use_addresses(&mut self, addrs: Vec<SocketAddr>) {
        self.state = State::Done;
        let policy = self.config.address_policy();
        let (allowed, denied): (Vec<SocketAddr>, Vec<(SocketAddr, DenialReason)>) = {
            let mut allowed = Vec::with_capacity(addrs.len());
            let mut denied = Vec::new();
            for addr in addrs {
                match policy.check(addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(why) => denied.push((addr, why)),
                }
            }
            (allowed, denied)
        };
        let target = self.config.target();
        let of = if target.ip().is_some() { String::new() } else { format!(" of {}", target.host()) };
        let severity = if allowed.is_empty() { Severity::Critical } else { Severity::Info };
        for (addr, why) in &denied {
            self.notes.push(Finding {
                severity,
                cause: (severity == Severity::Critical).then_some(Cause::AddressDenied),
                phase: Some(Phase::Connect),
                message: format!("address {}{of} is denied by the address policy ({why})", addr.ip()),
                server_text: None,
            });
        }
        if allowed.is_empty() && !denied.is_empty() {
            let report = Report::empty(self.config.target().to_string(), self.start.wall, 0);
            self.push_report(report);
            return;
        }
        self.groups = plan(&allowed, self.config.address_family());
        if self.groups.is_empty() {
            let why = format!("has no address for the policy {:?}", self.config.address_family());
            let report = self.dns_failure_message(format!("{} {why}", target.host()));
            self.push_report(report);
            return;
        }
        for group in &mut self.groups {
            if group.addrs.len() > self.address_limit {
                let family = group.family.map(|f| format!(" {f}")).unwrap_or_default();
                let message = format!(
                    "{} has {}{family} addresses: only the first {} are tried (the limit per host)",
                    target.host(),
                    group.addrs.len(),
                    self.address_limit
                );
                self.notes.push(info(Phase::Connect, message));
                group.addrs.truncate(self.address_limit);
            }
        }
        self.state = State::Dialing;
    }

    fn next_group(&mut self) {
        self.group += 1;
        self.next = 0;
        self.attempts.clear();
        self.group_started = None;
        self.state = State::Dialing;
    }

    /// Adds what only the planner knows to a report, and keeps it.
    fn push_report(&mut self, mut report: Report) {
        if self.reports.capacity() == 0 {
            // As many as there are groups (usually one): a Vec's first growth would make room for four reports.
            self.reports.reserve_exact(self.groups.len().max(1));
        }
        report.resolve = self.resolve;
        for note in &self.notes {
            report.add_finding(note.clone());
        }
        self.reports.push(report);
    }

    fn dns_failure(&self, why: &str) -> Report {
        self.dns_failure_message(format!("{}: {why}", self.config.target().host()))
    }

    fn dns_failure_message(&self, message: String) -> Report {
        let target = self.config.target().to_string();
        Report::without_session(target, self.start.wall, Cause::DnsFailure, Phase::Resolve, message)
    }

    fn local_error(&self, phase: Phase, what: String) -> Report {
        let target = self.config.target().to_string();
        Report::without_session(target, self.start.wall, Cause::LocalError, phase, format!("could not run: {what}"))
    }

    /// The report for a group none of whose addresses connected.
    fn connect_failed(&self, now: Instant) -> Report {
        let elapsed = self.group_started.map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        let tried: Vec<String> = self.attempts.iter().map(describe).collect();
        let local = self.attempts.iter().find_map(|a| match &a.failure {
            Some(ConnectFailure::Io(e)) => local_fault(e),
            _ => None,
        });
        let last = self.attempts.iter().rev().find_map(|a| a.failure.as_ref());
        let (cause, mut message) = match (local, last) {
            (Some(what), _) => (Cause::LocalError, format!("could not run: {what} ({})", tried.join("; "))),
            (None, Some(failure)) => (connect_cause(failure), format!("could not connect ({})", tried.join("; "))),
            (None, None) => {
                (Cause::ConnectTimeout, format!("could not connect before the overall deadline ({})", tried.join("; ")))
            }
        };
        let timed_out_on_25 = self.attempts.iter().any(|a| a.addr.port() == 25 && a.failure.is_some());
        if cause == Cause::ConnectTimeout && timed_out_on_25 {
            message
                .push_str(". A timeout on port 25 often means outbound port 25 is blocked by the network or provider");
        }
        let target = self.config.target().to_string();
        let mut report = Report::without_session(target, self.start.wall, cause, Phase::Connect, message);
        report.address = self.attempts.iter().rev().find(|a| a.failure.is_some()).map(|a| a.addr.to_string());
        report.connect = Some(elapsed);
        report.total = elapsed;
        report.response_time = elapsed;
        report
    }
}

fn info(phase: Phase, message: String) -> Finding {
    Finding { severity: Severity::Info, cause: None, phase: Some(phase), message, server_text: None }
}

fn describe(attempt: &Attempt) -> String {
    match &attempt.failure {
        Some(ConnectFailure::Io(e)) => format!("{}: {e}", attempt.addr),
        Some(ConnectFailure::TimedOut) => format!("{}: no answer in time", attempt.addr),
        None => format!("{}: not tried, the overall deadline had passed", attempt.addr),
    }
}

fn connect_cause(failure: &ConnectFailure) -> Cause {
    match failure {
        ConnectFailure::TimedOut => Cause::ConnectTimeout,
        ConnectFailure::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Cause::ConnectRefused,
            std::io::ErrorKind::TimedOut => Cause::ConnectTimeout,
            std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::AddrNotAvailable => Cause::NetworkUnreachable,
            _ => Cause::ConnectRefused,
        },
    }
}

/// Orders addresses by the address-family policy. Empty: no address of the wanted family.
fn plan(addrs: &[SocketAddr], family: AddressFamily) -> Vec<Group> {
    let v4: Vec<SocketAddr> = addrs.iter().copied().filter(SocketAddr::is_ipv4).collect();
    let v6: Vec<SocketAddr> = addrs.iter().copied().filter(SocketAddr::is_ipv6).collect();
    let one = |addrs: Vec<SocketAddr>| if addrs.is_empty() { vec![] } else { vec![Group { family: None, addrs }] };
    match family {
        AddressFamily::Ipv4Only => one(v4),
        AddressFamily::Ipv6Only => one(v6),
        AddressFamily::PreferIpv4 => one(v4.into_iter().chain(v6).collect()),
        AddressFamily::PreferIpv6 => one(v6.into_iter().chain(v4).collect()),
        AddressFamily::Both => [("IPv4", v4), ("IPv6", v6)]
            .into_iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(f, addrs)| Group { family: Some(f), addrs })
            .collect(),
        _ => one(addrs.to_vec()),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the address-limit test reads the clock for an instant to start from
mod tests {
    use std::io;

    use super::*;
    use crate::config::TlsMode;
    use crate::connect::AddressPolicy;

    fn make(target: &str, family: AddressFamily, policy: AddressPolicy) -> ProbeConfig {
        ProbeConfig::builder(target.parse().unwrap())
            .tls(TlsMode::None)
            .address_family(family)
            .address_policy(policy)
            .build()
            .unwrap()
    }

    fn errno(kind: io::ErrorKind) -> ConnectFailure {
        ConnectFailure::Io(io::Error::from(kind))
    }

    #[test]
    fn the_address_limit_caps_attempts_and_says_so() {
        let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::default());
        let now = Instant::now();
        let mut dialer =
            Dialer::new(&config, ProbeStart::new(&config, now, crate::testing::wall_start())).with_address_limit(3);
        dialer.poll(now);
        let many: Vec<String> = (1..=8).map(|i| format!("192.0.2.{i}")).collect();
        dialer.handle_resolved(now, many.iter().map(|a| a.parse::<IpAddr>().unwrap()));
        let mut tried = 0;
        while let Dial::Connect { .. } = dialer.poll(now) {
            tried += 1;
            dialer.handle_connect_failed(now, errno(io::ErrorKind::ConnectionRefused));
        }
        assert_eq!(tried, 3);
        let report = dialer.into_report();
        assert_eq!(report.cause, Some(Cause::ConnectRefused));
        assert!(report.findings.iter().any(|f| f.message
            == "mx.example.com has 8 addresses: only the first 3 are tried (the limit per host)"));
    }

    #[test]
    fn family_plans() {
        let addrs: Vec<SocketAddr> =
            ["[::1]:25", "127.0.0.1:25", "127.0.0.2:25"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(plan(&addrs, AddressFamily::Any)[0].addrs, addrs);
        assert_eq!(plan(&addrs, AddressFamily::Ipv4Only)[0].addrs.len(), 2);
        assert_eq!(plan(&addrs, AddressFamily::PreferIpv4)[0].addrs[2], addrs[0]);
        assert_eq!(plan(&addrs, AddressFamily::PreferIpv6)[0].addrs[0], addrs[0]);
        let both = plan(&addrs, AddressFamily::Both);
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].family, Some("IPv6"));
        assert!(plan(&addrs[1..], AddressFamily::Ipv6Only).is_empty());
    }
}
