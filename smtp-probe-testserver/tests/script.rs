//! Scripted mode.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use common::{TIMEOUT, connect};
use smtp_probe_testserver::{Script, ServerBuilder, start};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn send_and_expect() {
    let server = Script::new()
        .reply("220 mx.test ESMTP")
        .expect("ehlo ")
        .send("250-mx.test\r\n250 8BITMIME\r\n")
        .expect("QUIT")
        .reply("221 Bye")
        .start()
        .unwrap();

    let mut c = connect(server.addr()).await;
    assert_eq!(c.reply().await, ["220 mx.test ESMTP"]);
    assert_eq!(c.cmd("EHLO probe.test").await, ["250-mx.test", "250 8BITMIME"]);
    assert_eq!(c.cmd1("QUIT").await, "221 Bye");
    // The server closes after the script.
    assert_eq!(c.line().await, "");
    drop(c);

    assert!(server.wait_for_closed(1, TIMEOUT));
    assert_eq!(server.connections(), 1);
    assert_eq!(server.transcripts(), [["EHLO probe.test", "QUIT"]]);
    assert!(server.errors().is_empty(), "{:?}", server.errors());
}

#[tokio::test]
async fn expectation_mismatch_is_recorded_and_closes() {
    let server = Script::new().reply("220 hi").expect("EHLO").reply("250 should not be sent").start().unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    c.send("HELO x\r\n").await;
    assert_eq!(c.line().await, "", "server must close on mismatch");
    drop(c);
    assert!(server.wait_for_closed(1, TIMEOUT));
    let errors = server.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("EHLO") && errors[0].contains("HELO x"), "{errors:?}");
}

#[tokio::test]
async fn verbatim_bytes_and_data_body() {
    let server = Script::new()
        .send("220 bare lf\n220-mixed\r\n250 codes\r\n")
        .expect("DATA")
        .reply("354 go")
        .read_data_body()
        .reply("250 ok")
        .start()
        .unwrap();
    let mut c = connect(server.addr()).await;
    assert_eq!(c.line().await, "220 bare lf\n");
    assert_eq!(c.line().await, "220-mixed\r\n");
    assert_eq!(c.line().await, "250 codes\r\n");
    c.send("DATA\r\n").await;
    assert_eq!(c.line().await, "354 go\r\n");
    c.send("Subject: x\r\n\r\n..dot\r\n.\r\n").await;
    assert_eq!(c.line().await, "250 ok\r\n");
    drop(c);
    assert!(server.wait_for_closed(1, TIMEOUT));
    assert_eq!(server.transcripts()[0], ["DATA", "Subject: x", "", "..dot", "."]);
}

#[tokio::test]
async fn drip_takes_roughly_the_interval_per_byte() {
    let interval = Duration::from_millis(40);
    let server = Script::new()
        .drip("220 slow\r\n", interval) // 10 bytes, 9 pauses
        .hang()
        .start()
        .unwrap();
    let started = Instant::now();
    let mut c = connect(server.addr()).await;
    let mut first = [0u8; 1];
    c.io.read_exact(&mut first).await.unwrap();
    let first_byte = started.elapsed();
    assert_eq!(c.line().await, "20 slow\r\n");
    let total = started.elapsed();
    assert!(first_byte < Duration::from_secs(2), "first byte took {first_byte:?}");
    assert!(total >= interval * 8, "drip too fast: {total:?}");
    assert!(total < Duration::from_secs(10), "drip too slow: {total:?}");
}

#[tokio::test]
async fn reset_gives_connection_reset() {
    let server = Script::new().reply("220 about to reset").expect("QUIT").reset().start().unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    c.send("QUIT\r\n").await;
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(TIMEOUT, c.io.read(&mut buf)).await.unwrap().expect_err("expected a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn blocking_client_and_sleep() {
    let server = Script::new().sleep(Duration::from_millis(100)).reply("220 late").start().unwrap();
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text, "220 late\r\n");
    assert!(started.elapsed() >= Duration::from_millis(90));
}

#[test]
fn one_script_per_connection_then_close() {
    let server = start(vec![Script::new().reply("421 busy"), Script::new().reply("220 ok")]).unwrap();
    let read_all = |addr| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    assert_eq!(read_all(server.addr()), "421 busy\r\n");
    assert_eq!(read_all(server.addr()), "220 ok\r\n");
    assert_eq!(read_all(server.addr()), "");
    assert!(server.wait_for_closed(3, TIMEOUT));
    assert_eq!(server.connections(), 3);
    assert!(server.errors()[0].starts_with("connection 2: no script"));
}

#[test]
fn hang_keeps_the_connection_open_and_records() {
    let server = Script::new().reply("220 hanging").hang().start().unwrap();
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    stream.write_all(b"EHLO x\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 8];
    let err = reader.read(&mut buf).expect_err("no reply expected");
    assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{err}");
    assert_eq!(server.transcripts(), [["EHLO x"]]);
    // Dropping the server closes the hanging connection.
    drop(server);
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(reader.read(&mut buf).unwrap_or(0), 0);
}

#[test]
fn ipv6_loopback() {
    let server = match ServerBuilder::new(Script::new().reply("220 v6")).ipv6().start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: no IPv6 loopback here ({e})");
            return;
        }
    };
    assert!(server.addr().is_ipv6());
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text, "220 v6\r\n");
}

#[test]
fn refuses_non_loopback_bind() {
    let err = ServerBuilder::new(Script::new()).bind("0.0.0.0:0".parse().unwrap()).start().unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<smtp_probe_testserver::TestServer>();
    assert_send_sync::<smtp_probe_testserver::TestCert>();
    assert_send_sync::<smtp_probe_testserver::TestPki>();
    assert_send_sync::<smtp_probe_testserver::Responder>();
    assert_send_sync::<Script>();
}
