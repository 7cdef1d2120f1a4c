//! STARTTLS, implicit TLS, AUTH and certificate failure modes.

mod common;

use common::{Client, TIMEOUT, b64, connect, plain, rustls_error, tls_handshake};
use smtp_probe_testserver::rustls::{CertificateError, Error as TlsError};
use smtp_probe_testserver::{CertSpec, IssuedBy, KeyType, Responder, Script, TestPki, Validity};
use tokio::net::TcpStream;

#[tokio::test]
async fn starttls_then_auth_plain_good_and_bad() {
    let pki = TestPki::new().unwrap();
    let cert = pki.default_cert().unwrap();
    let server = Responder::new().cert(&cert).user("alice", "secret").require_tls_for_mail(true).start().unwrap();

    let mut c = connect(server.addr()).await;
    c.reply().await;
    let ehlo = c.cmd("EHLO probe.test").await;
    assert!(ehlo.contains(&"250-STARTTLS".to_owned()), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "{ehlo:?}");
    assert_eq!(c.cmd1("MAIL FROM:<a@b.test>").await, "530 5.7.0 Must issue a STARTTLS command first");
    assert_eq!(c.cmd1("STARTTLS").await, "220 2.0.0 Ready to start TLS");

    let tls = tls_handshake(&pki, c.io.into_inner(), "mx.test").await.unwrap();
    let mut c = Client::new(tls);
    assert_eq!(c.cmd1("AUTH PLAIN x").await, "503 5.5.1 Error: send HELO/EHLO first", "state is reset after STARTTLS");
    let ehlo = c.cmd("EHLO probe.test").await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert_eq!(ehlo.last().unwrap(), "250 AUTH PLAIN LOGIN");
    assert_eq!(c.cmd1("STARTTLS").await, "554 5.5.1 Error: TLS already active");

    let bad = c.cmd1(&format!("AUTH PLAIN {}", plain("alice", "wrong"))).await;
    assert!(bad.starts_with("535 5.7.8 "), "{bad}");
    // Empty-challenge form.
    assert_eq!(c.cmd1("AUTH PLAIN").await, "334");
    assert_eq!(c.cmd1(&plain("alice", "secret")).await, "235 2.7.0 Authentication successful");
    assert_eq!(c.cmd1("AUTH PLAIN x").await, "503 5.5.1 Error: already authenticated");
    // Authenticated: relaying allowed.
    assert_eq!(c.cmd1("MAIL FROM:<alice@mx.test>").await, "250 2.1.0 Ok");
    assert_eq!(c.cmd1("RCPT TO:<bob@elsewhere.test>").await, "250 2.1.5 Ok");
    assert_eq!(c.cmd1("DATA").await, "354 End data with <CR><LF>.<CR><LF>");
    assert!(c.cmd1("Subject: over tls\r\n\r\nhi\r\n.").await.starts_with("250 2.0.0 Ok"));
    assert_eq!(c.cmd1("QUIT").await, "221 2.0.0 Bye");
    assert_eq!(c.line().await, "");
    drop(c);

    let msg = &server.messages()[0];
    assert!(msg.tls);
    assert_eq!(msg.authenticated_as.as_deref(), Some("alice"));

    assert!(server.wait_for_closed(1, TIMEOUT));
    let log = &server.connection_logs()[0];
    assert_eq!(log.lines_before_tls(), ["EHLO probe.test", "MAIL FROM:<a@b.test>", "STARTTLS"]);
    assert!(!log.lines_before_tls().iter().any(|l| l.starts_with("AUTH")));
    assert_eq!(log.lines_in_tls()[1], "EHLO probe.test", "EHLO re-sent after STARTTLS");
    assert_eq!(log.sni.as_deref(), Some("mx.test"));
    assert_eq!(log.tls_version.as_deref(), Some("TLSv1_3"));
    assert!(log.errors.is_empty(), "{:?}", log.errors);
}

#[tokio::test]
async fn auth_login_and_auth_outside_tls() {
    let pki = TestPki::new().unwrap();
    let server = Responder::new().cert(&pki.default_cert().unwrap()).user("bob", "hunter2").start().unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd1("AUTH LOGIN").await, "503 5.5.1 Error: authentication not enabled");
    c.cmd1("STARTTLS").await;
    let mut c = Client::new(tls_handshake(&pki, c.io.into_inner(), "localhost").await.unwrap());
    c.cmd("EHLO x").await;
    assert_eq!(c.cmd1("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd1(&b64("bob")).await, "334 UGFzc3dvcmQ6");
    assert!(c.cmd1(&b64("nope")).await.starts_with("535 5.7.8"));
    assert_eq!(c.cmd1(&format!("AUTH LOGIN {}", b64("bob"))).await, "334 UGFzc3dvcmQ6");
    assert_eq!(c.cmd1(&b64("hunter2")).await, "235 2.7.0 Authentication successful");
}

#[tokio::test]
async fn implicit_tls_responder_and_script() {
    let pki = TestPki::new().unwrap();
    let cert = pki.default_cert().unwrap();

    let server = Responder::new().cert(&cert).implicit_tls(true).start().unwrap();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut c = Client::new(tls_handshake(&pki, tcp, "127.0.0.1").await.unwrap());
    assert_eq!(c.reply().await, ["220 mx.test ESMTP smtp-probe test server"]);
    let ehlo = c.cmd("EHLO x").await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert!(ehlo.iter().any(|l| l.contains("AUTH PLAIN LOGIN")), "{ehlo:?}");
    assert_eq!(c.cmd1("QUIT").await, "221 2.0.0 Bye");
    assert_eq!(server.connection_logs()[0].tls_started_at, Some(0));

    let server = Script::new().implicit_tls(&cert).reply("220 smtps").start().unwrap();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut c = Client::new(tls_handshake(&pki, tcp, "mx.test").await.unwrap());
    assert_eq!(c.reply().await, ["220 smtps"]);
}

#[tokio::test]
async fn scripted_starttls() {
    let pki = TestPki::new().unwrap();
    let cert = pki.default_cert().unwrap();
    let server = Script::new()
        .reply("220 mx.test ESMTP")
        .expect("STARTTLS")
        .reply("220 go ahead")
        .start_tls(&cert)
        .expect("EHLO")
        .reply("250 mx.test")
        .start()
        .unwrap();
    let mut c = connect(server.addr()).await;
    c.reply().await;
    assert_eq!(c.cmd1("STARTTLS").await, "220 go ahead");
    let mut c = Client::new(tls_handshake(&pki, c.io.into_inner(), "mx.test").await.unwrap());
    assert_eq!(c.cmd1("EHLO again").await, "250 mx.test");
    drop(c);
    assert!(server.wait_for_closed(1, TIMEOUT));
    let log = &server.connection_logs()[0];
    assert_eq!(log.lines_in_tls(), ["EHLO again"]);
}

/// Connects over implicit TLS to a server presenting `spec` and returns the
/// client-side handshake error, plus what the server recorded.
async fn handshake_error(pki: &TestPki, spec: CertSpec, name: &str) -> (TlsError, Vec<String>) {
    let cert = pki.issue(spec).unwrap();
    let server = Script::new().implicit_tls(&cert).reply("220 x").start().unwrap();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let err = tls_handshake(pki, tcp, name).await.expect_err("handshake must fail");
    let tls_err = rustls_error(&err).unwrap_or_else(|| panic!("not a rustls error: {err}")).clone();
    assert!(server.wait_for_closed(1, TIMEOUT));
    (tls_err, server.errors())
}

#[tokio::test]
async fn expired_certificate_is_rejected() {
    let pki = TestPki::new().unwrap();
    let spec = CertSpec::default().validity(Validity::Expired { days_ago: 2 });
    let (err, server_errors) = handshake_error(&pki, spec, "mx.test").await;
    assert!(
        matches!(
            err,
            TlsError::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })
        ),
        "{err:?}"
    );
    assert!(server_errors.iter().any(|e| e.contains("TLS handshake failed")), "{server_errors:?}");
}

#[tokio::test]
async fn other_bad_certificates_are_rejected() {
    let pki = TestPki::new().unwrap();

    let (err, _) = handshake_error(&pki, CertSpec::default().validity(Validity::NotYetValid), "mx.test").await;
    assert!(
        matches!(
            err,
            TlsError::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
        ),
        "{err:?}"
    );

    let (err, _) = handshake_error(&pki, CertSpec::default(), "other.test").await;
    assert!(
        matches!(
            err,
            TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );

    for issuer in [IssuedBy::SelfSigned, IssuedBy::UntrustedCa] {
        let (err, _) = handshake_error(&pki, CertSpec::default().issued_by(issuer), "mx.test").await;
        assert!(matches!(err, TlsError::InvalidCertificate(CertificateError::UnknownIssuer)), "{issuer:?}: {err:?}");
    }
}

#[tokio::test]
async fn key_types_and_expiring_soon_work() {
    let pki = TestPki::new().unwrap();
    for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
        let cert = pki.issue(CertSpec::default().key_type(key_type).validity(Validity::ExpiresInDays(3))).unwrap();
        let server = Script::new().implicit_tls(&cert).reply("220 ok").start().unwrap();
        let tcp = TcpStream::connect(server.addr()).await.unwrap();
        let mut c = Client::new(tls_handshake(&pki, tcp, "::1").await.unwrap());
        assert_eq!(c.reply().await, ["220 ok"], "{key_type:?}");
    }
}

#[test]
fn pem_accessors() {
    let pki = TestPki::new().unwrap();
    assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(!pki.ca_der().is_empty());
    let cert = pki.issue(CertSpec::default().issued_by(IssuedBy::UntrustedCa)).unwrap();
    assert_eq!(cert.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(cert.cert_chain().len(), 2);
    assert!(cert.key_pem().contains("PRIVATE KEY"));
    assert!(cert.chain_pem().starts_with(&cert.cert_pem()));
    assert_eq!(cert.names(), ["mx.test", "localhost", "127.0.0.1", "::1"]);
}
