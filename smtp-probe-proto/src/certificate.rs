//! Certificates as people read them: parsed with x509-parser from the DER the server presented, whether or not
//! it verified, so a report can say "expired 12 days ago" rather than "handshake failed".

use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::date::rfc3339;
use crate::report::CertificateInfo;

const SECONDS_PER_DAY: i64 = 86_400;

/// Parses one DER certificate. `now_unix` is the wall time the days left are counted from.
pub(crate) fn describe(der: &[u8], now_unix: i64) -> CertificateInfo {
    let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return CertificateInfo {
            subject: "<unparseable certificate>".to_owned(),
            sha256,
            ..CertificateInfo::default()
        };
    };
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext.value.general_names.iter().filter_map(general_name).collect(),
        _ => Vec::new(),
    };
    CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
        days_left: (not_after - now_unix).div_euclid(SECONDS_PER_DAY),
        seconds_left: not_after - now_unix,
        key_algorithm: key_algorithm(&cert),
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
        sha256,
    }
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

    #[test]
    fn describes_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["mx.test".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 12, 31);
        params.distinguished_name.push(rcgen::DnType::CommonName, "mx.test");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let now = 1_795_000_000; // 2026-11-18
        let info = describe(cert.der(), now);
        assert_eq!(info.subject, "CN=mx.test");
        assert_eq!(info.sans, ["DNS:mx.test", "IP:127.0.0.1"]);
        assert_eq!(info.not_after, "2026-12-31T00:00:00Z");
        assert_eq!(info.days_left, 42);
        assert!(
            info.key_algorithm.contains("prime256v1") || info.key_algorithm.contains("P-256"),
            "{}",
            info.key_algorithm
        );
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(info.sha256.len(), 64);
        assert_eq!(describe(cert.der(), 1_798_675_200 + 3 * 86_400).days_left, -3);
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
        let info = describe(&der, 1_795_000_000);
        assert_eq!(info.subject, "CN=rsa.test");
        assert_eq!(info.key_algorithm, "rsaEncryption 2048");
        assert_eq!(info.signature_algorithm, "sha256WithRSAEncryption");
    }
}
