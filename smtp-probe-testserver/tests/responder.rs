//! Responsive mode, plain text.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::{TIMEOUT, connect, plain};
use smtp_probe_testserver::{Responder, ServerBuilder};

#[tokio::test]
async fn full_plain_session() {
    let server = Responder::new().start().unwrap();
    let mut c = connect(server.addr()).await;
    assert_eq!(c.reply().await, ["220 mx.test ESMTP smtp-probe test server"]);
    let ehlo = c.cmd("EHLO probe.test").await;
    assert_eq!(
        ehlo,
        [
            "250-mx.test",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250 SMTPUTF8"
        ],
        "no STARTTLS without a cert, no AUTH outside TLS"
    );
    assert_eq!(c.cmd1("NOOP").await, "250 2.0.0 Ok");
    assert_eq!(c.cmd1("RCPT TO:<probe@mx.test>").await, "503 5.5.1 Error: need MAIL command");
    assert_eq!(c.cmd1("MAIL FROM:<probe@client.test>").await, "250 2.1.0 Ok");
    assert_eq!(c.cmd1("MAIL FROM:<again@client.test>").await, "503 5.5.1 Error: nested MAIL command");
    assert_eq!(c.cmd1("RCPT TO:<Probe@MX.test>").await, "250 2.1.5 Ok");
    assert_eq!(
        c.cmd1("RCPT TO:<nobody@mx.test>").await,
        "550 5.1.1 <nobody@mx.test>: Recipient address rejected: User unknown"
    );
    assert_eq!(
        c.cmd1("RCPT TO:<someone@elsewhere.test>").await,
        "554 5.7.1 <someone@elsewhere.test>: Relay access denied"
    );
    assert_eq!(c.cmd1("DATA").await, "354 End data with <CR><LF>.<CR><LF>");
    c.send("Subject: smtp-probe test 42\r\nX-Probe:\r\n  folded\r\n\r\nbody\r\n..leading dot\r\n.\r\n").await;
    let queued = c.reply().await;
    assert!(queued[0].starts_with("250 2.0.0 Ok: queued as "), "{queued:?}");
    assert_eq!(c.cmd1("RSET").await, "250 2.0.0 Ok");
    assert_eq!(c.cmd1("VRFY probe").await, "502 5.5.1 VRFY command is disabled");
    assert_eq!(c.cmd1("XYZZY").await, "502 5.5.2 Error: command not recognized");
    assert_eq!(c.cmd1("STARTTLS").await, "454 4.7.0 TLS not available due to local problem");
    assert_eq!(c.cmd1("quit").await, "221 2.0.0 Bye");
    assert_eq!(c.line().await, "");

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.helo, "probe.test");
    assert_eq!(m.mail_from, "probe@client.test");
    assert_eq!(m.rcpt_to, ["Probe@MX.test"]);
    assert_eq!(m.header("subject").as_deref(), Some("smtp-probe test 42"));
    assert_eq!(m.header("X-Probe").as_deref(), Some("folded"));
    assert!(m.data_str().ends_with("body\r\n.leading dot\r\n"), "{:?}", m.data_str());
    assert!(!m.tls);
    assert_eq!(format!("250 2.0.0 Ok: queued as {}", m.queue_id), queued[0]);
    assert!(server.transcripts()[0].iter().any(|l| l == "quit"));
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = Responder::new().start().unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO probe.test").await;
    c.send("MAIL FROM:<>\r\nRCPT TO:<postmaster@example.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n").await;
    assert_eq!(c.reply().await, ["250 2.1.0 Ok"]);
    assert_eq!(c.reply().await, ["250 2.1.5 Ok"]);
    assert!(c.reply().await[0].starts_with("550 5.1.1"));
    assert_eq!(c.reply().await, ["354 End data with <CR><LF>.<CR><LF>"]);
    c.send("Subject: hi\r\n\r\n.\r\nQUIT\r\n").await;
    assert!(c.reply().await[0].starts_with("250 2.0.0 Ok: queued as"));
    assert_eq!(c.reply().await, ["221 2.0.0 Bye"]);
    assert!(server.wait_for_messages(1, TIMEOUT));
    assert_eq!(server.messages()[0].mail_from, "");
}

#[tokio::test]
async fn helo_only_greylist_and_custom_greeting() {
    let server = Responder::new()
        .hostname("old.test")
        .greeting("220-old.test first line\n220 old.test ready")
        .helo_only(true)
        .greylist(true)
        .start()
        .unwrap();
    let mut c = connect(server.addr()).await;
    assert_eq!(c.reply().await, ["220-old.test first line", "220 old.test ready"]);
    assert_eq!(c.cmd1("EHLO probe.test").await, "502 5.5.2 Error: command not recognized");
    assert_eq!(c.cmd1("MAIL FROM:<a@b.test>").await, "503 5.5.1 Error: send HELO/EHLO first");
    assert_eq!(c.cmd1("HELO probe.test").await, "250 old.test");
    assert_eq!(c.cmd1("MAIL FROM:<a@b.test>").await, "250 2.1.0 Ok");
    assert_eq!(
        c.cmd1("RCPT TO:<test@example.test>").await,
        "450 4.7.1 <test@example.test>: Recipient address rejected: Greylisted, try again later"
    );
    assert_eq!(c.cmd1("DATA").await, "554 5.5.1 Error: no valid recipients");
}

#[tokio::test]
async fn refusing_greeting_only_allows_quit() {
    let server = Responder::new().greeting("554 5.3.2 mx.test no SMTP service here").start().unwrap();
    let mut c = connect(server.addr()).await;
    assert_eq!(c.reply().await, ["554 5.3.2 mx.test no SMTP service here"]);
    assert_eq!(c.cmd1("EHLO x").await, "503 5.5.1 Error: no service");
    assert_eq!(c.cmd1("QUIT").await, "221 2.0.0 Bye");
}

#[tokio::test]
async fn require_tls_for_mail_and_auth_before_tls() {
    let server =
        Responder::new().require_tls_for_mail(true).auth_before_tls(true).user("alice", "secret").start().unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    let ehlo = c.cmd("EHLO x").await;
    assert_eq!(ehlo.last().unwrap(), "250 AUTH PLAIN LOGIN");
    assert_eq!(
        c.cmd1(&format!("AUTH PLAIN {}", plain("alice", "secret"))).await,
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(c.cmd1("MAIL FROM:<alice@mx.test>").await, "530 5.7.0 Must issue a STARTTLS command first");
}

#[test]
fn slow_replies_from_a_blocking_client() {
    let server = Responder::new().reply_delay(Duration::from_millis(150)).start().unwrap();
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    stream.write_all(b"NOOP\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "250 2.0.0 Ok\r\n");
    assert!(started.elapsed() >= Duration::from_millis(280), "{:?}", started.elapsed());
}

#[test]
fn clients_vanishing_mid_command_do_not_break_the_server() {
    let server = Responder::new().start().unwrap();
    for garbage in [&b""[..], b"EHLO", b"MAIL FROM:<a", b"\xff\xfe\x00garbage\r\n", b"DATA\r\n"] {
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        s.write_all(garbage).unwrap();
        drop(s);
    }
    // Mid-DATA disconnect.
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<test@mx.test>\r\nDATA\r\nSubject: cut").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    assert!(server.wait_for_closed(6, TIMEOUT), "{:?}", server.connection_logs());
    assert!(server.messages().is_empty());

    // Still serving.
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "));
    s.write_all(b"QUIT\r\n").unwrap();
}

#[test]
fn recording_can_be_turned_off() {
    let server = ServerBuilder::new(Responder::new()).record(false).start().unwrap();
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    s.write_all(b"QUIT\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "221 2.0.0 Bye\r\n");
    assert_eq!(server.connections(), 1);
    assert!(server.transcripts()[0].is_empty());
}
