//! The adapters' shared conformance suite: scenarios, the outcome each must have, and a
//! normalizer that makes reports from different adapters comparable, timings aside.
//!
//! A [`Scenario`] says how to start the server (a [`Responder`] or a [`Script`], with certificates from a fresh
//! [`TestPki`]), how to build the [`ProbeConfig`] from the server's address and the test CA, and what the
//! probe must conclude ([`Expected`]: verdict, cause, text the findings must contain). Every adapter crate runs
//! each scenario through its own `probe` with [`conformance_tests!`](crate::conformance_tests), and one
//! cross-adapter test ([`every_adapter`]) checks that all adapters produce the same [`normalize`]d report.
//!
//! The isolated scenarios run in a child process with a network of its own ([`crate::isolated`]): a DNS server
//! the OS resolver asks, addresses that time out or that a local policy refuses, a descriptor limit to run into.
//!
//! ```
//! use smtp_probe_testsuite::conformance;
//!
//! let scenario = conformance::scenario("plain_up");
//! let prepared = scenario.prepare().expect("local scenarios always run");
//! assert_eq!(prepared.config.target().host(), "127.0.0.1");
//! // An adapter probes with `prepared.config`; `Scenario::run` does both and checks the report against
//! // `scenario.expected`.
//! assert_eq!(scenario.expected.verdict, smtp_probe_proto::Verdict::Up);
//! ```
//!
//! # Deadlines
//!
//! The three deadline scenarios (`silent_server`, `dripping_greeting`, `implicit_tls_port_in_starttls_mode`)
//! configure an overall deadline of [`DEADLINE`] (1.5 s) and check the probe's wall-clock duration: at least
//! the deadline (a probe must not give up early) and at most the deadline plus [`SLACK`] (250 ms: timer
//! granularity, scheduling on a loaded CI machine, closing the socket).
//!
//! # Scenarios
//!
//! | name | server | expected |
//! | --- | --- | --- |
//! | `plain_up` | responder, no TLS | up |
//! | `starttls_up` | responder, valid certificate, STARTTLS required | up, verified |
//! | `implicit_tls_up` | responder, implicit TLS | up, verified |
//! | `auth_up` | AUTH PLAIN with the right password | up, AUTH step 235 |
//! | `auth_failed` | AUTH with a wrong password | down, `auth_failed`, `535 5.7.8` |
//! | `recipient_unknown` | RCPT to an unknown local user | down, `recipient_rejected`, `550 5.1.1` |
//! | `relay_denied` | RCPT to another domain | down, `recipient_rejected`, `554 5.7.1` |
//! | `rcpt_greylisted` | RCPT answered 450 | degraded, `temporary_failure` |
//! | `greeting_421` | greeting `421` | degraded, `temporary_failure` |
//! | `garbage_greeting` | an SSH banner | down, `not_smtp` |
//! | `helo_only_up` | EHLO answered 502, HELO 250 | up |
//! | `reset_after_greeting` | greets, reads EHLO, resets | down, `connection_closed` |
//! | `{starttls,implicit}_cert_expired` | expired certificate | down, `certificate_invalid`, subject |
//! | `{starttls,implicit}_cert_wrong_name` | certificate for `wrong.test` | down, `certificate_invalid`, subject |
//! | `{starttls,implicit}_cert_untrusted` | issued by an untrusted CA | down, `certificate_invalid`, subject |
//! | `{starttls,implicit}_cert_expiring` | 5½ days left, warning under 14 | degraded, `certificate_expiring`, days |
//! | `opportunistic_cert_untrusted_up` | untrusted CA, no TLS asked for | up, the certificate reported (info) |
//! | `auth_cert_untrusted_withheld` | untrusted CA, credentials given | down, `certificate_invalid`, no AUTH sent |
//! | `auth_cert_untrusted_inspect_only` | the same, with the inspect-only override | degraded, AUTH 235, the override named |
//! | `connect_refused` | a port bound, then released | down, `connect_refused` |
//! | `silent_server` | accepts, never speaks | down, `greeting_timeout`, on time |
//! | `dripping_greeting` | the greeting at one byte a second | down, `greeting_timeout`, on time |
//! | `implicit_tls_port_in_starttls_mode` | implicit-TLS server, probed with STARTTLS | down, `greeting_timeout`, on time |
//! | `denied_address_from_dns` | `localhost` as a name from DNS (an MX host's origin) | down, `address_denied`, not contacted |
//! | `denied_address_from_request` | `127.0.0.1` from a request (an exporter's origin) | down, `address_denied`, not contacted |
//! | `typed_loopback_name_allowed` | `localhost` typed by the user | up |
//!
//! Isolated (a child process in a network namespace of its own):
//!
//! | name | situation | expected |
//! | --- | --- | --- |
//! | `no_connect_after_the_deadline` | both families: IPv4 times out at the deadline, IPv6 (`::1`) listens | down, `connect_timeout`, on time, `::1` not contacted |
//! | `local_firewall_is_a_local_error` | a `prohibit` route refuses the connection (`EACCES`) | down, `local_error` |
//! | `out_of_file_descriptors_is_a_local_error` | no descriptor left (`EMFILE`) | down, `local_error`, not contacted |
//! | `slow_dns_lookups_are_bounded` | a resolver that never answers; 40 probes at once, then 8 more | down, `local_error`; threads bounded |

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use smtp_probe_proto::{
    AddressFamily, AddressPolicy, Capabilities, Cause, CertificateProblem, Finding, Origin, Phase, ProbeConfig,
    ProbeConfigBuilder, Report, Secret, Target, TlsConfig, TlsMode, Verdict,
};
use smtp_probe_testserver::certs::{CertSpec, IssuedBy, TestPki, Validity};
use smtp_probe_testserver::{Error, Responder, Script, TestServer};

use crate::isolated::{self, Isolated};
use crate::postfix::PostfixEnv;

/// The overall deadline of the deadline scenarios.
pub const DEADLINE: Duration = Duration::from_millis(1500);

/// How far past [`DEADLINE`] a deadline scenario may finish.
pub const SLACK: Duration = Duration::from_millis(250);

/// The overall deadline of every other scenario: generous, so that a broken adapter fails instead of hanging.
pub const GENEROUS: Duration = Duration::from_secs(10);

/// The user and password the AUTH scenarios' responder knows.
pub const USER: (&str, &str) = ("probe", "probe-secret");

/// A server for a scenario.
#[derive(Debug)]
#[non_exhaustive]
pub enum Server {
    /// A running test server.
    Running(TestServer),
    /// Nothing listens here: the port was bound, then released.
    Refusing(SocketAddr),
}

impl Server {
    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Running(server) => server.addr(),
            Server::Refusing(addr) => *addr,
        }
    }
}

/// What a probe must conclude in a scenario.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The verdict.
    pub verdict: Verdict,
    /// The primary cause.
    pub cause: Option<Cause>,
    /// Texts that must each appear in some finding (message or server text).
    pub findings: Vec<&'static str>,
    /// For deadline scenarios: the probe must take at least this long, and at most this plus [`SLACK`].
    pub deadline: Option<Duration>,
    /// More assertions on the report.
    pub check: Option<fn(&Report)>,
    /// The server must have seen no connection.
    pub untouched: bool,
}

impl Expected {
    /// This verdict and cause, nothing else checked.
    pub fn new(verdict: Verdict, cause: Option<Cause>) -> Expected {
        Expected { verdict, cause, findings: Vec::new(), deadline: None, check: None, untouched: false }
    }

    /// Also require this text in some finding.
    pub fn finding(mut self, text: &'static str) -> Expected {
        self.findings.push(text);
        self
    }

    /// Also require the probe to end on time: at [`DEADLINE`], within [`SLACK`].
    pub fn on_time(mut self) -> Expected {
        self.deadline = Some(DEADLINE);
        self
    }

    /// Also require that the server saw no connection.
    pub fn untouched(mut self) -> Expected {
        self.untouched = true;
        self
    }

    /// Also run these assertions on the report.
    pub fn with_check(mut self, check: fn(&Report)) -> Expected {
        self.check = Some(check);
        self
    }

    /// Panics, showing the report, unless `outcome` is what was expected.
    pub fn assert(&self, scenario: &str, outcome: &Outcome) {
        let report = &outcome.report;
        let shown = || format!("scenario {scenario}: {}\nfindings: {:#?}", report.summary(), report.findings);
        assert_eq!((report.verdict, report.cause), (self.verdict, self.cause), "{}", shown());
        for text in &self.findings {
            let found = report
                .findings
                .iter()
                .any(|f| f.message.contains(text) || f.server_text.as_deref().is_some_and(|t| t.contains(text)));
            assert!(found, "no finding mentions {text:?}; {}", shown());
        }
        if let Some(deadline) = self.deadline {
            let elapsed = outcome.elapsed;
            assert!(
                elapsed >= deadline,
                "scenario {scenario}: finished in {elapsed:?}, before the {deadline:?} deadline"
            );
            assert!(
                elapsed <= deadline + SLACK,
                "scenario {scenario}: finished in {elapsed:?}, more than {SLACK:?} past the {deadline:?} deadline"
            );
        }
        if self.untouched {
            assert_eq!(outcome.connections, Some(0), "scenario {scenario}: the server was contacted; {}", shown());
        }
        if let Some(check) = self.check {
            check(report);
        }
    }
}

type LocalServer = fn(&TestPki) -> Result<Server, Error>;
type LocalConfig = fn(SocketAddr, &str) -> ProbeConfig;
type PostfixCase = fn(&PostfixEnv) -> ProbeConfig;
type IsolatedCase = fn(&Isolated, &Probe<'_>) -> Outcome;

/// An adapter's `probe`, made synchronous.
pub type Probe<'a> = dyn Fn(&ProbeConfig) -> Report + Sync + 'a;

#[derive(Clone, Copy)]
enum Setup {
    Local { server: LocalServer, config: LocalConfig },
    Postfix(PostfixCase),
    Isolated(IsolatedCase),
}

/// One situation every adapter must handle the same way.
#[derive(Clone)]
pub struct Scenario {
    /// A unique `snake_case` name (also the name of the generated test).
    pub name: &'static str,
    /// What happens, for people.
    pub description: &'static str,
    /// What the probe must conclude.
    pub expected: Expected,
    setup: Setup,
    /// The libtest name of the test running it, which an isolated scenario runs again in its child.
    test: Option<String>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario").field("name", &self.name).field("expected", &self.expected).finish_non_exhaustive()
    }
}

/// A scenario ready to probe: its server is running (and stops when this is dropped).
#[derive(Debug)]
pub struct Prepared {
    /// What and how to probe.
    pub config: ProbeConfig,
    /// The server, when the scenario runs one.
    pub server: Option<Server>,
}

/// A probe's report, how long the probe took (wall clock, around the adapter's call), and how many connections the
/// scenario's server saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// How long the adapter's `probe` took.
    pub elapsed: Duration,
    /// Connections the scenario's server accepted (`None`: no server of its own).
    pub connections: Option<usize>,
}

impl Outcome {
    /// Runs `probe` on `config`, timing it; `server`'s connections are counted after it.
    pub fn of(probe: &Probe<'_>, config: &ProbeConfig, server: Option<&TestServer>) -> Outcome {
        let started = Instant::now();
        let report = probe(config);
        Outcome { report, elapsed: started.elapsed(), connections: server.map(TestServer::connections) }
    }
}

impl Prepared {
    /// Runs one probe, timing it.
    pub fn probe(&self, probe: impl Fn(&ProbeConfig) -> Report + Sync) -> Outcome {
        let server = match &self.server {
            Some(Server::Running(server)) => Some(server),
            _ => None,
        };
        Outcome::of(&probe, &self.config, server)
    }
}

impl Scenario {
    fn local(
        name: &'static str,
        description: &'static str,
        expected: Expected,
        server: LocalServer,
        config: LocalConfig,
    ) -> Scenario {
        Scenario { name, description, expected, setup: Setup::Local { server, config }, test: None }
    }

    fn isolated(name: &'static str, description: &'static str, expected: Expected, case: IsolatedCase) -> Scenario {
        Scenario { name, description, expected, setup: Setup::Isolated(case), test: None }
    }

    /// The scenario as run by the test `function` of module `module_path` (`module_path!()`): an isolated scenario
    /// runs that test again in its child.
    pub fn in_test(mut self, module_path: &str, function: &str) -> Scenario {
        // libtest names a test by its path without the crate.
        let path = module_path.split_once("::").map_or(String::new(), |(_, rest)| format!("{rest}::"));
        self.test = Some(format!("{path}{function}"));
        self
    }

    /// Whether the scenario runs in a child process with a network of its own ([`crate::isolated`]).
    pub fn is_isolated(&self) -> bool {
        matches!(self.setup, Setup::Isolated(_))
    }

    pub(crate) fn postfix(
        name: &'static str,
        description: &'static str,
        expected: Expected,
        case: PostfixCase,
    ) -> Scenario {
        Scenario { name, description, expected, setup: Setup::Postfix(case), test: None }
    }

    /// Starts the server and builds the configuration. `None` for the Postfix cases when there is no loopback
    /// Postfix (the skip line is printed then), and for the isolated scenarios, which prepare in their child.
    pub fn prepare(&self) -> Option<Prepared> {
        match self.setup {
            Setup::Local { server, config } => {
                let pki = TestPki::new().expect("test PKI");
                let server = server(&pki).expect("the scenario's server starts");
                Some(Prepared { config: config(server.addr(), pki.ca_pem()), server: Some(server) })
            }
            Setup::Postfix(case) => {
                let env = crate::postfix::env_or_skip(self.name)?;
                Some(Prepared { config: case(&env), server: None })
            }
            Setup::Isolated(_) => None,
        }
    }

    /// Prepares, probes with `probe` (an adapter's `probe`, made synchronous) and asserts the expected outcome.
    /// `None` when a Postfix case is skipped, and in the parent of an isolated scenario (which runs the test again
    /// in its child, and fails when the child does).
    pub fn run(&self, probe: impl Fn(&ProbeConfig) -> Report + Sync) -> Option<Outcome> {
        if let Setup::Isolated(case) = self.setup {
            return self.in_child(|isolated| {
                let outcome = case(isolated, &probe);
                self.expected.assert(self.name, &outcome);
                outcome
            });
        }
        let prepared = self.prepare()?;
        let outcome = prepared.probe(probe);
        self.expected.assert(self.name, &outcome);
        Some(outcome)
    }

    /// In the child of an isolated scenario: `run`'s result. In the parent: runs the test again in the child.
    fn in_child<T>(&self, run: impl FnOnce(&Isolated) -> T) -> Option<T> {
        if isolated::is_child(self.name) {
            return Some(run(&Isolated::start()));
        }
        let test = self.test.as_deref().expect("an isolated scenario is run from the test macros (`in_test`)");
        isolated::run_in_child(test, self.name);
        None
    }
}

/// Runs `scenario` through every adapter: each must meet the scenario's expectations (deadlines included), and all
/// must give the same normalized report. Local and Postfix scenarios probe one server with all adapters at once;
/// isolated ones run the adapters one after the other in their child.
pub fn every_adapter(scenario: &Scenario, adapters: &[(&str, &Probe<'_>)]) {
    let outcomes: Vec<(&str, Outcome)> = match scenario.setup {
        Setup::Isolated(case) => {
            let run =
                |isolated: &Isolated| adapters.iter().map(|&(name, probe)| (name, case(isolated, probe))).collect();
            let Some(outcomes) = scenario.in_child(run) else { return };
            outcomes
        }
        _ => {
            let Some(prepared) = scenario.prepare() else { return };
            std::thread::scope(|s| {
                let running: Vec<_> = adapters
                    .iter()
                    .map(|&(name, probe)| {
                        let prepared = &prepared;
                        s.spawn(move || (name, prepared.probe(probe)))
                    })
                    .collect();
                running.into_iter().map(|t| t.join().expect("the adapter's probe panicked")).collect()
            })
        }
    };
    for (name, outcome) in &outcomes {
        scenario.expected.assert(&format!("{} via {name}", scenario.name), outcome);
    }
    let reports: Vec<(&str, &Report)> = outcomes.iter().map(|(name, o)| (*name, &o.report)).collect();
    assert_same(scenario.name, &reports);
}

/// Runs `future` to completion on this thread's current-thread tokio runtime (IO and timers on), made at its first
/// use: how the tokio adapter's tests, and the cross-adapter tests, call its `probe` from a synchronous
/// [`Scenario::run`]. Each test runs on a thread of its own, so each gets a runtime of its own; and a runtime made
/// before a scenario takes every file descriptor is still there for the probe.
pub fn on_tokio<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Every local scenario, in the order of the module docs.
pub fn all() -> Vec<Scenario> {
    use Cause::*;
    use Verdict::*;
    let up = || Expected::new(Up, None);
    let mut list = vec![
        Scenario::local(
            "plain_up",
            "plain SMTP, no TLS",
            up(),
            |_| responder(Responder::new()),
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
        Scenario::local(
            "starttls_up",
            "STARTTLS with a valid certificate",
            up().with_check(checks::verified),
            |pki| responder(Responder::new().cert(&pki.default_cert()?)),
            |a, ca| config(a, ca, TlsMode::StartTlsRequired).build().expect("config"),
        ),
        Scenario::local(
            "implicit_tls_up",
            "implicit TLS with a valid certificate",
            up().with_check(checks::verified),
            |pki| responder(Responder::new().cert(&pki.default_cert()?).implicit_tls(true)),
            |a, ca| config(a, ca, TlsMode::Implicit).build().expect("config"),
        ),
        Scenario::local(
            "auth_up",
            "AUTH inside STARTTLS with the right password",
            up().with_check(checks::auth_235),
            auth_server,
            |a, ca| auth_config(a, ca, USER.1),
        ),
        Scenario::local(
            "auth_failed",
            "AUTH inside STARTTLS with a wrong password",
            Expected::new(Down, Some(AuthFailed)).finding("535 5.7.8"),
            auth_server,
            |a, ca| auth_config(a, ca, "wrong-password"),
        ),
        Scenario::local(
            "recipient_unknown",
            "RCPT to a local user that does not exist",
            Expected::new(Down, Some(RecipientRejected)).finding("550 5.1.1"),
            |_| responder(Responder::new()),
            |a, ca| envelope(a, ca, "nosuchuser@mx.test"),
        ),
        Scenario::local(
            "relay_denied",
            "RCPT to another domain without AUTH",
            Expected::new(Down, Some(RecipientRejected)).finding("554 5.7.1"),
            |_| responder(Responder::new()),
            |a, ca| envelope(a, ca, "someone@example.net"),
        ),
        Scenario::local(
            "rcpt_greylisted",
            "RCPT answered 450 (greylisting)",
            Expected::new(Degraded, Some(TemporaryFailure)).finding("450 4.7.1"),
            |_| responder(Responder::new().greylist(true)),
            |a, ca| envelope(a, ca, "postmaster@mx.test"),
        ),
        Scenario::local(
            "greeting_421",
            "the greeting is 421: service not available",
            Expected::new(Degraded, Some(TemporaryFailure)).finding("421 4.3.2"),
            |_| responder(Responder::new().greeting("421 4.3.2 mx.test Service shutting down")),
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
        Scenario::local(
            "garbage_greeting",
            "the peer is an SSH server",
            Expected::new(Down, Some(NotSmtp)),
            |_| script(Script::new().send("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").hang()),
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
        Scenario::local(
            "helo_only_up",
            "EHLO is not recognised; HELO works",
            up().with_check(checks::used_helo),
            |_| responder(Responder::new().helo_only(true)),
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
        Scenario::local(
            "reset_after_greeting",
            "the server greets, reads EHLO and resets the connection",
            Expected::new(Down, Some(ConnectionClosed)),
            |_| script(Script::new().reply("220 mx.test ESMTP").expect("EHLO").reset()),
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
    ];
    list.extend(certificate_scenarios());
    list.extend(trust_scenarios());
    list.extend([
        Scenario::local(
            "connect_refused",
            "nothing listens on the port",
            Expected::new(Down, Some(ConnectRefused)),
            |_| {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
                Ok(Server::Refusing(listener.local_addr()?))
            },
            |a, ca| config(a, ca, TlsMode::None).build().expect("config"),
        ),
        Scenario::local(
            "silent_server",
            "the server accepts and never says a word",
            Expected::new(Down, Some(GreetingTimeout)).on_time(),
            |_| script(Script::new().hang()),
            |a, ca| deadline_config(a, ca, TlsMode::None),
        ),
        Scenario::local(
            "dripping_greeting",
            "the greeting comes one byte a second",
            Expected::new(Down, Some(GreetingTimeout)).on_time(),
            |_| script(Script::new().drip("220 mx.test ESMTP slowly\r\n", Duration::from_secs(1)).hang()),
            |a, ca| deadline_config(a, ca, TlsMode::None),
        ),
        Scenario::local(
            "implicit_tls_port_in_starttls_mode",
            "an implicit-TLS port probed in STARTTLS mode: each side waits for the other",
            Expected::new(Down, Some(GreetingTimeout)).on_time(),
            |pki| responder(Responder::new().cert(&pki.default_cert()?).implicit_tls(true)),
            |a, ca| deadline_config(a, ca, TlsMode::StartTlsRequired),
        ),
        Scenario::local(
            "denied_address_from_dns",
            "localhost as a name from DNS, as MX hosts are: loopback is denied",
            Expected::new(Down, Some(AddressDenied))
                .finding("address 127.0.0.1 of localhost is denied by the address policy (loopback)")
                .untouched(),
            |_| responder(Responder::new()),
            |a, ca| localhost(a, ca, AddressPolicy::new(Origin::Dns)),
        ),
        Scenario::local(
            "denied_address_from_request",
            "127.0.0.1 from a request, as an exporter's targets are: loopback is denied",
            Expected::new(Down, Some(AddressDenied))
                .finding("address 127.0.0.1 is denied by the address policy (loopback)")
                .untouched(),
            |_| responder(Responder::new()),
            |a, ca| {
                config(a, ca, TlsMode::None)
                    .address_policy(AddressPolicy::new(Origin::Request))
                    .build()
                    .expect("config")
            },
        ),
        Scenario::local(
            "typed_loopback_name_allowed",
            "localhost typed by the user: anything goes",
            up(),
            |_| responder(Responder::new()),
            |a, ca| localhost(a, ca, AddressPolicy::default()),
        ),
    ]);
    list.extend(isolated_scenarios());
    list
}

/// `localhost` on the server's port (IPv4, as the servers listen), with this address policy.
fn localhost(addr: SocketAddr, ca_pem: &str, policy: AddressPolicy) -> ProbeConfig {
    ProbeConfig::builder(Target::new("localhost", addr.port()).expect("a valid target"))
        .tls(TlsMode::None)
        .tls_config(trusting(ca_pem))
        .ehlo_name("probe.smtp-probe.test")
        .overall_timeout(GENEROUS)
        .address_family(AddressFamily::Ipv4Only)
        .address_policy(policy)
        .build()
        .expect("config")
}

fn isolated_scenarios() -> Vec<Scenario> {
    use Cause::*;
    use Verdict::*;
    vec![
        Scenario::isolated(
            "no_connect_after_the_deadline",
            "both families: the IPv4 connect times out at the deadline, so IPv6 (::1, listening) is not tried",
            Expected::new(Down, Some(ConnectTimeout)).on_time().untouched(),
            cases::no_connect_after_the_deadline,
        ),
        Scenario::isolated(
            "local_firewall_is_a_local_error",
            "a prohibit route refuses the connection (EACCES): the probe could not run",
            Expected::new(Down, Some(LocalError)).finding("a local firewall or security policy refused the connection"),
            cases::local_firewall,
        ),
        Scenario::isolated(
            "out_of_file_descriptors_is_a_local_error",
            "no file descriptor left (EMFILE): the probe could not run",
            Expected::new(Down, Some(LocalError)).finding("out of file descriptors").untouched(),
            cases::out_of_file_descriptors,
        ),
        Scenario::isolated(
            "slow_dns_lookups_are_bounded",
            "a resolver that never answers: lookup threads stay bounded, probes past the bound report local_error",
            Expected::new(Down, Some(LocalError)).finding("earlier lookups are still running"),
            cases::slow_dns_lookups,
        ),
    ]
}

/// The isolated scenarios' bodies, run in their child.
mod cases {
    use super::*;
    use crate::isolated::{BLACKHOLE, PROHIBITED, exhaust_file_descriptors, names, threads};
    use Cause::*;
    use smtp_probe_proto::connect::MAX_LOOKUPS;

    fn plain(target: Target) -> ProbeConfigBuilder {
        ProbeConfig::builder(target).tls(TlsMode::None).ehlo_name("probe.smtp-probe.test").overall_timeout(GENEROUS)
    }

    pub(super) fn no_connect_after_the_deadline(isolated: &Isolated, probe: &Probe<'_>) -> Outcome {
        let server = &isolated.v6;
        let config = plain(Target::new(names::SPLIT, server.port()).expect("a valid target"))
            .address_family(AddressFamily::Both)
            .connect_timeout(GENEROUS)
            .overall_timeout(DEADLINE)
            .build()
            .expect("config");
        let outcome = Outcome::of(probe, &config, Some(server));
        let v4 = format!("{BLACKHOLE}:{}", server.port());
        assert_eq!(outcome.report.address.as_deref(), Some(v4.as_str()), "{:#?}", outcome.report.findings);
        outcome
    }

    pub(super) fn local_firewall(_: &Isolated, probe: &Probe<'_>) -> Outcome {
        let config = plain(Target::new(PROHIBITED.to_string(), 25).expect("a valid target")).build().expect("config");
        Outcome::of(probe, &config, None)
    }

    pub(super) fn out_of_file_descriptors(isolated: &Isolated, probe: &Probe<'_>) -> Outcome {
        let server = &isolated.v4;
        let config = plain(Target::new("127.0.0.1", server.port()).expect("a valid target")).build().expect("config");
        // Whatever the adapter sets up once (a runtime, a reactor) is set up before the descriptors run out.
        let refused = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port");
        let warm_up = plain(Target::new("127.0.0.1", refused.port()).expect("a valid target")).build().expect("config");
        assert_eq!(probe(&warm_up).cause, Some(ConnectRefused));
        let files = exhaust_file_descriptors();
        let outcome = Outcome::of(probe, &config, Some(server));
        drop(files);
        outcome
    }

    pub(super) fn slow_dns_lookups(_: &Isolated, probe: &Probe<'_>) -> Outcome {
        const DEADLINE: Duration = Duration::from_millis(500);
        let config = plain(Target::new(names::SLOW, 25).expect("a valid target"))
            .overall_timeout(DEADLINE)
            .build()
            .expect("config");
        let refused = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port");
        let warm_up = plain(Target::new("127.0.0.1", refused.port()).expect("a valid target")).build().expect("config");
        probe(&warm_up);
        let before = threads();
        let round = |probes: usize| -> Vec<Outcome> {
            std::thread::scope(|s| {
                let running: Vec<_> = (0..probes).map(|_| s.spawn(|| Outcome::of(probe, &config, None))).collect();
                running.into_iter().map(|t| t.join().expect("a probe panicked")).collect()
            })
        };
        let count =
            |outcomes: &[Outcome], cause: Cause| outcomes.iter().filter(|o| o.report.cause == Some(cause)).count();
        // More probes than lookup slots, all at once: each slot's lookup hangs past its probe's deadline, the probes
        // that found no slot wait for one until theirs. (Fewer than MAX_LOOKUPS get a slot when lookups abandoned by
        // an earlier run that shares the bound still hold some: smol and async-std share the futures adapter's.)
        let first = round(MAX_LOOKUPS + 8);
        let (timed_out, no_slot) = (count(&first, DnsFailure), count(&first, LocalError));
        assert!(
            timed_out <= MAX_LOOKUPS && no_slot >= 8 && timed_out + no_slot == first.len(),
            "{timed_out} {no_slot}"
        );
        for outcome in &first {
            assert!(outcome.elapsed >= DEADLINE && outcome.elapsed <= DEADLINE + SLACK, "{:?}", outcome.elapsed);
        }
        let bound = before + MAX_LOOKUPS + 4;
        assert!(threads() <= bound, "{} threads after the first round (at most {bound})", threads());
        // The abandoned lookups still hold every slot: no new lookup thread, and every probe says why it cannot run.
        let second = round(8);
        assert_eq!(count(&second, LocalError), 8);
        assert!(threads() <= bound, "{} threads after the second round (at most {bound})", threads());
        second.into_iter().next().expect("eight outcomes")
    }
}

/// The scenario called `name`, among the local ones and the Postfix cases.
///
/// # Panics
/// When there is no such scenario.
pub fn scenario(name: &str) -> Scenario {
    all()
        .into_iter()
        .chain(crate::postfix::cases())
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no conformance scenario called {name:?}"))
}

/// The names of [`all`] the local scenarios.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name).collect()
}

fn certificate_scenarios() -> Vec<Scenario> {
    use Cause::*;
    use Verdict::*;
    // (name, description, expected, certificate) × (STARTTLS, implicit TLS)
    macro_rules! both {
        ($name:literal, $description:literal, $expected:expr, $spec:expr, $config:expr) => {
            [
                Scenario::local(
                    concat!("starttls_", $name),
                    concat!("STARTTLS, ", $description),
                    $expected,
                    |pki| responder(Responder::new().cert(&pki.issue($spec)?)),
                    |a, ca| $config(config(a, ca, TlsMode::StartTlsRequired)).build().expect("config"),
                ),
                Scenario::local(
                    concat!("implicit_", $name),
                    concat!("implicit TLS, ", $description),
                    $expected,
                    |pki| responder(Responder::new().cert(&pki.issue($spec)?).implicit_tls(true)),
                    |a, ca| $config(config(a, ca, TlsMode::Implicit)).build().expect("config"),
                ),
            ]
        };
    }
    let invalid = |problem| Expected::new(Down, Some(CertificateInvalid)).with_check(problem);
    [
        both!(
            "cert_expired",
            "the certificate expired 3 days ago",
            invalid(checks::expired).finding("CN=mx.test").finding("expired 3 days ago"),
            CertSpec::default().validity(Validity::Expired { days_ago: 3 }),
            |c: ProbeConfigBuilder| c
        ),
        both!(
            "cert_wrong_name",
            "the certificate is for wrong.test",
            invalid(checks::name_mismatch).finding("CN=wrong.test").finding("not valid for mx.test"),
            CertSpec::default().names(["wrong.test"]),
            |c: ProbeConfigBuilder| c
        ),
        both!(
            "cert_untrusted",
            "the certificate is issued by an untrusted CA",
            invalid(checks::unknown_issuer).finding("CN=mx.test").finding("untrusted authority"),
            CertSpec::default().issued_by(IssuedBy::UntrustedCa),
            |c: ProbeConfigBuilder| c
        ),
        both!(
            "cert_expiring",
            "the certificate expires in 5½ days; the warning threshold is 14",
            Expected::new(Degraded, Some(CertificateExpiring)).finding("CN=mx.test").finding("expires in 5 days"),
            CertSpec::default().validity(expires_in_five_and_a_half_days()),
            |c: ProbeConfigBuilder| c.certificate_days(Some(14), None)
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Opportunistic STARTTLS raises no alarm by itself, and credentials go only over TLS whose certificate verified.
fn trust_scenarios() -> Vec<Scenario> {
    use Cause::*;
    use Verdict::*;
    vec![
        Scenario::local(
            "opportunistic_cert_untrusted_up",
            "STARTTLS offered with a certificate from an untrusted CA, no TLS asked for",
            Expected::new(Up, None).finding("untrusted authority").with_check(checks::reported_not_counted),
            |pki| responder(Responder::new().cert(&pki.issue(CertSpec::default().issued_by(IssuedBy::UntrustedCa))?)),
            |a, ca| config(a, ca, TlsMode::StartTlsOpportunistic).build().expect("config"),
        ),
        Scenario::local(
            "auth_cert_untrusted_withheld",
            "credentials given, the certificate from an untrusted CA: AUTH is never sent",
            Expected::new(Down, Some(CertificateInvalid))
                .finding("credentials withheld: certificate CN=mx.test is issued by an untrusted authority")
                .with_check(checks::no_auth_sent),
            untrusted_auth_server,
            |a, ca| {
                config(a, ca, TlsMode::StartTlsOpportunistic).auth(USER.0, Secret::new(USER.1)).build().expect("config")
            },
        ),
        Scenario::local(
            "auth_cert_untrusted_inspect_only",
            "the same with the inspect-only override: AUTH is sent, and the finding says why",
            Expected::new(Degraded, Some(CertificateInvalid))
                .finding("the inspect-only override allows it")
                .with_check(checks::auth_235_unverified),
            untrusted_auth_server,
            |a, ca| {
                let trust = TlsConfig::builder()
                    .webpki_roots(false)
                    .add_ca_pem("the test CA", ca.as_bytes())
                    .and_then(|b| b.inspect_only(true).build())
                    .expect("the test CA is a valid trust anchor");
                config(a, ca, TlsMode::StartTlsOpportunistic)
                    .tls_config(trust)
                    .auth(USER.0, Secret::new(USER.1))
                    .build()
                    .expect("config")
            },
        ),
    ]
}

fn untrusted_auth_server(pki: &TestPki) -> Result<Server, Error> {
    let cert = pki.issue(CertSpec::default().issued_by(IssuedBy::UntrustedCa))?;
    responder(Responder::new().cert(&cert).user(USER.0, USER.1))
}

/// Half a day past five days, so that the whole days left (5) cannot change between issuing the certificate
/// and probing, whichever second either happens in.
fn expires_in_five_and_a_half_days() -> Validity {
    let now = time::OffsetDateTime::now_utc();
    Validity::Between { not_before: now - time::Duration::days(1), not_after: now + time::Duration::hours(5 * 24 + 12) }
}

/// A [`TlsConfig`] trusting only this CA (PEM).
pub fn trusting(ca_pem: &str) -> TlsConfig {
    TlsConfig::builder()
        .webpki_roots(false)
        .add_ca_pem("the test CA", ca_pem.as_bytes())
        .and_then(|b| b.build())
        .expect("the test CA is a valid trust anchor")
}

/// The base configuration of the local scenarios: the server's address as the target, `mx.test` (the name
/// the certificates carry) as the TLS name, trusting only the test CA, with a generous overall deadline.
pub fn config(addr: SocketAddr, ca_pem: &str, mode: TlsMode) -> ProbeConfigBuilder {
    ProbeConfig::builder(Target::new(addr.ip().to_string(), addr.port()).expect("a bound socket address"))
        .tls(mode)
        .tls_name("mx.test")
        .tls_config(trusting(ca_pem))
        .ehlo_name("probe.smtp-probe.test")
        .overall_timeout(GENEROUS)
        .connect_timeout(GENEROUS)
}

fn deadline_config(addr: SocketAddr, ca_pem: &str, mode: TlsMode) -> ProbeConfig {
    config(addr, ca_pem, mode).overall_timeout(DEADLINE).build().expect("config")
}

fn envelope(addr: SocketAddr, ca_pem: &str, rcpt: &str) -> ProbeConfig {
    config(addr, ca_pem, TlsMode::None).mail_from("probe@mx.test").rcpt_to(rcpt).build().expect("config")
}

fn auth_server(pki: &TestPki) -> Result<Server, Error> {
    responder(Responder::new().cert(&pki.default_cert()?).user(USER.0, USER.1))
}

fn auth_config(addr: SocketAddr, ca_pem: &str, password: &str) -> ProbeConfig {
    config(addr, ca_pem, TlsMode::StartTlsRequired).auth(USER.0, Secret::new(password)).build().expect("config")
}

fn responder(responder: Responder) -> Result<Server, Error> {
    responder.start().map(Server::Running)
}

fn script(script: Script) -> Result<Server, Error> {
    script.start().map(Server::Running)
}

mod checks {
    use super::*;

    pub(super) fn verified(report: &Report) {
        let tls = report.tls.as_ref().expect("TLS details");
        assert!(tls.verified, "certificate not verified: {:?}", tls.verify_error);
        assert_eq!(tls.verified_name.as_deref(), Some("mx.test"));
    }

    pub(super) fn auth_235(report: &Report) {
        verified(report);
        let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).expect("an AUTH step");
        assert_eq!(auth.reply.as_ref().map(|r| r.code.get()), Some(235));
    }

    pub(super) fn used_helo(report: &Report) {
        assert!(report.steps.iter().any(|s| s.phase == Phase::Helo), "no HELO step");
    }

    fn problem(report: &Report, expected: CertificateProblem) {
        let tls = report.tls.as_ref().expect("TLS details of the failed handshake");
        assert!(!tls.verified);
        assert_eq!(tls.verify_error, Some(expected));
    }

    pub(super) fn expired(report: &Report) {
        problem(report, CertificateProblem::Expired);
    }

    pub(super) fn name_mismatch(report: &Report) {
        problem(report, CertificateProblem::NameMismatch);
    }

    pub(super) fn unknown_issuer(report: &Report) {
        problem(report, CertificateProblem::UnknownIssuer);
    }

    pub(super) fn reported_not_counted(report: &Report) {
        unknown_issuer(report);
        let f = report.findings.iter().find(|f| f.message.contains("untrusted authority")).expect("reported");
        assert_eq!((f.severity, f.cause), (smtp_probe_proto::Severity::Info, None));
        assert!(report.capabilities_tls.is_some(), "the probe carried on inside TLS");
    }

    pub(super) fn no_auth_sent(report: &Report) {
        unknown_issuer(report);
        assert!(report.steps.iter().all(|s| s.phase != Phase::Auth), "{:#?}", report.steps);
        assert!(report.capabilities_tls.as_ref().is_some_and(|c| !c.auth_mechanisms.is_empty()), "AUTH was offered");
    }

    pub(super) fn auth_235_unverified(report: &Report) {
        unknown_issuer(report);
        let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).expect("an AUTH step");
        assert_eq!(auth.reply.as_ref().map(|r| r.code.get()), Some(235));
    }
}

/// A report with everything that depends on timing removed: what two adapters probing the same server must
/// agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Normalized {
    /// The verdict.
    pub verdict: Verdict,
    /// The primary cause.
    pub cause: Option<Cause>,
    /// The address connected to.
    pub address: Option<String>,
    /// Whether the adapter recorded a DNS time (it did not for an address).
    pub resolved: bool,
    /// Whether the adapter recorded a connect time.
    pub connected: bool,
    /// The findings, their messages with timings masked ([`mask_timings`]).
    pub findings: Vec<Finding>,
    /// The steps, without their durations.
    pub steps: Vec<NormalizedStep>,
    /// Capabilities before TLS.
    pub capabilities: Option<Capabilities>,
    /// Capabilities inside TLS.
    pub capabilities_tls: Option<Capabilities>,
    /// TLS: version, cipher, SNI, verified name, verified, verify error, leaf subject, leaf days left.
    pub tls: Option<NormalizedTls>,
}

/// A [`Step`](smtp_probe_proto::Step) without its duration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NormalizedStep {
    /// Which phase.
    pub phase: Phase,
    /// The command as sent (redacted).
    pub command: Option<String>,
    /// The reply code, when a reply came.
    pub code: Option<u16>,
    /// The reply's lines (lossy UTF-8).
    pub lines: Vec<String>,
}

/// The comparable part of [`TlsInfo`](smtp_probe_proto::TlsInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NormalizedTls {
    /// Protocol version.
    pub version: Option<String>,
    /// Cipher suite.
    pub cipher: Option<String>,
    /// SNI sent.
    pub sni: Option<String>,
    /// Name verified.
    pub verified_name: Option<String>,
    /// Whether it verified.
    pub verified: bool,
    /// Why not.
    pub verify_error: Option<CertificateProblem>,
    /// The leaf certificate's subject.
    pub leaf_subject: Option<String>,
    /// The leaf certificate's days left.
    pub leaf_days_left: Option<i64>,
}

/// The parts of a report that do not depend on timing (see [`Normalized`]).
pub fn normalize(report: &Report) -> Normalized {
    Normalized {
        verdict: report.verdict,
        cause: report.cause,
        address: report.address.clone(),
        resolved: report.resolve.is_some(),
        connected: report.connect.is_some(),
        findings: report.findings.iter().map(|f| Finding { message: mask_timings(&f.message), ..f.clone() }).collect(),
        steps: report
            .steps
            .iter()
            .map(|s| {
                let reply = s.reply.as_ref();
                let lines = reply.map_or_else(Vec::new, |r| {
                    r.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect()
                });
                NormalizedStep { phase: s.phase, command: s.command.clone(), code: reply.map(|r| r.code.get()), lines }
            })
            .collect(),
        capabilities: report.capabilities.clone(),
        capabilities_tls: report.capabilities_tls.clone(),
        tls: report.tls.as_ref().map(|t| NormalizedTls {
            version: t.version.clone(),
            cipher: t.cipher.clone(),
            sni: t.sni.clone(),
            verified_name: t.verified_name.clone(),
            verified: t.verified,
            verify_error: t.verify_error.clone(),
            leaf_subject: t.leaf().map(|c| c.subject.clone()),
            leaf_days_left: t.leaf().map(|c| c.days_left),
        }),
    }
}

/// Masks what depends on timing in a finding message: millisecond counts (`N ms`) and the partial reply
/// received before a timeout (how many bytes of a slow greeting arrived depends on scheduling).
pub fn mask_timings(message: &str) -> String {
    let message = match message.find(" (partial reply received") {
        Some(at) => &message[..at],
        None => message,
    };
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let digits = rest[start..].find(|c: char| !c.is_ascii_digit()).map_or(rest.len(), |n| start + n);
        out.push_str(&rest[..start]);
        if rest[digits..].starts_with(" ms") {
            out.push('N');
        } else {
            out.push_str(&rest[start..digits]);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Asserts that every adapter's report normalizes to the same thing, naming the adapters that differ.
///
/// # Panics
/// When two normalized reports differ.
pub fn assert_same(scenario: &str, reports: &[(&str, &Report)]) {
    let Some(((first_name, first), rest)) = reports.split_first() else { return };
    let reference = normalize(first);
    for (name, report) in rest {
        let normalized = normalize(report);
        assert!(
            normalized == reference,
            "scenario {scenario}: {name} and {first_name} disagree\n{name}: {normalized:#?}\n{first_name}: {reference:#?}"
        );
    }
}

/// Generates one `#[test]` per local conformance scenario, each running `$body` (a closure taking
/// `&Scenario`), plus a test that the list of generated tests is complete.
///
/// In an adapter's `tests/conformance.rs`:
///
/// ```ignore
/// use smtp_probe_proto::{ProbeConfig, Report};
/// use smtp_probe_testsuite::conformance::Scenario;
///
/// /// The adapter's `probe`, made synchronous (here the blocking adapter's, which already is).
/// fn probe(config: &ProbeConfig) -> Report {
///     smtp_probe_blocking::probe(config)
/// }
///
/// smtp_probe_testsuite::conformance_tests!(|scenario: &Scenario| {
///     scenario.run(probe);
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($body:expr) => {
        $crate::__scenario_tests! { $body; $crate::conformance::names();
            plain_up starttls_up implicit_tls_up auth_up auth_failed recipient_unknown relay_denied rcpt_greylisted
            greeting_421 garbage_greeting helo_only_up reset_after_greeting
            starttls_cert_expired implicit_cert_expired starttls_cert_wrong_name implicit_cert_wrong_name
            starttls_cert_untrusted implicit_cert_untrusted starttls_cert_expiring implicit_cert_expiring
            opportunistic_cert_untrusted_up auth_cert_untrusted_withheld auth_cert_untrusted_inspect_only
            connect_refused silent_server dripping_greeting implicit_tls_port_in_starttls_mode
            denied_address_from_dns denied_address_from_request typed_loopback_name_allowed
            no_connect_after_the_deadline local_firewall_is_a_local_error out_of_file_descriptors_is_a_local_error
            slow_dns_lookups_are_bounded
        }
    };
}

/// Generates one `#[test]` per loopback-Postfix case (see [`postfix::cases`](crate::postfix::cases)), each
/// running `$body` (a closure taking `&Scenario`; the scenario's `run` and `prepare` skip when there is no
/// Postfix), plus a test that the list is complete.
#[macro_export]
macro_rules! postfix_tests {
    ($body:expr) => {
        $crate::__scenario_tests! { $body;
            $crate::postfix::cases().iter().map(|s| s.name).collect::<::std::vec::Vec<_>>();
            postfix_plain_starttls_up postfix_submission_auth_up postfix_submission_auth_failed
            postfix_unknown_recipient postfix_relay_denied postfix_smtps_up
            postfix_plain_untrusted_opportunistic_up postfix_plain_untrusted_required_down
            postfix_submission_untrusted_withholds_credentials postfix_submission_insecure_sends_credentials
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_tests {
    ($body:expr; $names:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                let scenario =
                    $crate::conformance::scenario(stringify!($name)).in_test(module_path!(), stringify!($name));
                #[allow(clippy::redundant_closure_call)]
                ($body)(&scenario);
            }
        )*

        #[test]
        fn every_scenario_has_a_test() {
            let generated: &[&str] = &[$(stringify!($name)),*];
            assert_eq!(generated, $names.as_slice());
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names = names();
        names.extend(crate::postfix::cases().iter().map(|s| s.name));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn normalizing_drops_timings_and_keeps_the_rest() {
        use std::time::UNIX_EPOCH;
        let mut a = Report::without_session(
            "mx.test:25",
            UNIX_EPOCH,
            Cause::GreetingTimeout,
            Phase::Greeting,
            "no greeting in 20 ms",
        );
        a.connect = Some(Duration::from_millis(1));
        let mut b = a.clone();
        b.connect = Some(Duration::from_millis(7));
        b.total = Duration::from_secs(2);
        b.started_at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        b.response_time = Duration::from_secs(1);
        b.findings[0].message = "no greeting in 31 ms".into();
        assert_eq!(normalize(&a), normalize(&b));
        assert_same("timings", &[("a", &a), ("b", &b)]);
        b.connect = None;
        assert_ne!(normalize(&a), normalize(&b), "a missing connect time is a difference");
        let mut c = a.clone();
        c.findings[0].message = "no greeting at all".into();
        assert_ne!(normalize(&a), normalize(&c));
        let mut d = a.clone();
        d.address = Some("127.0.0.1:25".into());
        assert_ne!(normalize(&a), normalize(&d));
    }

    #[test]
    fn masks_timings_only() {
        assert_eq!(
            mask_timings("response time 1234 ms is over the 50 ms threshold"),
            "response time N ms is over the N ms threshold"
        );
        assert_eq!(
            mask_timings("no complete greeting within the overall deadline of 1.5s (partial reply received: \"22\")"),
            "no complete greeting within the overall deadline of 1.5s"
        );
        assert_eq!(mask_timings("550 5.1.1 <x@mx.test>"), "550 5.1.1 <x@mx.test>");
    }
}
