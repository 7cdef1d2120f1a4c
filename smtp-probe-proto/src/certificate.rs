//! Certificates as people read them: parsed with x509-parser from the DER the server presented, whether or not
//! it verified, so a report can say "expired 12 days ago" rather than "handshake failed".

use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::date::rfc3339;
use crate::report::{CertificateInfo, MAX_DESCRIBED_CERTIFICATES, MAX_SANS, UnparsedCertificate};

const SECONDS_PER_DAY: i64 = 86_400;

/// Describes a presented chain (DER, leaf first): every certificate that parses, with its position, up to
/// [`MAX_DESCRIBED_CERTIFICATES`]; the ones that do not parse are listed apart, never described with made-up
/// dates. `now_unix` is the wall time days are counted from.
pub(crate) fn describe_chain(chain: &[Vec<u8>], now_unix: i64) -> (Vec<CertificateInfo>, Vec<UnparsedCertificate>) {
    let mut described = Vec::new();
    let mut unparsed = Vec::new();
    for (position, der) in chain.iter().enumerate().take(MAX_DESCRIBED_CERTIFICATES) {
        match describe(der, position, now_unix) {
            Ok(info) => described.push(info),
            Err(error) => {
                unparsed.push(UnparsedCertificate { position, len: der.len(), sha256: sha256_hex(der), error })
            }
        }
    }
    (described, unparsed)
}

/// Parses one DER certificate found at `position` in the chain. `now_unix` is the wall time the days left are
/// counted from.
pub(crate) fn describe(der: &[u8], position: usize, now_unix: i64) -> Result<CertificateInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let (sans, sans_omitted) = match cert.subject_alternative_name() {
        Ok(Some(ext)) => {
            let mut names = ext.value.general_names.iter().filter_map(general_name);
            let kept: Vec<String> = names.by_ref().take(MAX_SANS).collect();
            (kept, names.count())
        }
        _ => (Vec::new(), 0),
    };
    Ok(CertificateInfo {
        position,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        sans_omitted,
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: rfc3339(not_before),
        not_before_unix: not_before,
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
        days_left: (not_after.saturating_sub(now_unix)).div_euclid(SECONDS_PER_DAY),
        seconds_left: not_after.saturating_sub(now_unix),
        key_algorithm: key_algorithm(&cert),
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
        sha256: sha256_hex(der),
    })
}

fn sha256_hex(der: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(format!("IP:{}", core::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).ok()?))),
            16 => Some(format!("IP:{}", core::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).ok()?))),
            _ => None,
        },
        GeneralName::RFC822Name(mail) => Some(format!("email:{mail}")),
        GeneralName::URI(uri) => Some(format!("URI:{uri}")),
        _ => None,
    }
}

fn key_algorithm(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let algorithm = oid_name(&spki.algorithm.algorithm);
    // An EC key's parameters name its curve. An RSA key's are NULL, which reads as an empty OID: no curve.
    let curve =
        spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).filter(|oid| !oid.as_bytes().is_empty());
    let curve = curve.map(|oid| oid_name(&oid));
    let bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
    match (curve, bits) {
        (Some(curve), _) => format!("{algorithm} {curve}"),
        (None, 0) => algorithm,
        (None, bits) => format!("{algorithm} {bits}"),
    }
}

fn oid_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    oid2sn(oid, oid_registry()).map(str::to_owned).unwrap_or_else(|_| oid.to_id_string())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> rcgen::Certificate {
        let mut params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("valid names");
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        params.self_signed(&rcgen::KeyPair::generate().expect("a key")).expect("a certificate")
    }

    #[test]
    fn describes_a_generated_certificate() {
        let cert = generated(&["mx.test", "127.0.0.1"], (2026, 1, 1), (2026, 12, 31));
        let now = 1_795_000_000; // 2026-11-18
        let info = describe(cert.der(), 0, now).unwrap();
        assert_eq!(info.position, 0);
        assert_eq!(info.subject, "CN=mx.test");
        assert_eq!(info.sans, ["DNS:mx.test", "IP:127.0.0.1"]);
        assert_eq!(info.sans_omitted, 0);
        assert_eq!(info.not_before, "2026-01-01T00:00:00Z");
        assert_eq!(info.not_before_unix, 1_767_225_600);
        assert_eq!(info.not_after, "2026-12-31T00:00:00Z");
        assert_eq!(info.days_left, 42);
        assert!(!info.is_expired() && !info.is_not_yet_valid());
        assert!(
            info.key_algorithm.contains("prime256v1") || info.key_algorithm.contains("P-256"),
            "{}",
            info.key_algorithm
        );
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(info.sha256.len(), 64);
        let later = describe(cert.der(), 0, 1_798_675_200 + 3 * 86_400).unwrap();
        assert_eq!(later.days_left, -3);
        assert!(later.is_expired());
        let earlier = describe(cert.der(), 0, 1_767_225_600 - 1).unwrap();
        assert!(earlier.is_not_yet_valid() && !earlier.is_expired());
    }

    /// A certificate that does not parse is skipped, with its position, size and fingerprint: never described as
    /// a certificate that expired at the Unix epoch ("0 days left", "1970").
    #[test]
    fn an_unparseable_certificate_is_skipped_not_dated_1970() {
        let leaf = generated(&["mx.test"], (2026, 1, 1), (2026, 12, 31));
        let garbage = vec![0x30, 0x03, 0x02, 0x01, 0x00];
        let chain = vec![leaf.der().to_vec(), garbage.clone(), leaf.der().to_vec()];
        let (described, unparsed) = describe_chain(&chain, 1_795_000_000);
        assert_eq!(described.iter().map(|c| c.position).collect::<Vec<_>>(), [0, 2]);
        assert!(described.iter().all(|c| c.not_after_unix != 0 && !c.not_after.starts_with("1970")));
        assert_eq!(unparsed.len(), 1);
        assert_eq!((unparsed[0].position, unparsed[0].len), (1, garbage.len()));
        assert_eq!(unparsed[0].sha256, sha256_hex(&garbage));
        assert!(!unparsed[0].error.is_empty());
    }

    #[test]
    fn names_and_chains_are_bounded() {
        let names: Vec<String> = (0..MAX_SANS + 10).map(|i| format!("n{i}.mx.test")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let cert = generated(&refs, (2026, 1, 1), (2026, 12, 31));
        let info = describe(cert.der(), 0, 1_795_000_000).unwrap();
        assert_eq!((info.sans.len(), info.sans_omitted), (MAX_SANS, 10));
        let chain = vec![cert.der().to_vec(); MAX_DESCRIBED_CERTIFICATES + 3];
        let (described, unparsed) = describe_chain(&chain, 1_795_000_000);
        assert_eq!((described.len(), unparsed.len()), (MAX_DESCRIBED_CERTIFICATES, 0));
    }

    /// An RSA-2048 certificate made by `openssl req -x509 -newkey rsa:2048` (rcgen cannot make RSA keys on ring).
    const RSA_2048_PEM: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIC9DCCAdygAwIBAgIBBzANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDDAhyc2Eu\n\
dGVzdDAeFw0yNjExMzAxNDE0MzFaFw0zNjExMjcxNDE0MzFaMBMxETAPBgNVBAMM\n\
CHJzYS50ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA88kofPLq\n\
TCXkB26JkE31dtvGBLrNdjpehuRh6Io/lg8o13e27JZcCnivNPLVPbnnwIs3rdD3\n\
6dW5p55IRqi01+NzHnjd49rqnbgPf6xLLGw7KVzh3PNCDf9TWPXcYEFaqbq5MNoA\n\
qz2PEYO0UqOOLvYqtRz/UhTZyF0akrz2W8ZSYUau4K7JeEGC0B7RXPxXbCciZ5u/\n\
gqRL8wd3uhCYQgVo1/kTZ5laIty+5mlwNfr93AkvK7QGKitk/78JOInm0Wv1jx/z\n\
mjm3+PSJ+KwBuH89RVAsIE+ItXISlc1FiEDCobaIiinVwLOFAWIVToKpSOs7nZtv\n\
rNMnr/+X8wkNJwIDAQABo1MwUTAdBgNVHQ4EFgQUuCrAHxhSGBXhhEhVt2TyHZWO\n\
pVMwHwYDVR0jBBgwFoAUuCrAHxhSGBXhhEhVt2TyHZWOpVMwDwYDVR0TAQH/BAUw\n\
AwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAcgpRqJghMhjhaYJ37YS9tJSJv8uJFABY\n\
Li3U5znUW9dXdUTW46X9HDUQBLzhKqxgns7RtkFJM5vtn7ONrCAyBFNvEmMIVwdk\n\
8MhngQitp2K+aAqcmcBTaDfCCl6PAOCD2IMiccmae8OcqAJaisbDkaPxcGM3KywB\n\
P4HkGXe/gl7PnHH0MPXTy1raW5V91WFN7SBZsHWy6unR/nAdOr7fpMSnB6yjusxX\n\
R39PTSyXjpiRZf7sXLGweRsxFXLB4RVpgQxRkadmVOqRqeW+VRiPdznXYlpHBPHk\n\
1USbaavxbqTPA4sqJ3gbUnRzoOA4Ou2jPZJoKHdRJeUbv2XUSPy/oQ==\n\
-----END CERTIFICATE-----\n";

    #[test]
    fn names_an_rsa_key_with_its_size() {
        let body: String = RSA_2048_PEM.lines().filter(|line| !line.starts_with("-----")).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap();
        let info = describe(&der, 0, 1_795_000_000).unwrap();
        assert_eq!(info.subject, "CN=rsa.test");
        assert_eq!(info.key_algorithm, "rsaEncryption 2048");
        assert_eq!(info.signature_algorithm, "sha256WithRSAEncryption");
    }
}
