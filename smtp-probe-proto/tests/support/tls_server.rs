//! An in-memory SMTP server speaking real TLS (rustls, ring provider), a test PKI made with rcgen, and a driver
//! that runs a [`Session`] against the server on a simulated clock.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};
use smtp_probe_proto::{Report, Session, SessionOutput};

pub const USER: &str = "probe@mx.test";
pub const PASSWORD: &str = "c0rrect-h0rse-TLS";
pub const DAY: i64 = 86_400;

/// The wall time every test probes at: 2026-06-15T09:30:00Z. Certificates are dated relative to it, to the second.
pub fn wall_unix() -> i64 {
    rcgen::date_time_ymd(2026, 6, 15).unix_timestamp() + 9 * 3600 + 30 * 60
}

pub fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(wall_unix() as u64)
}

/// The connection instant of a test: the one clock read a test makes. Everything after it is simulated.
#[allow(clippy::disallowed_methods)]
pub fn start() -> Instant {
    Instant::now()
}

/// Sets a certificate's validity to `[wall + from, wall + to]` (seconds, either may be negative).
fn set_validity(params: &mut CertificateParams, from: i64, to: i64) {
    let at = |offset: i64| {
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        epoch + Duration::from_secs((wall_unix() + offset) as u64)
    };
    params.not_before = at(from);
    params.not_after = at(to);
}

/// `"2026-06-03T09:30:00Z"` for `wall + offset` seconds, as the report writes dates.
pub fn rfc3339(offset: i64) -> String {
    let t = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs((wall_unix() + offset) as u64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A private CA.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub name: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, -400 * DAY, 3650 * DAY);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer, name: name.to_owned() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// An intermediate CA issued by this one, valid over `[wall + from, wall + to]` seconds.
    pub fn intermediate(&self, name: &str, from: i64, to: i64) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, from, to);
        let issuer = CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        Ca { issuer, name: name.to_owned() }
    }

    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A server certificate: CA:FALSE, EKU serverAuth, the SANs given (the first is also the CN), valid over
    /// `[wall + from, wall + to]` seconds.
    pub fn leaf(&self, sans: &[&str], from: i64, to: i64) -> Leaf {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, sans[0]);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, from, to);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { der: cert.der().to_vec(), ca_der: self.der(), key_der: key.serialize_der() }
    }
}

/// A server certificate, its key, and the CA that issued it (sent along as the chain's second certificate when
/// asked).
#[derive(Clone)]
pub struct Leaf {
    pub der: Vec<u8>,
    pub ca_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Leaf {
    pub fn sha256(&self) -> String {
        sha256_hex(&self.der)
    }
}

/// How the server's TLS is set up.
#[derive(Clone)]
pub struct ServerTls {
    pub leaf: Leaf,
    pub send_ca: bool,
    pub versions: &'static [&'static SupportedProtocolVersion],
    pub provider: CryptoProvider,
    /// Send application data (the implicit-TLS greeting) with the server's handshake flight (TLS 1.3 0.5-RTT).
    pub half_rtt: bool,
    /// More certificates to send after the leaf (and the CA), as they are: garbage included.
    pub extra_chain: Vec<Vec<u8>>,
}

impl ServerTls {
    pub fn new(leaf: Leaf) -> ServerTls {
        ServerTls {
            leaf,
            send_ca: false,
            versions: rustls::ALL_VERSIONS,
            provider: rustls::crypto::ring::default_provider(),
            half_rtt: false,
            extra_chain: Vec::new(),
        }
    }

    fn config(&self) -> Arc<ServerConfig> {
        let mut chain = vec![CertificateDer::from(self.leaf.der.clone())];
        if self.send_ca {
            chain.push(CertificateDer::from(self.leaf.ca_der.clone()));
        }
        chain.extend(self.extra_chain.iter().cloned().map(CertificateDer::from));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf.key_der.clone()));
        let mut config = ServerConfig::builder_with_provider(Arc::new(self.provider.clone()))
            .with_protocol_versions(self.versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.send_half_rtt_data = self.half_rtt;
        Arc::new(config)
    }
}

/// TLS from the first byte, or plaintext until STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    StartTls,
    Implicit,
}

/// What the server does with the client's first TLS bytes (the ClientHello).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHello {
    /// A TLS handshake.
    Handshake,
    /// Answers in plaintext: `500 what`.
    Garbage,
    /// Closes the connection.
    Close,
    /// Says nothing, ever.
    Silent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthState {
    Idle,
    PlainResponse,
    LoginUser,
    LoginPassword(String),
}

/// A command the server received, and whether it came inside TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub line: String,
    pub tls: bool,
}

/// The SMTP server.
pub struct Server {
    mode: Mode,
    tls_config: Arc<ServerConfig>,
    on_hello: OnHello,
    /// STARTTLS was accepted (or the mode is implicit): the next bytes are TLS.
    tls_expected: bool,
    tls: Option<ServerConnection>,
    handshake_done: bool,
    greeted: bool,
    input: Vec<u8>,
    out: Vec<u8>,
    closed: bool,
    auth: AuthState,
    pub received: Vec<Received>,
    pub sni: Option<String>,
    pub tls_error: Option<rustls::Error>,
    /// The client ended TLS with close_notify.
    pub close_notify: bool,
}

impl Server {
    pub fn new(mode: Mode, tls: &ServerTls) -> Server {
        let mut server = Server {
            mode,
            tls_config: tls.config(),
            on_hello: OnHello::Handshake,
            tls_expected: mode == Mode::Implicit,
            tls: None,
            handshake_done: false,
            greeted: false,
            input: Vec::new(),
            out: Vec::new(),
            closed: false,
            auth: AuthState::Idle,
            received: Vec::new(),
            sni: None,
            tls_error: None,
            close_notify: false,
        };
        if mode == Mode::StartTls {
            server.reply("220 mx.test ESMTP test server");
        }
        server
    }

    pub fn on_hello(mut self, on_hello: OnHello) -> Server {
        self.on_hello = on_hello;
        self
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    /// What the server has written since last asked: one read for the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.flush();
        std::mem::take(&mut self.out)
    }

    /// Bytes from the client.
    pub fn receive(&mut self, mut bytes: &[u8]) {
        if self.closed && self.tls_error.is_none() {
            // After QUIT the server reads on only to see whether the client says close_notify.
            if let Some(conn) = &mut self.tls {
                let _ = conn.read_tls(&mut bytes);
                if conn.process_new_packets().is_ok_and(|state| state.peer_has_closed()) {
                    self.close_notify = true;
                }
            }
            return;
        }
        if self.closed || bytes.is_empty() {
            return;
        }
        if !self.tls_expected {
            self.input.extend_from_slice(bytes);
            self.process_lines();
            return;
        }
        if self.tls.is_none() {
            match self.on_hello {
                OnHello::Handshake => self.tls = Some(ServerConnection::new(self.tls_config.clone()).unwrap()),
                OnHello::Garbage => {
                    self.out.extend_from_slice(b"500 what\r\n");
                    return;
                }
                OnHello::Close => {
                    self.closed = true;
                    return;
                }
                OnHello::Silent => return,
            }
        }
        let conn = self.tls.as_mut().unwrap();
        while !bytes.is_empty() {
            conn.read_tls(&mut bytes).unwrap();
            if let Err(err) = conn.process_new_packets() {
                self.tls_error = Some(err);
                self.flush();
                self.closed = true;
                return;
            }
            let mut buf = [0u8; 4096];
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => self.input.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        let handshaking = conn.is_handshaking();
        let sni = conn.server_name().map(str::to_owned);
        if !self.handshake_done && !handshaking {
            self.handshake_done = true;
            self.sni = sni;
        }
        // Implicit TLS: greet once the handshake is done, or (0.5-RTT) at once: rustls then sends the greeting
        // right after the server's Finished, in the same flight.
        if self.mode == Mode::Implicit && !self.greeted && (self.handshake_done || self.tls_config.send_half_rtt_data) {
            self.greeted = true;
            self.reply("220 mx.test ESMTP test server (TLS)");
        }
        self.process_lines();
    }

    fn flush(&mut self) {
        if let Some(conn) = &mut self.tls {
            while conn.wants_write() {
                conn.write_tls(&mut self.out).unwrap();
            }
        }
    }

    fn reply(&mut self, text: &str) {
        let bytes = format!("{}\r\n", text.replace('\n', "\r\n"));
        match &mut self.tls {
            Some(conn) => conn.writer().write_all(bytes.as_bytes()).unwrap(),
            None => self.out.extend_from_slice(bytes.as_bytes()),
        }
    }

    fn process_lines(&mut self) {
        while let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.input.drain(..end + 2).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            self.received.push(Received { line: line.clone(), tls: self.tls.is_some() });
            self.command(&line);
            if self.closed || (self.tls_expected && self.tls.is_none()) {
                // After QUIT, or STARTTLS: anything else pipelined in plaintext is dropped.
                self.input.clear();
                return;
            }
        }
    }

    fn command(&mut self, line: &str) {
        let b64 = base64::engine::general_purpose::STANDARD;
        match std::mem::replace(&mut self.auth, AuthState::Idle) {
            AuthState::Idle => {}
            AuthState::PlainResponse => return self.check_plain(line),
            AuthState::LoginUser => {
                let user = b64.decode(line).ok().and_then(|u| String::from_utf8(u).ok()).unwrap_or_default();
                self.auth = AuthState::LoginPassword(user);
                return self.reply("334 UGFzc3dvcmQ6");
            }
            AuthState::LoginPassword(user) => {
                let password = b64.decode(line).unwrap_or_default();
                return self.auth_result(user == USER && password == PASSWORD.as_bytes());
            }
        }
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        match verb {
            "EHLO" if self.tls.is_some() => {
                self.reply("250-mx.test\n250-PIPELINING\n250-SIZE 10240000\n250-AUTH PLAIN LOGIN\n250 8BITMIME")
            }
            "EHLO" => self.reply("250-mx.test\n250-PIPELINING\n250-SIZE 10240000\n250-STARTTLS\n250 8BITMIME"),
            "HELO" => self.reply("250 mx.test"),
            "STARTTLS" if self.tls.is_none() && self.mode == Mode::StartTls => {
                self.reply("220 2.0.0 Ready to start TLS");
                self.tls_expected = true;
            }
            "STARTTLS" => self.reply("503 5.5.1 TLS already active"),
            "AUTH" if self.tls.is_none() => self.reply("538 5.7.11 Encryption required"),
            "AUTH" => {
                let mut words = line.split(' ').skip(1);
                match (words.next().map(str::to_ascii_uppercase).as_deref(), words.next()) {
                    (Some("PLAIN"), Some(response)) => self.check_plain(response),
                    (Some("PLAIN"), None) => {
                        self.auth = AuthState::PlainResponse;
                        self.reply("334 ");
                    }
                    (Some("LOGIN"), _) => {
                        self.auth = AuthState::LoginUser;
                        self.reply("334 VXNlcm5hbWU6");
                    }
                    _ => self.reply("504 5.5.4 Unrecognized authentication type"),
                }
            }
            "MAIL" | "RCPT" | "RSET" | "NOOP" => self.reply("250 2.0.0 OK"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye");
                self.flush();
                self.closed = true;
            }
            _ => self.reply("500 5.5.2 What?"),
        }
    }

    fn check_plain(&mut self, response: &str) {
        let expected = format!("\0{USER}\0{PASSWORD}");
        let given = base64::engine::general_purpose::STANDARD.decode(response).unwrap_or_default();
        self.auth_result(given == expected.as_bytes());
    }

    fn auth_result(&mut self, ok: bool) {
        if ok {
            self.reply("235 2.7.0 Authentication successful");
        } else {
            self.reply("535 5.7.8 Authentication credentials invalid");
        }
    }
}

/// How the driver hands the server's bytes to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Everything the server wrote since the last read, in one `handle_input`.
    Whole,
    /// One byte per `handle_input`.
    Bytewise,
}

/// The outcome of a run.
pub struct Run {
    pub report: Report,
    pub start: Instant,
    pub end: Instant,
    pub server: Server,
    /// Number of `handle_input` calls.
    pub reads: usize,
    /// Everything the client transmitted.
    pub client_bytes: Vec<u8>,
}

impl Run {
    pub fn elapsed(&self) -> Duration {
        self.end - self.start
    }
}

/// Each server write reaches the client this long after it was made.
pub const LATENCY: Duration = Duration::from_millis(3);

/// Drives `session` against `server` until the session is done. On `Transmit` the bytes go to the server; on
/// `Timeout(d)`, whatever the server wrote is delivered (after [`LATENCY`]); if nothing, a server close is
/// delivered as EOF; if nothing again, the clock jumps to `d`.
pub fn drive(mut session: Session, mut server: Server, start: Instant, reads: Reads) -> Run {
    let mut now = start;
    let mut eof_sent = false;
    let mut count = 0;
    let mut client_bytes = Vec::new();
    for _ in 0..100_000 {
        match session.poll_output(now) {
            SessionOutput::Transmit(bytes) => {
                assert!(!bytes.is_empty(), "empty Transmit");
                client_bytes.extend_from_slice(&bytes);
                server.receive(&bytes);
            }
            SessionOutput::Timeout(deadline) => {
                let out = server.take_output();
                if !out.is_empty() {
                    now = (now + LATENCY).min(deadline.max(now));
                    match reads {
                        Reads::Whole => {
                            count += 1;
                            session.handle_input(now, &out);
                        }
                        Reads::Bytewise => {
                            for byte in out.chunks(1) {
                                count += 1;
                                session.handle_input(now, byte);
                            }
                        }
                    }
                } else if server.is_closed() && !eof_sent {
                    eof_sent = true;
                    session.handle_eof(now);
                } else {
                    assert!(deadline > now, "a deadline that does not move forward: {deadline:?} <= {now:?}");
                    now = deadline;
                    session.handle_timeout(now);
                }
            }
            SessionOutput::Done => {
                // Every later poll says Done again, and the report stays as it is.
                let report = session.report().clone();
                assert_eq!(session.poll_output(now), SessionOutput::Done);
                assert_eq!(session.into_report(), report);
                return Run { report, start, end: now, server, reads: count, client_bytes };
            }
        }
    }
    panic!("the session never finished");
}
