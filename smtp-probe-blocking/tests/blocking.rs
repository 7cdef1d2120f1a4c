//! What is particular to the blocking adapter: streams connected by the caller, names, invalid targets.

use std::net::TcpStream;

use smtp_probe_blocking::{AddressFamily, ProbeConfig, Target, TlsMode, Verdict};
use smtp_probe_testserver::Responder;

fn plain(host: &str) -> ProbeConfig {
    ProbeConfig::builder(host).tls(TlsMode::None).build().unwrap()
}

#[test]
fn probe_stream_names_the_peer() {
    let server = Responder::new().start().unwrap();
    let stream = TcpStream::connect(server.addr()).unwrap();
    let report = smtp_probe_blocking::probe_stream(stream, &plain("127.0.0.1"));
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
    assert_eq!(server.transcripts()[0].last().map(String::as_str), Some("QUIT"));
}

#[test]
fn names_resolve_through_the_os() {
    // "localhost" comes from /etc/hosts: no DNS server involved.
    let server = Responder::new().start().unwrap();
    let config =
        ProbeConfig::builder("localhost").tls(TlsMode::None).address_family(AddressFamily::Ipv4Only).build().unwrap();
    let reports = smtp_probe_blocking::probe_each(&Target::new("localhost", server.port()), &config).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].verdict, Verdict::Up, "{}", reports[0].summary());
    assert_eq!(reports[0].address, Some(server.addr().to_string()));
}

#[test]
fn an_invalid_target_is_an_error() {
    assert!(smtp_probe_blocking::probe(&Target::new("bad host", 25), &plain("x")).is_err());
}
