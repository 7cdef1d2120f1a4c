//! [`Target`]: where to probe, a host (a DNS name or an IP address) and a port, valid from the moment it exists.

use core::net::{IpAddr, Ipv6Addr};
use std::fmt;
use std::str::FromStr;

use crate::config::TlsMode;
use crate::name::{HostnameError, check_hostname, forbidden_byte};

/// The port of SMTP between mail servers (RFC 5321).
const SMTP_PORT: u16 = 25;

/// Why a string (or a host and port) is not a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No host: an empty target, or nothing before the port.
    #[error("the target names no host")]
    EmptyHost,
    /// A scheme other than `smtp://`, `submission://` and `smtps://`.
    #[error("unknown scheme {scheme:?} in the target: use smtp://, submission:// or smtps://")]
    UnknownScheme {
        /// The scheme, as written.
        scheme: String,
    },
    /// A scheme other than `imap://` and `imaps://` where an IMAP server is named
    /// ([`imap::parse_target`](crate::imap::parse_target)).
    #[error("unknown scheme {scheme:?} for an IMAP server: use imaps:// (implicit TLS) or imap:// (STARTTLS)")]
    UnknownImapScheme {
        /// The scheme, as written.
        scheme: String,
    },
    /// A port that is not plain decimal digits for a number from 1 to 65535 (`+25`, `0`, `99999`, `2x`, empty).
    #[error("invalid port {port:?} in the target: the port is a number from 1 to 65535, in plain decimal digits")]
    InvalidPort {
        /// The port, as written.
        port: String,
    },
    /// A `[` without its `]`.
    #[error("unclosed '[' in the target: write an IPv6 address as [2001:db8::1] or [2001:db8::1]:25")]
    UnclosedBracket,
    /// Something after `]` other than `:port`.
    #[error("unexpected {text:?} after ']' in the target: only :port may follow an IPv6 address in brackets")]
    TextAfterBracket {
        /// What followed.
        text: String,
    },
    /// Brackets around something that is not an IPv6 address (`[mx.example]`, `[192.0.2.1]`).
    #[error("[{host}]: brackets are for IPv6 addresses only; write {host} without them")]
    BracketedName {
        /// What was in the brackets.
        host: String,
    },
    /// An IPv6 address followed by `:port` without brackets (`2001:db8::1:2525`): it could be the address
    /// `2001:db8::1:2525` on the default port, or `2001:db8::1` on port 2525.
    #[error(
        "{address}:{port} is ambiguous: write [{address}]:{port} for port {port} of {address}, or \
         [{address}:{port}] for that whole address"
    )]
    AmbiguousIpv6Port {
        /// The address before the last colon.
        address: String,
        /// The digits after it.
        port: String,
    },
    /// Several colons, but not an IPv6 address.
    #[error("{host:?} is not a valid IPv6 address (zone identifiers such as %eth0 are not supported)")]
    InvalidIpv6 {
        /// What was given.
        host: String,
    },
    /// A control byte or whitespace anywhere in the target.
    #[error("the target contains the forbidden byte {:?}", char::from(*byte))]
    ForbiddenByte {
        /// The byte.
        byte: u8,
    },
    /// A host that is neither an IP address nor a valid DNS name.
    #[error("{host:?} is not a valid host name: {reason}")]
    InvalidHostname {
        /// The host, as written.
        host: String,
        /// Why.
        reason: HostnameError,
    },
}

/// The URL-style schemes, each with its port and the TLS mode it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Smtp,
    Submission,
    Smtps,
}

impl Scheme {
    fn parse(scheme: &str) -> Result<Scheme, TargetError> {
        match scheme.to_ascii_lowercase().as_str() {
            "smtp" => Ok(Scheme::Smtp),
            "submission" => Ok(Scheme::Submission),
            "smtps" => Ok(Scheme::Smtps),
            _ => Err(TargetError::UnknownScheme { scheme: scheme.to_owned() }),
        }
    }

    fn port(self) -> u16 {
        match self {
            Scheme::Smtp => SMTP_PORT,
            Scheme::Submission => 587,
            Scheme::Smtps => 465,
        }
    }

    fn tls_mode(self) -> TlsMode {
        match self {
            Scheme::Smtp => TlsMode::StartTlsOpportunistic,
            Scheme::Submission => TlsMode::StartTlsRequired,
            Scheme::Smtps => TlsMode::Implicit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Smtp => "smtp",
            Scheme::Submission => "submission",
            Scheme::Smtps => "smtps",
        }
    }
}

/// A host and port to probe, checked when made: a DNS name or an IP address, and a port from 1 to 65535.
///
/// Made from its parts with [`Target::new`], or read from the forms people type with [`str::parse`]:
///
/// | form | port | TLS mode implied |
/// | --- | --- | --- |
/// | `mx.example.com`, `192.0.2.1`, `2001:db8::1` | 25 | none |
/// | `mx.example.com:2525`, `[2001:db8::1]:2525` | as given | none |
/// | `smtp://host[:port]` | 25 | STARTTLS when offered |
/// | `submission://host[:port]` | 587 | STARTTLS required |
/// | `smtps://host[:port]` | 465 | implicit TLS |
///
/// The scheme is case-insensitive and may be followed by one `/`. A bare IPv6 address is accepted only when it
/// cannot also be read as an address and a port: `2001:db8::1:2525` is refused
/// ([`TargetError::AmbiguousIpv6Port`]); write `[2001:db8::1]:2525`. Nothing is trimmed: whitespace is refused.
///
/// `Display` writes `host:port` (`[v6]:port`), the form reports name a target by; the alternate form (`{:#}`)
/// writes a URL with its scheme when the target has one, which reads back as the same target.
///
/// ```
/// use smtp_probe_proto::{Target, TlsMode};
///
/// let target: Target = "submission://mail.example.com".parse()?;
/// assert_eq!((target.host(), target.port()), ("mail.example.com", 587));
/// assert_eq!(target.tls_mode(), Some(TlsMode::StartTlsRequired));
/// assert_eq!(target.to_string(), "mail.example.com:587");
/// assert_eq!(format!("{target:#}"), "submission://mail.example.com:587");
///
/// let v6: Target = "[2001:db8::25]:2525".parse()?;
/// assert_eq!(v6.ip(), Some("2001:db8::25".parse()?));
/// assert_eq!(v6.to_string(), "[2001:db8::25]:2525");
///
/// assert!("mx.example.com:0".parse::<Target>().is_err());
/// assert!(Target::new("mx.example.com\r\nQUIT", 25).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// A valid DNS name, or an IP address literal without brackets.
    host: String,
    /// `host` as an address, when it is one.
    ip: Option<IpAddr>,
    port: u16,
    scheme: Option<Scheme>,
}

impl Target {
    /// A target from a host (a DNS name or an IP address; an IPv6 address may be in brackets) and a port.
    pub fn new(host: impl AsRef<str>, port: u16) -> Result<Target, TargetError> {
        let host = host.as_ref();
        if let Some(byte) = forbidden_byte(host) {
            return Err(TargetError::ForbiddenByte { byte });
        }
        if port == 0 {
            return Err(TargetError::InvalidPort { port: "0".to_owned() });
        }
        let (host, ip) = match host.strip_prefix('[') {
            Some(bracketed) => {
                let inner = bracketed.strip_suffix(']').ok_or(TargetError::UnclosedBracket)?;
                (inner, Some(bracketed_ipv6(inner)?))
            }
            None => (host, None),
        };
        let ip = match ip {
            Some(ip) => Some(ip),
            None if host.matches(':').count() > 1 => {
                Some(IpAddr::V6(host.parse().map_err(|_| TargetError::InvalidIpv6 { host: host.to_owned() })?))
            }
            None => check_host(host)?,
        };
        Ok(Target { host: host.to_owned(), ip, port, scheme: None })
    }

    /// A target from a name already checked as a host name (a [`Domain`](crate::Domain)) and a non-zero port.
    pub(crate) fn from_checked_name(name: &str, port: u16) -> Target {
        debug_assert!(check_hostname(name).is_ok() && port != 0);
        Target { host: name.to_owned(), ip: None, port, scheme: None }
    }

    /// Reads a target as [`str::parse`] does, except that when `input` names no port, `port` is used instead of
    /// the scheme's (a command line's `-p`).
    pub fn parse_with_default_port(input: &str, port: u16) -> Result<Target, TargetError> {
        if port == 0 {
            return Err(TargetError::InvalidPort { port: "0".to_owned() });
        }
        parse(input, Some(port))
    }

    /// The host: a DNS name as given (a trailing dot kept), or an IP address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is one (no DNS lookup needed).
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The TLS mode the target's scheme implies: `smtp://` STARTTLS when offered, `submission://` STARTTLS
    /// required, `smtps://` implicit TLS; `None` without a scheme.
    pub fn tls_mode(&self) -> Option<TlsMode> {
        self.scheme.map(Scheme::tls_mode)
    }

    /// Another host on the same port, with the same scheme: an MX host in place of its domain.
    pub fn with_host(&self, host: impl AsRef<str>) -> Result<Target, TargetError> {
        let Target { host, ip, .. } = Target::new(host, self.port)?;
        Ok(Target { host, ip, ..self.clone() })
    }

    /// The same host on another port (the scheme, if any, is kept).
    pub fn with_port(&self, port: u16) -> Result<Target, TargetError> {
        if port == 0 {
            return Err(TargetError::InvalidPort { port: "0".to_owned() });
        }
        Ok(Target { port, ..self.clone() })
    }

    /// `host:port`, `[v6]:port` for an IPv6 address.
    fn write_host_port(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(_)) => write!(out, "[{}]:{}", self.host, self.port),
            _ => write!(out, "{}:{}", self.host, self.port),
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Target, TargetError> {
        parse(input, None)
    }
}

fn parse(input: &str, port_override: Option<u16>) -> Result<Target, TargetError> {
    if let Some(byte) = forbidden_byte(input) {
        return Err(TargetError::ForbiddenByte { byte });
    }
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (Some(Scheme::parse(scheme)?), rest.strip_suffix('/').unwrap_or(rest)),
        None => (None, input),
    };
    let default_port = port_override.unwrap_or(scheme.map_or(SMTP_PORT, Scheme::port));
    let (host, ip, port) = split_host_port(rest)?;
    let port = match port {
        Some(text) => parse_port(text)?,
        None => default_port,
    };
    let ip = match ip {
        Some(ip) => Some(ip),
        None => check_host(host)?,
    };
    Ok(Target { host: host.to_owned(), ip, port, scheme })
}

/// Splits `host[:port]`, `[v6][:port]` or a bare IPv6 address; an IPv6 address comes back parsed.
fn split_host_port(rest: &str) -> Result<(&str, Option<IpAddr>, Option<&str>), TargetError> {
    if let Some(bracketed) = rest.strip_prefix('[') {
        let (inner, after) = bracketed.split_once(']').ok_or(TargetError::UnclosedBracket)?;
        let ip = bracketed_ipv6(inner)?;
        return match after {
            "" => Ok((inner, Some(ip), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((inner, Some(ip), Some(port))),
                None => Err(TargetError::TextAfterBracket { text: after.to_owned() }),
            },
        };
    }
    match rest.matches(':').count() {
        0 => Ok((rest, None, None)),
        1 => {
            let (host, port) = rest.split_once(':').expect("one colon");
            Ok((host, None, Some(port)))
        }
        _ => {
            // Several colons: an IPv6 address without brackets, allowed only when no `:port` can be read into it.
            let as_address_and_port = rest.rsplit_once(':').filter(|(address, port)| {
                (1..=5).contains(&port.len())
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && address.parse::<Ipv6Addr>().is_ok()
            });
            if let Some((address, port)) = as_address_and_port {
                return Err(TargetError::AmbiguousIpv6Port { address: address.to_owned(), port: port.to_owned() });
            }
            let ip = rest.parse::<Ipv6Addr>().map_err(|_| TargetError::InvalidIpv6 { host: rest.to_owned() })?;
            Ok((rest, Some(IpAddr::V6(ip)), None))
        }
    }
}

/// What is inside `[...]`: an IPv6 address, nothing else.
fn bracketed_ipv6(inner: &str) -> Result<IpAddr, TargetError> {
    match inner.parse::<Ipv6Addr>() {
        Ok(ip) => Ok(IpAddr::V6(ip)),
        Err(_) if inner.contains(':') => Err(TargetError::InvalidIpv6 { host: inner.to_owned() }),
        Err(_) if inner.is_empty() => Err(TargetError::EmptyHost),
        Err(_) => Err(TargetError::BracketedName { host: inner.to_owned() }),
    }
}

/// A host without brackets or colons: an IPv4 address (returned) or a valid DNS name.
fn check_host(host: &str) -> Result<Option<IpAddr>, TargetError> {
    if host.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    if let Ok(ip) = host.parse::<core::net::Ipv4Addr>() {
        return Ok(Some(IpAddr::V4(ip)));
    }
    check_hostname(host).map_err(|reason| TargetError::InvalidHostname { host: host.to_owned(), reason })?;
    Ok(None)
}

/// Plain decimal digits for a number from 1 to 65535: no sign, no spaces, no other base.
fn parse_port(text: &str) -> Result<u16, TargetError> {
    let invalid = || TargetError::InvalidPort { port: text.to_owned() };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse::<u16>().ok().filter(|port| *port != 0).ok_or_else(invalid)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.filter(|_| f.alternate());
        if scheme.is_none() && f.width().is_none() && f.precision().is_none() {
            return self.write_host_port(f); // the common case, without a temporary string
        }
        let mut text = String::with_capacity(self.host.len() + 20);
        if let Some(scheme) = scheme {
            text.push_str(scheme.as_str());
            text.push_str("://");
        }
        self.write_host_port(&mut text)?;
        f.pad(&text)
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for Target {
    /// The alternate `Display` form: `host:port`, or a URL with its scheme when the target has one.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{self:#}"))
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Target, D::Error> {
        crate::schema::deserialize_from_str(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Target, TargetError> {
        input.parse()
    }

    fn parts(input: &str) -> (String, u16, Option<TlsMode>) {
        let target = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        (target.host().to_owned(), target.port(), target.tls_mode())
    }

    #[test]
    fn forms_people_type() {
        let owned = |h: &str, p, m| (h.to_owned(), p, m);
        assert_eq!(parts("mx"), owned("mx", 25, None));
        assert_eq!(parts("mx.example.com:2525"), owned("mx.example.com", 2525, None));
        assert_eq!(parts("mx.example.com."), owned("mx.example.com.", 25, None));
        assert_eq!(parts("192.0.2.1"), owned("192.0.2.1", 25, None));
        assert_eq!(parts("192.0.2.1:26"), owned("192.0.2.1", 26, None));
        assert_eq!(parts("[2001:db8::1]"), owned("2001:db8::1", 25, None));
        assert_eq!(parts("[2001:db8::1]:2525"), owned("2001:db8::1", 2525, None));
        assert_eq!(parts("smtp://mx:26/"), owned("mx", 26, Some(TlsMode::StartTlsOpportunistic)));
        assert_eq!(parts("SMTP://mx"), owned("mx", 25, Some(TlsMode::StartTlsOpportunistic)));
        assert_eq!(parts("submission://mx"), owned("mx", 587, Some(TlsMode::StartTlsRequired)));
        assert_eq!(parts("smtps://mx"), owned("mx", 465, Some(TlsMode::Implicit)));
        assert_eq!(parts("smtps://[::1]:2465"), owned("::1", 2465, Some(TlsMode::Implicit)));
        assert_eq!(parse("192.0.2.1").unwrap().ip(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(parse("mx.example").unwrap().ip(), None);
    }

    #[test]
    fn a_bare_ipv6_address_is_accepted_only_when_no_port_can_be_read_into_it() {
        // Unambiguous: what is left after the last colon is no port, or what is before it is no address.
        for address in
            ["2001:db8::1", "::1", "2001:db8::", "2001:db8:0:0:0:0:0:1", "2001:db8::abcd", "::ffff:192.0.2.1"]
        {
            let target = parse(address).unwrap_or_else(|e| panic!("{address}: {e}"));
            assert_eq!((target.ip(), target.port()), (Some(address.parse().unwrap()), 25), "{address}");
        }
        // Ambiguous: `2001:db8::1:2525` is an address, and `2001:db8::1` followed by a port.
        let err = parse("2001:db8::1:2525").unwrap_err();
        assert_eq!(err, TargetError::AmbiguousIpv6Port { address: "2001:db8::1".into(), port: "2525".into() });
        assert!(err.to_string().contains("[2001:db8::1]:2525"), "{err}");
        assert!(matches!(parse("fe80::1:25"), Err(TargetError::AmbiguousIpv6Port { .. })));
        // Eight groups and a port: not an address, but plainly one with a port, which needs brackets too.
        assert!(matches!(parse("2001:db8:1:2:3:4:5:6:25"), Err(TargetError::AmbiguousIpv6Port { .. })));
        assert!(matches!(parse("mx:25:26"), Err(TargetError::InvalidIpv6 { .. })));
        assert!(matches!(parse("[fe80::1%eth0]:25"), Err(TargetError::InvalidIpv6 { .. })));
    }

    #[test]
    fn each_refusal_has_its_error() {
        assert_eq!(parse(""), Err(TargetError::EmptyHost));
        assert_eq!(parse(":25"), Err(TargetError::EmptyHost));
        assert_eq!(parse("smtp://"), Err(TargetError::EmptyHost));
        assert_eq!(parse("[]:25"), Err(TargetError::EmptyHost));
        assert_eq!(parse("http://mx"), Err(TargetError::UnknownScheme { scheme: "http".into() }));
        for port in ["+25", "0", "99999", "65536", "2x", "", " 25", "0x19", "-1", "000000025"] {
            let input = format!("mx:{port}");
            match parse(&input) {
                Err(TargetError::InvalidPort { port: p }) => assert_eq!(p, port),
                Err(TargetError::ForbiddenByte { byte: b' ' }) if port.starts_with(' ') => {}
                other => panic!("{input}: {other:?}"),
            }
        }
        assert_eq!(parts("mx:00025").1, 25, "leading zeros are still plain decimal digits");
        assert_eq!(parts("mx:65535").1, 65535);
        assert_eq!(parse("[mx.example]"), Err(TargetError::BracketedName { host: "mx.example".into() }));
        assert_eq!(parse("[192.0.2.1]:25"), Err(TargetError::BracketedName { host: "192.0.2.1".into() }));
        assert_eq!(parse("[::1"), Err(TargetError::UnclosedBracket));
        assert_eq!(parse("[::1]x"), Err(TargetError::TextAfterBracket { text: "x".into() }));
        assert_eq!(parse("m x"), Err(TargetError::ForbiddenByte { byte: b' ' }));
        assert_eq!(parse("mx\r\nQUIT"), Err(TargetError::ForbiddenByte { byte: b'\r' }));
        assert_eq!(parse("mx\0"), Err(TargetError::ForbiddenByte { byte: 0 }));
        assert_eq!(parse(" mx"), Err(TargetError::ForbiddenByte { byte: b' ' }), "nothing is trimmed");
        let invalid = |input: &str| match parse(input) {
            Err(TargetError::InvalidHostname { reason, .. }) => reason,
            other => panic!("{input}: {other:?}"),
        };
        assert!(matches!(invalid(&format!("{}.example", "a".repeat(64))), HostnameError::LabelTooLong { .. }));
        assert!(matches!(invalid(&format!("{}.example", "a.".repeat(127))), HostnameError::TooLong { .. }));
        assert_eq!(invalid("a..example"), HostnameError::EmptyLabel);
        assert_eq!(invalid(".example"), HostnameError::EmptyLabel);
        assert_eq!(invalid("user@mx.example"), HostnameError::InvalidCharacter { character: '@' });
        assert_eq!(invalid("smtp://mx/path"), HostnameError::InvalidCharacter { character: '/' });
        assert_eq!(invalid("192.0.2.300"), HostnameError::NumericTopLevel);
        assert_eq!(invalid("-mx.example"), HostnameError::HyphenAtLabelEdge { label: "-mx".into() });
    }

    #[test]
    fn made_from_parts() {
        let t = Target::new("mx.example", 2525).unwrap();
        assert_eq!((t.host(), t.port(), t.ip(), t.tls_mode()), ("mx.example", 2525, None, None));
        assert_eq!(Target::new("::1", 25).unwrap().to_string(), "[::1]:25");
        assert_eq!(Target::new("[::1]", 25).unwrap().host(), "::1");
        assert_eq!(Target::new("mx", 0), Err(TargetError::InvalidPort { port: "0".into() }));
        assert!(matches!(Target::new("mx:25", 25), Err(TargetError::InvalidHostname { .. })));
        assert!(matches!(Target::new("mx\n", 25), Err(TargetError::ForbiddenByte { byte: b'\n' })));
        assert!(matches!(Target::new("", 25), Err(TargetError::EmptyHost)));
        assert!(matches!(Target::new("[mx]", 25), Err(TargetError::BracketedName { .. })));
        assert_eq!(Target::new("2001:db8::1", 587).unwrap(), "[2001:db8::1]:587".parse().unwrap());
        assert_eq!(t.with_port(25).unwrap().port(), 25);
        let mx = "smtps://example.com:2465".parse::<Target>().unwrap().with_host("mx1.example.com").unwrap();
        assert_eq!(format!("{mx:#}"), "smtps://mx1.example.com:2465");
        assert!("example.com".parse::<Target>().unwrap().with_host("mx\r\n").is_err());
        assert!(t.with_port(0).is_err());
        assert_eq!(Target::parse_with_default_port("submission://mx", 2587).unwrap().port(), 2587);
        assert_eq!(Target::parse_with_default_port("submission://mx:26", 2587).unwrap().port(), 26);
    }

    #[test]
    fn display() {
        let t = parse("smtps://mx.example").unwrap();
        assert_eq!(t.to_string(), "mx.example:465");
        assert_eq!(format!("{t:#}"), "smtps://mx.example:465");
        assert_eq!(format!("{t:<16}|"), "mx.example:465  |");
        assert_eq!(format!("{t:>#24}|"), "  smtps://mx.example:465|");
        assert_eq!(parse(&format!("{t:#}")).unwrap(), t, "the alternate form reads back as the same target");
        let v6 = parse("[2001:db8::1]:2525").unwrap();
        assert_eq!(format!("{v6:#}"), "[2001:db8::1]:2525");
        assert_eq!(parse(&v6.to_string()).unwrap(), v6);
    }
}
