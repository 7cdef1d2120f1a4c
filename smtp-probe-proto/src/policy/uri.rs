//! The report URIs of DMARC (`rua`, `ruf`) and TLS-RPT (`rua`): a light RFC 3986 check, with the `mailto:`
//! address and the `https:` host looked at more closely since those are what reports are sent to.

use core::fmt;

use super::text::{normalize_domain, quote};

/// Longest URI accepted.
const URI_MAX: usize = 512;

/// A report destination.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "scheme", content = "target", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ReportUri {
    /// `mailto:` and the address (percent-decoding not applied).
    Mailto(String),
    /// An `https:` URL, whole.
    Https(String),
    /// Another scheme, whole: valid URI syntax, but senders are only required to support the two above.
    Other(String),
}

impl ReportUri {
    /// Checks one URI.
    pub fn parse(text: &str) -> Result<ReportUri, UriError> {
        if text.len() > URI_MAX {
            return Err(UriError::TooLong);
        }
        let bad = || UriError::Syntax(quote(text.as_bytes()));
        let (scheme, rest) = text.split_once(':').ok_or_else(bad)?;
        let scheme_ok = scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok || rest.is_empty() || !rest.bytes().all(uri_char) {
            return Err(bad());
        }
        if scheme.eq_ignore_ascii_case("mailto") {
            let address = rest.split('?').next().unwrap_or(rest);
            let (local, domain) =
                address.rsplit_once('@').ok_or_else(|| UriError::BadAddress(quote(rest.as_bytes())))?;
            if local.is_empty() || normalize_domain(domain).is_err() {
                return Err(UriError::BadAddress(quote(rest.as_bytes())));
            }
            Ok(ReportUri::Mailto(address.to_owned()))
        } else if scheme.eq_ignore_ascii_case("https") {
            let authority = rest.strip_prefix("//").ok_or_else(|| UriError::BadHost(quote(text.as_bytes())))?;
            let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            let host_ok = if let Some(literal) = host.strip_prefix('[') {
                literal.split(']').next().is_some_and(|ip| ip.parse::<core::net::Ipv6Addr>().is_ok())
            } else {
                let (name, port) = host.split_once(':').unwrap_or((host, "0"));
                port.parse::<u16>().is_ok() && (normalize_domain(name).is_ok())
            };
            if !host_ok {
                return Err(UriError::BadHost(quote(text.as_bytes())));
            }
            Ok(ReportUri::Https(text.to_owned()))
        } else {
            Ok(ReportUri::Other(text.to_owned()))
        }
    }
}

impl fmt::Display for ReportUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportUri::Mailto(address) => write!(f, "mailto:{address}"),
            ReportUri::Https(url) | ReportUri::Other(url) => f.write_str(url),
        }
    }
}

/// Characters RFC 3986 allows in a URI (unreserved, reserved, `%`).
fn uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// Why a report URI is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than 512 bytes.
    #[error("URI longer than 512 bytes")]
    TooLong,
    /// Not `scheme:rest` with URI characters.
    #[error("\"{0}\" is not a URI")]
    Syntax(String),
    /// A `mailto:` without `local@domain`.
    #[error("\"{0}\" is not a mail address")]
    BadAddress(String),
    /// An `https:` URL without a host name.
    #[error("\"{0}\" has no valid host")]
    BadHost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_uris_are_checked() {
        assert_eq!(ReportUri::parse("mailto:tlsrpt@example.com"), Ok(ReportUri::Mailto("tlsrpt@example.com".into())));
        assert_eq!(
            ReportUri::parse("https://reporting.example.com/v1/tlsrpt"),
            Ok(ReportUri::Https("https://reporting.example.com/v1/tlsrpt".into()))
        );
        assert!(matches!(ReportUri::parse("https://[2001:db8::1]:8443/r"), Ok(ReportUri::Https(_))));
        assert!(matches!(ReportUri::parse("ftp://example.com/x"), Ok(ReportUri::Other(_))));
        assert!(matches!(ReportUri::parse("mailto:nobody"), Err(UriError::BadAddress(_))));
        assert!(matches!(ReportUri::parse("mailto:@example.com"), Err(UriError::BadAddress(_))));
        assert!(matches!(ReportUri::parse("https:/x"), Err(UriError::BadHost(_))));
        assert!(matches!(ReportUri::parse("https://exa mple.com"), Err(UriError::Syntax(_))));
        assert!(matches!(ReportUri::parse("https://host:99999/"), Err(UriError::BadHost(_))));
        assert!(matches!(ReportUri::parse("tlsrpt@example.com"), Err(UriError::Syntax(_))));
        assert!(matches!(ReportUri::parse("1x:y"), Err(UriError::Syntax(_))));
        assert_eq!(ReportUri::parse(&format!("mailto:{}@x.example", "a".repeat(600))), Err(UriError::TooLong));
    }
}
