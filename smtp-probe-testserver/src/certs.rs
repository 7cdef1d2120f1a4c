//! Throw-away PKI for tests: a test CA, leaf certificates with chosen names,
//! key types, validity windows and issuers, and ready-made rustls configs.
//!
//! ```
//! use smtp_probe_testserver::certs::{CertSpec, TestPki, Validity};
//!
//! let pki = TestPki::new()?;
//! let good = pki.issue(CertSpec::default())?;
//! let expired = pki.issue(CertSpec::default().validity(Validity::Expired { days_ago: 3 }))?;
//! assert!(good.chain_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(expired.not_after() < time::OffsetDateTime::now_utc());
//! # Ok::<(), smtp_probe_testserver::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::Error;

/// The rustls crypto provider used everywhere in this crate (`ring`).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The key algorithm of a leaf certificate.
///
/// RSA is not offered: rcgen can only generate RSA keys with the aws-lc-rs
/// backend, which this crate avoids so that it builds without cmake/NASM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// The validity window of a leaf certificate, relative to the time of issue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validity {
    /// Valid from one day ago until 365 days from now (the default).
    #[default]
    Valid,
    /// Expired: `not_after` is `days_ago` days in the past (0 = a few seconds ago),
    /// `not_before` a year before that.
    Expired {
        /// How many days ago the certificate expired.
        days_ago: u32,
    },
    /// Not valid yet: `not_before` is 30 days from now.
    NotYetValid,
    /// Valid since one day ago, expiring `n` days from now (for "expires soon" warnings).
    ExpiresInDays(u32),
    /// An explicit window.
    Between {
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
}

impl Validity {
    fn window(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        let day = Duration::days(1);
        match self {
            Validity::Valid => (now - day, now + Duration::days(365)),
            Validity::Expired { days_ago } => {
                let not_after = now - Duration::days(i64::from(days_ago)) - Duration::minutes(1);
                (not_after - Duration::days(365), not_after)
            }
            Validity::NotYetValid => (now + Duration::days(30), now + Duration::days(395)),
            Validity::ExpiresInDays(n) => (now - day, now + Duration::days(i64::from(n))),
            Validity::Between { not_before, not_after } => (not_before, not_after),
        }
    }
}

/// Who signs a leaf certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuedBy {
    /// The [`TestPki`]'s CA, which [`TestPki::client_config`] trusts (the default).
    #[default]
    TestCa,
    /// The leaf signs itself (still CA:FALSE); no client trusts it.
    SelfSigned,
    /// A second CA of the [`TestPki`] that nobody trusts. The presented chain is
    /// leaf + that CA, so clients see a complete chain to an unknown root.
    UntrustedCa,
}

/// What leaf certificate to issue. Build it with the chained setters:
/// `CertSpec::default().names(["wrong.example"]).validity(Validity::NotYetValid)`.
///
/// A "wrong name" certificate is just one whose [`names`](Self::names) do not
/// include the name the client checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    /// SANs: DNS names and IP addresses (anything that parses as an IP is an IP SAN).
    /// The first one is also the subject CN. Default: `mx.test`, `localhost`, `127.0.0.1`, `::1`.
    pub names: Vec<String>,
    /// Key algorithm. Default ECDSA P-256.
    pub key_type: KeyType,
    /// Validity window. Default [`Validity::Valid`].
    pub validity: Validity,
    /// Issuer. Default [`IssuedBy::TestCa`].
    pub issued_by: IssuedBy,
}

impl Default for CertSpec {
    fn default() -> Self {
        CertSpec {
            names: ["mx.test", "localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            key_type: KeyType::default(),
            validity: Validity::default(),
            issued_by: IssuedBy::default(),
        }
    }
}

impl CertSpec {
    /// Same as [`CertSpec::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the SAN list (DNS names and IP addresses).
    pub fn names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the key algorithm.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Sets the validity window.
    pub fn validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }

    /// Sets the issuer.
    pub fn issued_by(mut self, issued_by: IssuedBy) -> Self {
        self.issued_by = issued_by;
        self
    }
}

/// A test PKI: a trusted test CA plus an untrusted one, both made fresh by
/// [`TestPki::new`] (ECDSA P-256, valid from a day ago for ten years).
pub struct TestPki {
    ca: Issuer<'static, KeyPair>,
    ca_cert: CertificateDer<'static>,
    ca_pem: String,
    untrusted: Issuer<'static, KeyPair>,
    untrusted_cert: CertificateDer<'static>,
    untrusted_pem: String,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "smtp-probe tests");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

fn make_ca(common_name: &str) -> Result<(Issuer<'static, KeyPair>, CertificateDer<'static>, String), Error> {
    let key = KeyPair::generate()?;
    let params = ca_params(common_name);
    let cert = params.self_signed(&key)?;
    let pem = cert.pem();
    Ok((Issuer::new(params, key), cert.der().clone(), pem))
}

fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl TestPki {
    /// Generates the test CA and the untrusted CA.
    pub fn new() -> Result<Self, Error> {
        let (ca, ca_cert, ca_pem) = make_ca("smtp-probe Test CA")?;
        let (untrusted, untrusted_cert, untrusted_pem) = make_ca("Untrusted Test CA")?;
        Ok(TestPki { ca, ca_cert, ca_pem, untrusted, untrusted_cert, untrusted_pem })
    }

    /// The test CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The test CA certificate, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_cert
    }

    /// The untrusted CA certificate, PEM (what [`IssuedBy::UntrustedCa`] chains to).
    pub fn untrusted_ca_pem(&self) -> &str {
        &self.untrusted_pem
    }

    /// A root store containing only the test CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        // The CA was made by us; it always parses.
        let _ = roots.add(self.ca_cert.clone());
        roots
    }

    /// A rustls client config (ring provider, TLS 1.2 + 1.3) that trusts only the test CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring provider supports the default protocol versions")
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Arc::new(config)
    }

    /// Issues a leaf certificate (CA:FALSE, EKU serverAuth, key usage digitalSignature).
    pub fn issue(&self, spec: CertSpec) -> Result<TestCert, Error> {
        let key = KeyPair::generate_for(spec.key_type.algorithm())?;
        let mut params = CertificateParams::new(spec.names.clone())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(first) = spec.names.first() {
            params.distinguished_name.push(DnType::CommonName, first.as_str());
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (not_before, not_after) = spec.validity.window(OffsetDateTime::now_utc());
        params.not_before = not_before;
        params.not_after = not_after;

        let mut chain = Vec::with_capacity(2);
        match spec.issued_by {
            IssuedBy::TestCa => {
                params.use_authority_key_identifier_extension = true;
                chain.push(params.signed_by(&key, &self.ca)?.der().clone());
            }
            IssuedBy::UntrustedCa => {
                params.use_authority_key_identifier_extension = true;
                chain.push(params.signed_by(&key, &self.untrusted)?.der().clone());
                chain.push(self.untrusted_cert.clone());
            }
            IssuedBy::SelfSigned => chain.push(params.self_signed(&key)?.der().clone()),
        }
        TestCert::from_parts(chain, key.serialize_der(), key.serialize_pem(), spec.names, not_before, not_after)
    }

    /// Shorthand for `issue(CertSpec::default())`: a valid cert for
    /// `mx.test`, `localhost`, `127.0.0.1` and `::1`.
    pub fn default_cert(&self) -> Result<TestCert, Error> {
        self.issue(CertSpec::default())
    }
}

/// A leaf certificate with its key and presented chain. Cheap to clone.
#[derive(Clone)]
pub struct TestCert {
    inner: Arc<CertInner>,
}

struct CertInner {
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    key_pem: String,
    chain_pem: String,
    names: Vec<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    server_config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TestCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCert")
            .field("names", &self.inner.names)
            .field("not_before", &self.inner.not_before)
            .field("not_after", &self.inner.not_after)
            .field("chain_len", &self.inner.chain.len())
            .finish_non_exhaustive()
    }
}

impl TestCert {
    fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key_der: Vec<u8>,
        key_pem: String,
        names: Vec<String>,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, Error> {
        let chain_pem = chain.iter().map(|c| der_to_pem(c)).collect::<String>();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.clone()));
        let server_config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key)?;
        Ok(TestCert {
            inner: Arc::new(CertInner {
                chain,
                key_der,
                key_pem,
                chain_pem,
                names,
                not_before,
                not_after,
                server_config: Arc::new(server_config),
            }),
        })
    }

    /// The presented chain as PEM (leaf first; for [`IssuedBy::UntrustedCa`] also the untrusted CA).
    pub fn chain_pem(&self) -> &str {
        &self.inner.chain_pem
    }

    /// The leaf certificate alone, PEM.
    pub fn cert_pem(&self) -> String {
        der_to_pem(self.cert_der())
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.inner.key_pem
    }

    /// The leaf certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.inner.chain[0]
    }

    /// The presented chain (leaf first), as rustls types.
    pub fn cert_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.chain.clone()
    }

    /// The private key, as a rustls type (PKCS#8).
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.inner.key_der.clone()))
    }

    /// The SANs the certificate was issued for.
    pub fn names(&self) -> &[String] {
        &self.inner.names
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.inner.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.inner.not_after
    }

    /// A rustls server config (ring provider, TLS 1.2 + 1.3, no client auth)
    /// presenting this certificate. This is what the test server uses.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.inner.server_config)
    }
}
