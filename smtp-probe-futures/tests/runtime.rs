//! What is particular to this adapter: the runtime trait, dropping a probe, `Send` futures.

use std::time::Duration;

use smtp_probe_futures::async_std::AsyncStd;
use smtp_probe_futures::smol::Smol;
use smtp_probe_futures::{AddressFamily, ProbeConfig, Target, TlsMode, Verdict};
use smtp_probe_testserver::{Responder, Script, TestServer};

fn plain(host: &str) -> ProbeConfig {
    ProbeConfig::builder(host).tls(TlsMode::None).build().unwrap()
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn probe_futures_are_send() {
    let (target, config) = (Target::new("127.0.0.1", 1), plain("127.0.0.1"));
    assert_send(&smtp_probe_futures::smol::probe(&target, &config));
    assert_send(&smtp_probe_futures::async_std::probe_each(&target, &config));
}

/// A server that waits for a line: it sees the probe's socket close, and records that.
fn waiting_server() -> (TestServer, Target) {
    let server = Script::new().expect_line().start().unwrap();
    let target = Target::new("127.0.0.1", server.port());
    (server, target)
}

/// Polls `probe` until it is waiting for the greeting that never comes, then drops it.
async fn drop_after_a_while(probe: impl Future) {
    futures_lite::future::or(
        async {
            probe.await;
            panic!("the probe ended before its deadline");
        },
        async {
            async_io::Timer::after(Duration::from_millis(200)).await;
        },
    )
    .await;
}

fn assert_closed(server: &TestServer) {
    assert!(server.wait_for_closed(1, Duration::from_secs(5)), "the connection outlived the dropped probe");
    assert!(server.errors()[0].contains("client closed the connection"), "{:?}", server.errors());
}

#[test]
fn dropping_the_smol_future_closes_the_socket() {
    let (server, target) = waiting_server();
    let config = plain("127.0.0.1");
    smol::block_on(drop_after_a_while(smtp_probe_futures::smol::probe(&target, &config)));
    assert_closed(&server);
}

#[test]
fn dropping_the_async_std_future_closes_the_socket() {
    let (server, target) = waiting_server();
    let config = plain("127.0.0.1");
    async_std::task::block_on(drop_after_a_while(smtp_probe_futures::async_std::probe(&target, &config)));
    assert_closed(&server);
}

#[test]
fn any_stream_with_any_timer() {
    // A smol stream with async-std's timer, on a third executor: the pump only needs the traits.
    let server = Responder::new().start().unwrap();
    let report = futures_lite::future::block_on(async {
        let stream = async_net::TcpStream::connect(server.addr()).await.unwrap();
        smtp_probe_futures::probe_stream_with(stream, &plain("127.0.0.1"), &AsyncStd).await
    });
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, None);
}

#[test]
fn probe_stream_names_the_peer() {
    let server = Responder::new().start().unwrap();
    let report = async_std::task::block_on(async {
        let stream = async_std::net::TcpStream::connect(server.addr()).await.unwrap();
        smtp_probe_futures::async_std::probe_stream(stream, &plain("127.0.0.1")).await
    });
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
}

#[test]
fn names_resolve_through_the_runtime() {
    // "localhost" comes from /etc/hosts: no DNS server involved.
    let server = Responder::new().start().unwrap();
    let config =
        ProbeConfig::builder("localhost").tls(TlsMode::None).address_family(AddressFamily::Ipv4Only).build().unwrap();
    let target = Target::new("localhost", server.port());
    for reports in [
        smol::block_on(smtp_probe_futures::probe_each_with(&Smol, &target, &config)).unwrap(),
        async_std::task::block_on(smtp_probe_futures::async_std::probe_each(&target, &config)).unwrap(),
    ] {
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].verdict, Verdict::Up, "{}", reports[0].summary());
        assert_eq!(reports[0].address, Some(server.addr().to_string()));
    }
}

#[test]
fn an_invalid_target_is_an_error() {
    let target = Target::new("bad host", 25);
    assert!(smol::block_on(smtp_probe_futures::smol::probe(&target, &plain("x"))).is_err());
}
