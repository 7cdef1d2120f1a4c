//! Where to probe: a host (name or address) and a port, read from the forms people type.

use std::fmt;

use crate::config::TlsMode;
use crate::error::ConfigError;

/// A host and port to probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// A DNS name or an IP address literal (without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Target {
    /// A target from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Target {
        Target { host: host.into(), port }
    }

    /// Reads `host`, `host:port`, `[v6]:port`, a bare IPv6 address, or a URL-style target:
    /// `smtp://host[:25]` (plain, STARTTLS when offered), `submission://host[:587]` (STARTTLS required) or
    /// `smtps://host[:465]` (implicit TLS). Returns the TLS mode the scheme implies, if any.
    ///
    /// ```
    /// use smtp_probe_proto::{Target, TlsMode};
    /// assert_eq!(Target::parse("mx.example.com")?, (Target::new("mx.example.com", 25), None));
    /// assert_eq!(Target::parse("smtps://mx.example.com")?, (Target::new("mx.example.com", 465), Some(TlsMode::Implicit)));
    /// assert_eq!(Target::parse("[::1]:2525")?.0, Target::new("::1", 2525));
    /// # Ok::<(), smtp_probe_proto::ConfigError>(())
    /// ```
    pub fn parse(input: &str) -> Result<(Target, Option<TlsMode>), ConfigError> {
        let input = input.trim();
        let (rest, default_port, mode) = match input.split_once("://") {
            None => (input, 25, None),
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "smtp" => (rest, 25, Some(TlsMode::StartTlsOpportunistic)),
                "submission" => (rest, 587, Some(TlsMode::StartTlsRequired)),
                "smtps" => (rest, 465, Some(TlsMode::Implicit)),
                _ => return Err(ConfigError::Conflict("unknown scheme: use smtp://, submission:// or smtps://")),
            },
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or(ConfigError::Conflict("unclosed '[' in target"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, parse_port(port)?),
                None if after.is_empty() => (host, default_port),
                None => return Err(ConfigError::Conflict("unexpected text after ']' in target")),
            }
        } else if rest.matches(':').count() > 1 {
            (rest, default_port) // a bare IPv6 address
        } else if let Some((host, port)) = rest.split_once(':') {
            (host, parse_port(port)?)
        } else {
            (rest, default_port)
        };
        if host.is_empty() {
            return Err(ConfigError::Empty { field: "target host" });
        }
        if let Some(bad) = host.bytes().find(|b| b.is_ascii_whitespace() || b.is_ascii_control() || *b == b'/') {
            return Err(ConfigError::ForbiddenByte { field: "target host", byte: bad });
        }
        Ok((Target::new(host, port), mode))
    }
}

fn parse_port(port: &str) -> Result<u16, ConfigError> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or(ConfigError::Conflict("the port must be a number from 1 to 65535"))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(Target::parse("mx:2525").unwrap(), (Target::new("mx", 2525), None));
        assert_eq!(
            Target::parse("submission://mx").unwrap(),
            (Target::new("mx", 587), Some(TlsMode::StartTlsRequired))
        );
        assert_eq!(
            Target::parse("smtp://mx:26/").unwrap(),
            (Target::new("mx", 26), Some(TlsMode::StartTlsOpportunistic))
        );
        assert_eq!(Target::parse("2001:db8::1").unwrap().0, Target::new("2001:db8::1", 25));
        assert_eq!(Target::parse("[2001:db8::1]").unwrap().0, Target::new("2001:db8::1", 25));
        assert_eq!(Target::new("::1", 25).to_string(), "[::1]:25");
        assert!(Target::parse("http://mx").is_err());
        assert!(Target::parse("mx:0").is_err());
        assert!(Target::parse("mx:x").is_err());
        assert!(Target::parse("").is_err());
        assert!(Target::parse("m x").is_err());
    }
}
