//! A small HTTPS server for MTA-STS policies on loopback: it serves `/.well-known/mta-sts.txt` for each
//! `mta-sts.<domain>` from a directory laid out as the DNSSEC bed writes it
//! (`<dir>/<domain>/.well-known/mta-sts.txt`), with the certificate given, and the ways a policy fetch can fail:
//! a missing file (404), another certificate for some names, a redirect, a wrong media type, a body that never
//! says its length (chunked, or until the connection closes).
//!
//! ```no_run
//! # async fn demo(cert: Vec<rustls::pki_types::CertificateDer<'static>>,
//! #               key: rustls::pki_types::PrivateKeyDer<'static>) -> std::io::Result<()> {
//! use smtp_probe_testserver::policy_server::{Behaviour, PolicyServer};
//!
//! let server = PolicyServer::builder("/var/tmp/smtp-probe-dns/mta-sts".into(), cert, key)
//!     .behaviour("redirect.example", Behaviour::Redirect("https://elsewhere.example/".into()))
//!     .start()
//!     .await?;
//! println!("policies on https://{}", server.addr());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How the server answers for one domain (other than serving its file).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// Serve the file with `Content-Length` (404 when there is none). The default.
    File,
    /// Serve the file chunked, without a length.
    Chunked,
    /// Serve the file without a length, ending it by closing the connection.
    UntilClose,
    /// `301` to this location.
    Redirect(String),
    /// Serve the file with this `Content-Type`.
    ContentType(String),
    /// This status, no body.
    Status(u16),
}

/// Builds a [`PolicyServer`].
#[derive(Debug)]
pub struct PolicyServerBuilder {
    dir: PathBuf,
    cert: Arc<CertifiedKey>,
    other_certs: HashMap<String, Arc<CertifiedKey>>,
    behaviours: HashMap<String, Behaviour>,
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct PolicyServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn certified(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> std::io::Result<Arc<CertifiedKey>> {
    let provider = rustls::crypto::ring::default_provider();
    let key = provider.key_provider.load_private_key(key).map_err(std::io::Error::other)?;
    Ok(Arc::new(CertifiedKey::new(chain, key)))
}

impl PolicyServer {
    /// A server for the policies under `dir`, presenting `chain` (leaf first) with `key`.
    pub fn builder(
        dir: PathBuf,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> PolicyServerBuilder {
        let cert = certified(chain, key).expect("a usable certificate and key");
        PolicyServerBuilder { dir, cert, other_certs: HashMap::new(), behaviours: HashMap::new() }
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl PolicyServerBuilder {
    /// Present another certificate to clients asking for `mta-sts.<domain>`.
    pub fn certificate_for(
        mut self,
        domain: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> std::io::Result<Self> {
        self.other_certs.insert(format!("mta-sts.{}", domain.to_ascii_lowercase()), certified(chain, key)?);
        Ok(self)
    }

    /// Answer for `domain` this way.
    pub fn behaviour(mut self, domain: &str, behaviour: Behaviour) -> Self {
        self.behaviours.insert(domain.to_ascii_lowercase(), behaviour);
        self
    }

    /// Listens on 127.0.0.1 (a free port) and serves until dropped.
    pub async fn start(self) -> std::io::Result<PolicyServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let resolver = Arc::new(BySni { default: self.cert, others: self.other_certs });
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let state = Arc::new((self.dir, self.behaviours));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let serve = async {
                        let mut tls = acceptor.accept(stream).await.ok()?;
                        let host = read_host(&mut tls).await?;
                        let domain = host.strip_prefix("mta-sts.").unwrap_or(&host).to_owned();
                        let response = respond(&state.0, state.1.get(&domain).unwrap_or(&Behaviour::File), &domain);
                        tls.write_all(&response).await.ok()?;
                        tls.shutdown().await.ok()
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(10), serve).await;
                });
            }
        });
        Ok(PolicyServer { addr, task })
    }
}

#[derive(Debug)]
struct BySni {
    default: Arc<CertifiedKey>,
    others: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase).unwrap_or_default();
        Some(self.others.get(&name).unwrap_or(&self.default).clone())
    }
}

/// The `Host` of a request (lower case, without a port); `None` for anything that is not a request head within
/// 8 KiB.
async fn read_host<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 8192 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    text.lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| v.trim()))
        .map(|v| v.split(':').next().unwrap_or(v).to_ascii_lowercase())
}

fn respond(dir: &std::path::Path, behaviour: &Behaviour, domain: &str) -> Vec<u8> {
    let file = std::fs::read(dir.join(domain).join(".well-known/mta-sts.txt")).ok();
    let head = |status: &str, headers: &str| format!("HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n");
    let mut out = Vec::new();
    match (behaviour, file) {
        (Behaviour::Redirect(location), _) => {
            out.extend(head("301 Moved Permanently", &format!("Location: {location}\r\nContent-Length: 0\r\n")).bytes())
        }
        (Behaviour::Status(code), _) => out.extend(head(&format!("{code} Status"), "Content-Length: 0\r\n").bytes()),
        (_, None) => {
            out.extend(head("404 Not Found", "Content-Type: text/plain\r\nContent-Length: 10\r\n").bytes());
            out.extend_from_slice(b"not found\n");
        }
        (Behaviour::ContentType(ct), Some(body)) => {
            out.extend(head("200 OK", &format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", body.len())).bytes());
            out.extend(body);
        }
        (Behaviour::Chunked, Some(body)) => {
            out.extend(head("200 OK", "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n").bytes());
            for chunk in body.chunks(4000) {
                out.extend(format!("{:x}\r\n", chunk.len()).bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        (Behaviour::UntilClose, Some(body)) => {
            out.extend(head("200 OK", "Content-Type: text/plain; charset=utf-8\r\n").bytes());
            out.extend(body);
        }
        (_, Some(body)) => {
            out.extend(
                head("200 OK", &format!("Content-Type: text/plain\r\nContent-Length: {}\r\n", body.len())).bytes(),
            );
            out.extend(body);
        }
    }
    out
}

/// The policy server of the domain bed: the bed's policy files, with the loopback Postfix's certificate (issued
/// by the test CA for `*.<scenario>.mail.test`; `postfix_dir` is the state directory of `.ci/postfix.sh`), and for
/// [`Scenario::PolicyWrongCert`](crate::domain_bed::Scenario) a certificate from a CA nobody trusts.
pub async fn start_for_bed(
    dns: &crate::domain_bed::DnsEnv,
    postfix_dir: &std::path::Path,
) -> std::io::Result<PolicyServer> {
    let (chain, key) = postfix_certificate(postfix_dir)?;
    let wrong_domain = dns.zone(crate::domain_bed::Scenario::PolicyWrongCert).to_owned();
    let pki = crate::certs::TestPki::new().map_err(std::io::Error::other)?;
    let wrong = pki
        .issue(
            crate::certs::CertSpec::new()
                .names([format!("mta-sts.{wrong_domain}")])
                .issued_by(crate::certs::IssuedBy::UntrustedCa),
        )
        .map_err(std::io::Error::other)?;
    PolicyServer::builder(dns.mta_sts_dir.clone(), chain, key)
        .certificate_for(&wrong_domain, wrong.cert_chain(), wrong.private_key())?
        .start()
        .await
}

/// The loopback Postfix's certificate chain and key (issued by the test CA for every name of the bed), from the
/// state directory of `.ci/postfix.sh`.
pub fn postfix_certificate(
    postfix_dir: &std::path::Path,
) -> std::io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    use rustls::pki_types::pem::PemObject;

    let pem = |name: &str| std::fs::read(postfix_dir.join(name));
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&pem("server.pem")?).collect::<Result<_, _>>().map_err(std::io::Error::other)?;
    let key = PrivateKeyDer::from_pem_slice(&pem("server.key")?).map_err(std::io::Error::other)?;
    Ok((chain, key))
}
