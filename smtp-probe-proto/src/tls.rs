//! TLS in memory, over rustls' buffered API. Every rustls call in the crate lives in this module (rustls 0.24
//! reshapes the API; this keeps the change in one place).
//!
//! A [`TlsConfig`] holds the trust settings and is built once. Each connection gets its own `TlsLayer`: a
//! `rustls::ClientConnection` fed from and drained into byte slices, with a verifier that records the presented
//! chain and *why* it did or did not verify, so certificate details reach the report even when verification fails.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::certificate;
use crate::report::{CertificateProblem, TlsFailure, TlsInfo};

/// Why a [`TlsConfig`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A CA bundle held no usable certificate.
    #[error("no usable CA certificate in {0}")]
    NoCertificates(String),
    /// A certificate could not be added to the trust store.
    #[error("invalid CA certificate: {0}")]
    InvalidCertificate(String),
    /// A pin is not 64 hex digits.
    #[error("invalid SHA-256 pin {0:?}: expected 64 hex digits")]
    InvalidPin(String),
    /// No trust anchors at all.
    #[error("no trust anchors: enable the webpki roots, the platform roots, or add a CA")]
    NoTrustAnchors,
    /// The platform store could not be read.
    #[error("platform certificate store: {0}")]
    PlatformRoots(String),
}

/// Trust settings for TLS: which roots, extra private CAs, SHA-256 pins, and whether an invalid certificate
/// stops the probe (the default) or is only reported ("inspect only"). Cheap to clone; build it once.
#[derive(Clone)]
pub struct TlsConfig(Arc<TlsConfigInner>);

struct TlsConfigInner {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
    inspect_only: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("pins", &self.0.pins.len())
            .field("inspect_only", &self.0.inspect_only)
            .finish()
    }
}

impl Default for TlsConfig {
    /// The bundled webpki roots, full verification. Built once per process and shared.
    fn default() -> Self {
        static DEFAULT: OnceLock<TlsConfig> = OnceLock::new();
        DEFAULT.get_or_init(|| TlsConfig::builder().build().expect("the bundled webpki roots are valid")).clone()
    }
}

impl TlsConfig {
    /// Starts from the bundled webpki roots and full verification.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder {
            webpki_roots: true,
            native_roots: false,
            extra: Vec::new(),
            pins: Vec::new(),
            inspect_only: false,
        }
    }

    /// Whether the inspect-only override is on (see [`TlsConfigBuilder::inspect_only`]).
    pub fn inspect_only(&self) -> bool {
        self.0.inspect_only
    }
}

/// Builds a [`TlsConfig`].
#[derive(Debug, Clone)]
pub struct TlsConfigBuilder {
    webpki_roots: bool,
    native_roots: bool,
    extra: Vec<CertificateDer<'static>>,
    pins: Vec<[u8; 32]>,
    inspect_only: bool,
}

impl TlsConfigBuilder {
    /// Trust the bundled Mozilla roots (webpki-roots). On by default.
    pub fn webpki_roots(mut self, on: bool) -> Self {
        self.webpki_roots = on;
        self
    }

    /// Trust the platform's certificate store too (feature `native-roots`; read once, at `build`).
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    pub fn native_roots(mut self, on: bool) -> Self {
        self.native_roots = on;
        self
    }

    /// Trust every CA certificate in this PEM bundle (a private MTA's CA). `origin` names it in errors.
    pub fn add_ca_pem(mut self, origin: &str, pem: &[u8]) -> Result<Self, TlsConfigError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).collect();
        if certs.is_empty() {
            return Err(TlsConfigError::NoCertificates(origin.to_owned()));
        }
        self.extra.extend(certs);
        Ok(self)
    }

    /// Trust this DER CA certificate.
    pub fn add_ca_der(mut self, der: Vec<u8>) -> Self {
        self.extra.push(CertificateDer::from(der));
        self
    }

    /// Require the leaf certificate's SHA-256 fingerprint to be one of the pins (hex, colons allowed). A matching
    /// pin is a trust anchor of its own: an unknown issuer is then forgiven, expiry and name are still checked.
    pub fn pin_sha256(mut self, hex: &str) -> Result<Self, TlsConfigError> {
        let digits: String = hex.chars().filter(|c| *c != ':').collect();
        let bytes = (0..digits.len())
            .step_by(2)
            .map(|i| digits.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()))
            .collect::<Option<Vec<u8>>>();
        let pin = bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| TlsConfigError::InvalidPin(hex.to_owned()))?;
        self.pins.push(pin);
        Ok(self)
    }

    /// Inspect only: an explicit override for a certificate that does not verify. The handshake completes, the
    /// certificate is reported in full, and where it would have ended the probe (required TLS, certificate-days
    /// thresholds, credentials) the probe carries on, degraded (`certificate_invalid`) instead of down.
    /// Credentials are then sent over the unverified TLS, and a finding says so. Off by default.
    pub fn inspect_only(mut self, on: bool) -> Self {
        self.inspect_only = on;
        self
    }

    /// Builds the trust store.
    pub fn build(self) -> Result<TlsConfig, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if self.native_roots {
            add_native_roots(&mut roots)?;
        }
        for der in self.extra {
            roots.add(der).map_err(|e| TlsConfigError::InvalidCertificate(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(TlsConfigError::NoTrustAnchors);
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsConfigError::InvalidCertificate(e.to_string()))?;
        Ok(TlsConfig(Arc::new(TlsConfigInner { provider, verifier, pins: self.pins, inspect_only: self.inspect_only })))
    }
}

#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut RootCertStore) -> Result<(), TlsConfigError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        if let Some(err) = found.errors.first() {
            return Err(TlsConfigError::PlatformRoots(err.to_string()));
        }
    }
    roots.add_parsable_certificates(found.certs);
    Ok(())
}

#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_: &mut RootCertStore) -> Result<(), TlsConfigError> {
    Ok(())
}

/// What the verifier saw: the chain, and its verdict on it.
#[derive(Debug, Default)]
struct Seen {
    chain: Vec<Vec<u8>>,
    problem: Option<CertificateProblem>,
}

/// Wraps the WebPKI verifier to remember what was presented and why it failed, to apply pins, and to let the
/// handshake go on past a certificate that does not verify when the assessment says so.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
    /// Complete the handshake whatever the certificate (its problem is still recorded).
    go_on: bool,
    seen: Arc<Mutex<Seen>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut result = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        if !self.pins.is_empty() {
            let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
            let pinned = self.pins.iter().any(|pin| pin.as_slice() == digest.as_ref());
            result = match result {
                _ if !pinned => Err(rustls::Error::General("pin mismatch".to_owned())),
                // webpki checks validity before the issuer but the name only after a trusted chain: check it here.
                Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                    rustls::server::ParsedCertificate::try_from(end_entity)
                        .and_then(|cert| rustls::client::verify_server_name(&cert, server_name))
                        .map(|()| ServerCertVerified::assertion())
                }
                other => other,
            };
        }
        let problem = result.as_ref().err().map(|e| classify_certificate_error(e, !self.pins.is_empty()));
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.as_ref().to_vec()).collect();
        seen.problem = problem;
        match result {
            Err(_) if self.go_on => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn classify_certificate_error(err: &rustls::Error, pinned: bool) -> CertificateProblem {
    use CertificateError as E;
    match err {
        rustls::Error::InvalidCertificate(e) => match e {
            E::Expired | E::ExpiredContext { .. } => CertificateProblem::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => CertificateProblem::NotYetValid,
            E::NotValidForName | E::NotValidForNameContext { .. } => CertificateProblem::NameMismatch,
            E::UnknownIssuer => CertificateProblem::UnknownIssuer,
            other => CertificateProblem::Other(format!("{other:?}")),
        },
        rustls::Error::General(msg) if pinned && msg == "pin mismatch" => CertificateProblem::PinMismatch,
        other => CertificateProblem::Other(other.to_string()),
    }
}

/// Fixes rustls' idea of "now" to the wall time the caller handed in: the core reads no clock, and tests can
/// pin the date.
#[derive(Debug)]
struct FixedTime(UnixTime);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// One TLS client connection, in memory.
pub(crate) struct TlsLayer {
    conn: ClientConnection,
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    wall_unix: i64,
    sni: Option<String>,
    verified_name: String,
    established: bool,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer").field("sni", &self.sni).field("established", &self.established).finish()
    }
}

/// How feeding ciphertext went.
pub(crate) enum Fed {
    /// Fine; any decrypted bytes were appended.
    Ok,
    /// The peer sent close_notify.
    Closed,
    /// TLS broke.
    Failed(rustls::Error),
}

impl TlsLayer {
    /// Starts a handshake. `name` is the name to verify (and send as SNI when it is a DNS name), or the address
    /// literal for an IP target. `go_on` completes the handshake whatever the certificate, the certificate's
    /// problem still recorded (decided in `assess::handshake_goes_on`).
    pub(crate) fn start(
        config: &TlsConfig,
        name: &str,
        go_on: bool,
        now: Instant,
        wall: SystemTime,
    ) -> Result<TlsLayer, TlsFailure> {
        let server_name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_owned())
            .map_err(|e| TlsFailure::Handshake { reason: format!("{name:?} is not a valid TLS server name: {e}") })?;
        // rustls sends a DNS name without its trailing dot (RFC 6066): report what is sent.
        let sni =
            matches!(server_name, ServerName::DnsName(_)).then(|| name.strip_suffix('.').unwrap_or(name).to_owned());
        let wall_since_epoch = wall.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let verifier = RecordingVerifier {
            inner: config.0.verifier.clone(),
            pins: config.0.pins.clone(),
            go_on,
            seen: seen.clone(),
        };
        let mut client = ClientConfig::builder_with_details(
            config.0.provider.clone(),
            Arc::new(FixedTime(UnixTime::since_unix_epoch(wall_since_epoch))),
        )
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFailure::Handshake { reason: e.to_string() })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
        // A probe must see the certificate every time: no session resumption.
        client.resumption = rustls::client::Resumption::disabled();
        let conn = ClientConnection::new(Arc::new(client), server_name)
            .map_err(|e| TlsFailure::Handshake { reason: e.to_string() })?;
        Ok(TlsLayer {
            conn,
            seen,
            started: now,
            wall_unix: wall_since_epoch.as_secs() as i64,
            sni,
            verified_name: name.to_owned(),
            established: false,
        })
    }

    pub(crate) fn is_established(&self) -> bool {
        self.established
    }

    /// Marks the handshake done once rustls says so; true exactly once.
    pub(crate) fn poll_established(&mut self) -> bool {
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
            return true;
        }
        false
    }

    /// Feeds ciphertext from the peer; decrypted plaintext is appended to `plaintext`.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], plaintext: &mut Vec<u8>) -> Fed {
        while !bytes.is_empty() {
            if let Err(e) = self.conn.read_tls(&mut bytes) {
                return Fed::Failed(rustls::Error::General(e.to_string()));
            }
            if let Err(e) = self.conn.process_new_packets() {
                return Fed::Failed(e);
            }
            let mut buf = [0u8; 4096];
            loop {
                match self.conn.reader().read(&mut buf) {
                    Ok(0) => return Fed::Closed,
                    Ok(n) => plaintext.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return Fed::Closed,
                }
            }
        }
        Fed::Ok
    }

    /// Queues plaintext for the peer.
    pub(crate) fn write(&mut self, plaintext: &[u8]) {
        // Writing into rustls' own buffer cannot fail for an open connection.
        let _ = self.conn.writer().write_all(plaintext);
    }

    /// Ends the TLS session politely.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Ciphertext waiting to go out, if any.
    pub(crate) fn take_ciphertext(&mut self) -> Option<Vec<u8>> {
        if !self.conn.wants_write() {
            return None;
        }
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        Some(out)
    }

    /// The negotiated parameters and the certificates seen.
    pub(crate) fn info(&self, now: Instant) -> TlsInfo {
        let seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (certificates, unparsed) = certificate::describe_chain(&seen.chain, self.wall_unix);
        TlsInfo {
            version: self.conn.protocol_version().map(|v| match v {
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                other => format!("{other:?}"),
            }),
            cipher: self.conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
            sni: self.sni.clone(),
            verified_name: Some(self.verified_name.clone()),
            verified: !seen.chain.is_empty() && seen.problem.is_none(),
            verify_error: seen.problem.clone(),
            handshake: now.saturating_duration_since(self.started),
            certificates,
            unparsed,
            chain_der: seen.chain.clone(),
        }
    }

    /// Turns a rustls error during the handshake into what the probe reports: a certificate problem (with the
    /// details of what was presented) or a handshake failure.
    pub(crate) fn failure(&self, err: &rustls::Error, now: Instant) -> TlsFailure {
        let info = self.info(now);
        match info.verify_error.clone() {
            Some(problem) => TlsFailure::Certificate { problem, info: Box::new(info) },
            None => TlsFailure::Handshake { reason: err.to_string() },
        }
    }
}
