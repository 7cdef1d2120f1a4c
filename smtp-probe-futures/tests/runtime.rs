//! What is particular to this adapter: the runtime trait, dropping a probe, `Send` futures.

use std::time::Duration;

use smtp_probe_futures::async_std::AsyncStd;
use smtp_probe_futures::smol::Smol;
use smtp_probe_futures::{AddressFamily, ProbeConfig, Target, TlsMode, Verdict};
use smtp_probe_testserver::{Responder, Script, TestServer};

fn plain(target: Target) -> ProbeConfig {
    ProbeConfig::builder(target).tls(TlsMode::None).build().unwrap()
}

fn local(port: u16) -> Target {
    Target::new("127.0.0.1", port).unwrap()
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn probe_futures_are_send() {
    let config = plain(local(1));
    assert_send(&smtp_probe_futures::smol::probe(&config));
    assert_send(&smtp_probe_futures::async_std::probe_each(&config));
}

/// A server that waits for a line: it sees the probe's socket close, and records that.
fn waiting_server() -> (TestServer, ProbeConfig) {
    let server = Script::new().expect_line().start().unwrap();
    let config = plain(local(server.port()));
    (server, config)
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
    let (server, config) = waiting_server();
    smol::block_on(drop_after_a_while(smtp_probe_futures::smol::probe(&config)));
    assert_closed(&server);
}

#[test]
fn dropping_the_async_std_future_closes_the_socket() {
    let (server, config) = waiting_server();
    async_std::task::block_on(drop_after_a_while(smtp_probe_futures::async_std::probe(&config)));
    assert_closed(&server);
}

#[test]
fn any_stream_with_any_timer() {
    // A smol stream with async-std's timer, on a third executor: the pump only needs the traits.
    let server = Responder::new().start().unwrap();
    let report = futures_lite::future::block_on(async {
        let stream = async_net::TcpStream::connect(server.addr()).await.unwrap();
        smtp_probe_futures::probe_stream_with(stream, &plain(local(server.port())), &AsyncStd).await
    });
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, None);
}

#[test]
fn probe_stream_names_the_peer() {
    let server = Responder::new().start().unwrap();
    let report = async_std::task::block_on(async {
        let stream = async_std::net::TcpStream::connect(server.addr()).await.unwrap();
        smtp_probe_futures::async_std::probe_stream(stream, &plain(local(server.port()))).await
    });
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
}

#[test]
fn names_resolve_through_the_runtime() {
    // "localhost" comes from /etc/hosts: no DNS server involved.
    let server = Responder::new().start().unwrap();
    let config = ProbeConfig::builder(Target::new("localhost", server.port()).unwrap())
        .tls(TlsMode::None)
        .address_family(AddressFamily::Ipv4Only)
        .build()
        .unwrap();
    for reports in [
        smol::block_on(smtp_probe_futures::probe_each_with(&Smol, &config)),
        async_std::task::block_on(smtp_probe_futures::async_std::probe_each(&config)),
    ] {
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].verdict, Verdict::Up, "{}", reports[0].summary());
        assert_eq!(reports[0].address, Some(server.addr().to_string()));
        assert!(reports[0].resolve.is_some(), "the lookup is timed");
    }
}

/// A runtime that is smol, counting the socket options the pump sets (statics: the trait's socket functions take
/// no `self`).
mod counting {
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use smtp_probe_futures::smol::Smol;
    use smtp_probe_futures::{Runtime, Timer};

    pub static NODELAY: AtomicUsize = AtomicUsize::new(0);
    pub static QUICK_ACKS: AtomicUsize = AtomicUsize::new(0);

    pub struct Counting;

    impl Timer for Counting {
        fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
            Smol.sleep_until(deadline)
        }
    }

    impl Runtime for Counting {
        type Stream = <Smol as Runtime>::Stream;

        fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
            Smol.connect(addr)
        }

        fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
            Smol::spawn_blocking(f)
        }

        fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr> {
            Smol::peer_addr(stream)
        }

        fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
            Smol::set_nodelay(stream)?;
            // Set on the socket, not just asked for.
            if stream.nodelay()? {
                NODELAY.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }

        fn quick_ack(stream: &Self::Stream) {
            Smol::quick_ack(stream);
            QUICK_ACKS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn every_connection_gets_nodelay_and_quick_acks_follow_the_policy() {
    use std::sync::atomic::Ordering;
    // The greeting comes in two pieces: after the first, the probe reads again, and acknowledges at once. The replies
    // to EHLO and QUIT come whole: each is answered by a command (or the end), with no quick ACK.
    let server = Script::new()
        .send("220 mx.test")
        .sleep(Duration::from_millis(200))
        .send(" ESMTP\r\n")
        .expect("EHLO")
        .reply("250 mx.test")
        .expect("QUIT")
        .reply("221 bye")
        .start()
        .unwrap();
    let report = smol::block_on(smtp_probe_futures::probe_with(&counting::Counting, &plain(local(server.port()))));
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(counting::NODELAY.load(Ordering::Relaxed), 1, "TCP_NODELAY on the one connection");
    assert_eq!(counting::QUICK_ACKS.load(Ordering::Relaxed), 1, "one quick ACK, after the half greeting");
}
