//! The connection planner and pump without IO (`connect::Dialer`, `Conversation`, `MailboxConversation`): typed
//! addresses without DNS, family plans, deadlines, denied addresses, local faults, misuse; when to acknowledge at
//! once, how long a write may take, what the report says of the peer and of a mailbox that never answered.
//! Integration tests, so the instants they start from come from the test harness's clock, not from the core.

mod common;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{start, wall_start};
use smtp_probe_proto::connect::{
    AddressPolicy, ConnectFailure, Connection, Conversation, Dial, Dialer, Io, MailboxConversation, MailboxIo, Origin,
    ProbeStart, ResolveFailure,
};
use smtp_probe_proto::imap::MailboxConfig;
use smtp_probe_proto::roundtrip::RoundTripStart;
use smtp_probe_proto::{
    AddressFamily, Cause, Phase, ProbeConfig, Report, RoundTripConfig, Secret, Severity, Target, TlsMode, Verdict,
};

// ---- the dialer ---------------------------------------------------------------------------------------------------

fn make(target: &str, family: AddressFamily, policy: AddressPolicy) -> ProbeConfig {
    ProbeConfig::builder(target.parse().unwrap())
        .tls(TlsMode::None)
        .address_family(family)
        .address_policy(policy)
        .build()
        .unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn errno(kind: io::ErrorKind) -> ConnectFailure {
    ConnectFailure::Io(io::Error::from(kind))
}

/// Drives a conversation with a server that greets, answers EHLO and QUIT.
fn converse(connection: Connection, now: Instant) -> Report {
    let mut conversation = Conversation::over(connection);
    let mut replies = [&b"220 mx ESMTP\r\n"[..], b"250 mx\r\n", b"221 bye\r\n"].into_iter();
    loop {
        match conversation.poll(now) {
            Io::Write { .. } => {}
            Io::Read { .. } => conversation.handle_input(now, replies.next().unwrap_or(b"")),
            Io::Close => return conversation.into_report(),
        }
    }
}

#[test]
fn a_typed_address_is_connected_to_without_dns() {
    let config = make("127.0.0.1:2525", AddressFamily::Any, AddressPolicy::default());
    let now = start();
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    let Dial::Connect { addr, deadline } = dialer.poll(now) else { panic!("no DNS for an address") };
    assert_eq!((addr.to_string(), deadline), ("127.0.0.1:2525".to_owned(), now + config.timeouts().connect));
    assert_eq!(dialer.poll(now), Dial::Connect { addr, deadline }, "asked again until answered");
    let later = now + Duration::from_millis(3);
    let report = converse(dialer.handle_connected(later), later);
    dialer.handle_report(later, report);
    assert_eq!(dialer.poll(later), Dial::Done);
    let reports = dialer.into_reports();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address.as_deref(), Some("127.0.0.1:2525"));
    assert_eq!((report.resolve, report.connect), (None, Some(Duration::from_millis(3))));
}

#[test]
fn both_families_one_report_each_resolve_timed() {
    let config = make("mx.example.com", AddressFamily::Both, AddressPolicy::default());
    let now = start();
    let start = ProbeStart::new(&config, now, wall_start());
    let mut dialer = Dialer::new(&config, start);
    assert_eq!(dialer.poll(now), Dial::Resolve { deadline: start.deadline });
    assert_eq!(dialer.target().host(), "mx.example.com");
    let resolved = now + Duration::from_millis(5);
    dialer.handle_resolved(resolved, ips(&["2001:db8::1", "192.0.2.1", "192.0.2.1", "192.0.2.2"]));
    // IPv4 first: the first address refuses, the second answers.
    let Dial::Connect { addr, .. } = dialer.poll(resolved) else { panic!() };
    assert_eq!(addr.to_string(), "192.0.2.1:25");
    dialer.handle_connect_failed(resolved, errno(io::ErrorKind::ConnectionRefused));
    let Dial::Connect { addr, .. } = dialer.poll(resolved) else { panic!() };
    assert_eq!(addr.to_string(), "192.0.2.2:25", "the duplicate is tried once");
    let report = converse(dialer.handle_connected(resolved), resolved);
    dialer.handle_report(resolved, report);
    // Then IPv6, which times out.
    let Dial::Connect { addr, .. } = dialer.poll(resolved) else { panic!() };
    assert_eq!(addr.to_string(), "[2001:db8::1]:25");
    dialer.handle_connect_failed(resolved, ConnectFailure::TimedOut);
    assert_eq!(dialer.poll(resolved), Dial::Done);
    let reports = dialer.into_reports();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].verdict, Verdict::Up);
    assert!(reports[0].findings.iter().any(|f| f.message == "IPv4 probed separately (192.0.2.2:25)"));
    assert_eq!((reports[1].verdict, reports[1].cause), (Verdict::Down, Some(Cause::ConnectTimeout)));
    assert!(reports[1].findings[0].message.contains("port 25 often means"), "{}", reports[1].summary());
    for report in &reports {
        assert_eq!(report.resolve, Some(Duration::from_millis(5)));
    }
}

#[test]
fn no_connect_once_the_deadline_has_passed() {
    let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::default());
    let now = start();
    let start = ProbeStart::new(&config, now, wall_start());
    let mut dialer = Dialer::new(&config, start);
    assert!(matches!(dialer.poll(now), Dial::Resolve { .. }));
    // The lookup took the whole probe.
    dialer.handle_resolved(start.deadline, ips(&["192.0.2.1", "192.0.2.2"]));
    assert_eq!(dialer.poll(start.deadline), Dial::Done);
    let report = dialer.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectTimeout)));
    assert_eq!(report.address, None, "nothing was contacted");
    assert!(report.summary().contains("192.0.2.2:25: not tried, the overall deadline had passed"));

    // A first attempt that uses up the time: the next address is not tried.
    let mut dialer = Dialer::new(&config, start);
    dialer.poll(now);
    dialer.handle_resolved(now, ips(&["192.0.2.1", "192.0.2.2"]));
    let Dial::Connect { deadline, .. } = dialer.poll(now) else { panic!() };
    assert_eq!(deadline, now + config.timeouts().connect);
    dialer.handle_connect_failed(start.deadline, ConnectFailure::TimedOut);
    assert_eq!(dialer.poll(start.deadline), Dial::Done);
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::ConnectTimeout));
    assert_eq!(report.address.as_deref(), Some("192.0.2.1:25"));
    assert!(report.summary().contains("192.0.2.2:25: not tried"), "{}", report.summary());

    // Each attempt is cut to the overall deadline.
    let mut dialer = Dialer::new(&config, start);
    dialer.poll(now);
    let late = start.deadline - Duration::from_millis(10);
    dialer.handle_resolved(late, ips(&["192.0.2.1"]));
    assert_eq!(dialer.poll(late), Dial::Connect { addr: "192.0.2.1:25".parse().unwrap(), deadline: start.deadline });

    // No lookup starts after the deadline (an MX host that waited for its turn).
    let mut dialer = Dialer::new(&config, start);
    assert_eq!(dialer.poll(start.deadline), Dial::Done);
    assert_eq!(dialer.into_report().cause, Some(Cause::DnsFailure));
}

#[test]
fn denied_addresses_are_never_contacted() {
    let now = start();
    // From DNS: loopback is denied, nothing is left.
    let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::new(Origin::Dns));
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    dialer.poll(now);
    dialer.handle_resolved(now, ips(&["127.0.0.1", "::1"]));
    assert_eq!(dialer.poll(now), Dial::Done);
    let report = dialer.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::AddressDenied)));
    assert_eq!(
        report.summary(),
        "down: address_denied (connect): address 127.0.0.1 of mx.example.com is denied by the address policy \
         (loopback)"
    );
    assert_eq!(report.findings.len(), 2);
    assert_eq!(report.address, None);
    // A request for an address: denied too, worded without a name.
    let config = make("169.254.169.254", AddressFamily::Any, AddressPolicy::new(Origin::Request));
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    assert_eq!(dialer.poll(now), Dial::Done);
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::AddressDenied));
    assert!(report.summary().ends_with("address 169.254.169.254 is denied by the address policy (cloud metadata)"));
    // Typed by the user: allowed.
    let config = make("127.0.0.1", AddressFamily::Any, AddressPolicy::default());
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    assert!(matches!(dialer.poll(now), Dial::Connect { .. }));
    // Some denied, some not: the others are probed, the denial noted without changing the verdict.
    let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::new(Origin::Dns));
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    dialer.poll(now);
    dialer.handle_resolved(now, ips(&["::1", "192.0.2.1"]));
    let Dial::Connect { addr, .. } = dialer.poll(now) else { panic!("one address is allowed") };
    assert_eq!(addr.ip().to_string(), "192.0.2.1");
    let report = converse(dialer.handle_connected(now), now);
    dialer.handle_report(now, report);
    dialer.poll(now);
    let report = dialer.into_report();
    assert_eq!(report.verdict, Verdict::Up);
    assert_eq!(report.findings[0].severity, Severity::Info);
    assert!(report.findings[0].message.contains("address ::1 of mx.example.com is denied"));
}

#[test]
fn local_faults_are_not_the_servers() {
    let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::default());
    let now = start();
    let dial = |addrs: &[&str], failures: Vec<ConnectFailure>| {
        let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
        dialer.poll(now);
        dialer.handle_resolved(now, ips(addrs));
        for failure in failures {
            assert!(matches!(dialer.poll(now), Dial::Connect { .. }));
            dialer.handle_connect_failed(now, failure);
        }
        assert_eq!(dialer.poll(now), Dial::Done);
        dialer.into_report()
    };
    #[cfg(unix)]
    {
        let emfile = || ConnectFailure::Io(io::Error::from_raw_os_error(libc::EMFILE));
        let report = dial(&["192.0.2.1"], vec![emfile()]);
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::LocalError)));
        assert!(report.summary().contains("could not run: this process is out of file descriptors"));
        // A refusal first, then no descriptor for the second address: the probe could not finish.
        let refused = errno(io::ErrorKind::ConnectionRefused);
        let report = dial(&["192.0.2.1", "192.0.2.2"], vec![refused, emfile()]);
        assert_eq!(report.cause, Some(Cause::LocalError));
        let nobufs = ConnectFailure::Io(io::Error::from_raw_os_error(libc::ENOBUFS));
        assert_eq!(dial(&["192.0.2.1"], vec![nobufs]).cause, Some(Cause::LocalError));
    }
    let firewall = errno(io::ErrorKind::PermissionDenied);
    let report = dial(&["192.0.2.1"], vec![firewall]);
    assert_eq!(report.cause, Some(Cause::LocalError));
    assert!(report.summary().contains("a local firewall or security policy refused the connection"));
    let report = dial(&["192.0.2.1"], vec![errno(io::ErrorKind::ConnectionRefused)]);
    assert_eq!(report.cause, Some(Cause::ConnectRefused));
    let report = dial(&["192.0.2.1"], vec![errno(io::ErrorKind::HostUnreachable)]);
    assert_eq!(report.cause, Some(Cause::NetworkUnreachable));

    let resolve = |failure: ResolveFailure| {
        let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
        dialer.poll(now);
        dialer.handle_resolve_failed(now + Duration::from_millis(7), failure);
        assert_eq!(dialer.poll(now), Dial::Done);
        dialer.into_report()
    };
    let report = resolve(ResolveFailure::NoLookupSlot);
    assert_eq!(report.cause, Some(Cause::LocalError));
    assert!(report.summary().contains("32 earlier lookups are still running"), "{}", report.summary());
    assert_eq!(report.resolve, Some(Duration::from_millis(7)));
    #[cfg(unix)]
    assert_eq!(resolve(ResolveFailure::Io(io::Error::from_raw_os_error(libc::EMFILE))).cause, Some(Cause::LocalError));
    let report = resolve(ResolveFailure::TimedOut);
    assert_eq!(report.cause, Some(Cause::DnsFailure));
    assert_eq!(report.summary(), "down: dns_failure (resolve): mx.example.com: no answer before the deadline");
    assert_eq!(resolve(ResolveFailure::Failed("NXDOMAIN".into())).cause, Some(Cause::DnsFailure));
    assert_eq!(
        resolve(ResolveFailure::Io(io::Error::other("Name or service not known"))).cause,
        Some(Cause::DnsFailure)
    );
}

#[test]
fn the_family_policy_can_leave_nothing() {
    let config = make("mx.example.com", AddressFamily::Ipv6Only, AddressPolicy::default());
    let now = start();
    let mut dialer = Dialer::new(&config, ProbeStart::new(&config, now, wall_start()));
    dialer.poll(now);
    dialer.handle_resolved(now, ips(&["192.0.2.1"]));
    assert_eq!(dialer.poll(now), Dial::Done);
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::DnsFailure));
    assert!(report.summary().contains("has no address for the policy Ipv6Only"));
}

#[test]
fn misuse_never_panics_and_always_reports() {
    let config = make("mx.example.com", AddressFamily::Any, AddressPolicy::default());
    let now = start();
    let start = ProbeStart::new(&config, now, wall_start());
    // Events nobody asked for are ignored.
    let mut dialer = Dialer::new(&config, start);
    dialer.handle_resolved(now, ips(&["192.0.2.1"]));
    dialer.handle_connect_failed(now, ConnectFailure::TimedOut);
    assert!(matches!(dialer.poll(now), Dial::Resolve { .. }));
    // Abandoned half-way: still one report, and it says the probe could not finish.
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::LocalError));
    assert_eq!(report.target, "mx.example.com:25");
    // A connection reported without a connect asked for.
    let mut dialer = Dialer::new(&config, start);
    let connection = dialer.handle_connected(now);
    assert!(matches!(dialer.poll(now), Dial::Resolve { .. }));
    dialer.handle_report(now, converse(connection, now));
    assert_eq!(dialer.into_reports().len(), 1);
}

// ---- the SMTP conversation ----------------------------------------------------------------------------------------

fn conversation(now: Instant) -> Conversation {
    let config = ProbeConfig::builder("mx.example.com".parse().unwrap()).tls(TlsMode::None).build().unwrap();
    Conversation::new(&config, now, ProbeStart::new(&config, now, wall_start()), None)
}

#[test]
fn quick_ack_only_when_reading_again_after_input() {
    let now = start();
    let mut c = conversation(now);
    assert!(matches!(c.poll(now), Io::Read { quick_ack: false, .. }), "nothing received yet");
    c.handle_input(now, b"220 mx.exa");
    assert!(matches!(c.poll(now), Io::Read { quick_ack: true, .. }), "half a greeting: acknowledge it at once");
    assert!(matches!(c.poll(now), Io::Read { quick_ack: false, .. }), "once per read");
    c.handle_input(now, b"mple.com ESMTP\r\n");
    assert!(matches!(c.poll(now), Io::Write { .. }), "EHLO carries the ACK");
    assert!(matches!(c.poll(now), Io::Read { quick_ack: false, .. }));
}

#[test]
fn writes_are_bounded_by_the_next_deadline_and_the_peer_is_named() {
    let now = start();
    let config = ProbeConfig::builder("mx.example.com".parse().unwrap()).tls(TlsMode::None).build().unwrap();
    let peer: SocketAddr = "192.0.2.1:25".parse().unwrap();
    let start = ProbeStart::new(&config, now, wall_start());
    let mut c = Conversation::new(&config, now, start, Some(peer));
    c.handle_input(now, b"220 hi\r\n");
    match c.poll(now) {
        Io::Write { bytes, until } => {
            assert!(bytes.starts_with(b"EHLO "));
            assert_eq!(until, now + config.timeouts().reply);
        }
        other => panic!("expected EHLO, got {other:?}"),
    }
    c.handle_eof(now + Duration::from_millis(1));
    while c.poll(now) != Io::Close {}
    assert_eq!(c.deadline(), start.deadline);
    let report = c.into_report();
    assert_eq!(report.address.as_deref(), Some("192.0.2.1:25"));
    assert_eq!(report.cause, Some(Cause::ConnectionClosed));
}

// ---- the mailbox conversation -------------------------------------------------------------------------------------

fn round_trip(imap: Target, family: AddressFamily, policy: AddressPolicy) -> RoundTripConfig {
    let submit = ProbeConfig::builder("smtps://smtp.example.org".parse().unwrap())
        .mail_from("a@example.org")
        .rcpt_to("b@example.net")
        .build()
        .unwrap();
    let mailbox = MailboxConfig::builder(imap, "b", Secret::new("p"))
        .tls(TlsMode::None)
        .allow_plaintext_login(true)
        .address_family(family)
        .address_policy(policy)
        .build()
        .unwrap();
    RoundTripConfig::builder(submit, mailbox).build().unwrap()
}

#[test]
fn connects_by_the_mailbox_rules_and_reports_as_the_mailbox() {
    let imap = Target::new("imap.example.net", 143).unwrap();
    let config = round_trip(imap, AddressFamily::Ipv6Only, AddressPolicy::new(Origin::Request));
    let now = start();
    let run = RoundTripStart::new(&config, now, wall_start(), 1);
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    assert_eq!(dialer.poll(now), Dial::Resolve { deadline: run.search_deadline });
    assert_eq!((dialer.target().host(), dialer.address_family()), ("imap.example.net", AddressFamily::Ipv6Only));
    let ips = ["::1", "192.0.2.1", "2001:db8::7", "2001:db8::8"].map(|a| a.parse().unwrap());
    dialer.handle_resolved(now, ips);
    let Dial::Connect { addr, deadline } = dialer.poll(now) else { panic!("an IPv6 address is left") };
    assert_eq!(addr.to_string(), "[2001:db8::7]:143", "loopback denied, IPv4 left out by the family policy");
    assert_eq!(deadline, now + config.mailbox().timeouts().connect);
    dialer.handle_connect_failed(now, ConnectFailure::TimedOut);
    let Dial::Connect { addr, .. } = dialer.poll(now) else { panic!("the next address") };
    assert_eq!(addr.to_string(), "[2001:db8::8]:143");
    let connected = now + Duration::from_millis(4);
    let connection = dialer.handle_connected(connected);
    assert_eq!(dialer.poll(connected), Dial::Done, "one connection");

    // The conversation: a server that says goodbye at once.
    let mut conversation = MailboxConversation::over(connection, &run);
    assert_eq!(conversation.deadline(), run.deadline);
    assert!(matches!(conversation.poll(connected), MailboxIo::Read { quick_ack: false, .. }));
    conversation.handle_input(connected, b"* BYE");
    assert!(matches!(conversation.poll(connected), MailboxIo::Read { quick_ack: true, .. }), "half a line");
    conversation.handle_input(connected, b" going away\r\n");
    conversation.handle_eof(connected);
    while !matches!(conversation.poll(connected), MailboxIo::Close) {}
    let report = conversation.into_report();
    assert_eq!(report.cause, Some(Cause::MailboxUnavailable), "{:?}", report.findings);
    assert_eq!(report.address.as_deref(), Some("[2001:db8::8]:143"));
    assert_eq!(report.connect, Some(Duration::from_millis(4)));
}

#[test]
fn no_connection_is_a_mailbox_report() {
    let now = start();
    let imap = Target::new("imap.example.net", 993).unwrap();
    let config = round_trip(imap, AddressFamily::Any, AddressPolicy::new(Origin::Request));
    let run = RoundTripStart::new(&config, now, wall_start(), 1);

    // Refused: the server's side, so the mailbox is unavailable.
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    dialer.poll(now);
    dialer.handle_resolved(now, ["192.0.2.1".parse().unwrap()]);
    dialer.poll(now);
    dialer.handle_connect_failed(now, ConnectFailure::Io(io::ErrorKind::ConnectionRefused.into()));
    assert_eq!(dialer.poll(now), Dial::Done);
    let report = dialer.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MailboxUnavailable)));
    assert_eq!(report.target, "imap.example.net:993");
    assert_eq!(report.address.as_deref(), Some("192.0.2.1:993"));
    assert!(report.findings.iter().all(|f| f.phase == Some(Phase::ImapConnect)));

    // Every address denied: nothing contacted, and said so.
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    dialer.poll(now);
    dialer.handle_resolved(now, ["127.0.0.1".parse().unwrap()]);
    assert_eq!(dialer.poll(now), Dial::Done);
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::AddressDenied));
    assert_eq!(report.address, None);

    // This machine's fault stays this machine's.
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    dialer.poll(now);
    dialer.handle_resolve_failed(now, ResolveFailure::NoLookupSlot);
    assert_eq!(dialer.into_report().cause, Some(Cause::LocalError));

    // No connect once the search deadline has passed.
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    dialer.poll(now);
    dialer.handle_resolved(run.search_deadline, ["192.0.2.1".parse().unwrap()]);
    assert_eq!(dialer.poll(run.search_deadline), Dial::Done);
    let report = dialer.into_report();
    assert_eq!(report.cause, Some(Cause::MailboxUnavailable));
    assert!(report.findings[0].message.contains("not tried, the overall deadline had passed"));
}
