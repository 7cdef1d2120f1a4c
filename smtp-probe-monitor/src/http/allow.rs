//! Allow-lists: which targets a module may probe. A module that holds credentials must have one, so that nobody
//! who can reach `/probe` can make the exporter log in to a server of their choosing with them.
//!
//! An entry is a host pattern, optionally with a port:
//!
//! | entry | matches |
//! | --- | --- |
//! | `mail.example.com` | that name (any case, with or without a trailing dot), any port |
//! | `mail.example.com:587` | that name, port 587 only |
//! | `*.example.com` | a name one label below `example.com` (`mx1.example.com`, not `a.b.example.com` nor `example.com`) |
//! | `192.0.2.10`, `2001:db8::25` | that address |
//! | `192.0.2.0/24`, `2001:db8::/32` | an address in that network |
//! | `[2001:db8::/32]:25`, `192.0.2.0/24:25` | an address in that network, port 25 only |
//!
//! The target is matched as the requester wrote it: a name matches name entries only, an address matches address
//! and network entries only. A name is never resolved to check it against a network, since whoever controls its
//! DNS would choose the answer.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use smtp_probe_tokio::Target;

/// Targets a module may probe; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList(Vec<AllowEntry>);

impl AllowList {
    /// Reads every entry; the first one that does not parse is the error.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowList, AllowError> {
        entries.into_iter().map(str::parse).collect::<Result<_, _>>().map(AllowList)
    }

    /// An allow-list of exactly this target (host and port).
    pub fn exactly(target: &Target) -> AllowList {
        let host = match target.ip() {
            Some(ip) => HostPattern::Network(IpNet::from(ip)),
            None => HostPattern::Name(normalize(target.host())),
        };
        AllowList(vec![AllowEntry { host, port: Some(target.port()) }])
    }

    /// Whether there are no entries (which allows nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether some entry matches the target's host and port.
    pub fn allows(&self, target: &Target) -> bool {
        self.0.iter().any(|entry| entry.matches(target))
    }
}

/// One entry: a host pattern and, optionally, the one port it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A name, lower case, without a trailing dot.
    Name(String),
    /// `*.` and a name: the name's children, one label down (stored as `.` and the name).
    Children(String),
    /// An address (a one-address network) or a network.
    Network(IpNet),
}

impl AllowEntry {
    fn matches(&self, target: &Target) -> bool {
        if self.port.is_some_and(|port| port != target.port()) {
            return false;
        }
        match (&self.host, target.ip()) {
            (HostPattern::Network(net), Some(ip)) => net.contains(&ip),
            (HostPattern::Name(name), None) => normalize(target.host()) == *name,
            (HostPattern::Children(suffix), None) => {
                let host = normalize(target.host());
                host.strip_suffix(suffix.as_str()).is_some_and(|label| !label.is_empty() && !label.contains('.'))
            }
            _ => false,
        }
    }
}

/// Why an allow-list entry is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowError {
    entry: String,
    reason: &'static str,
}

impl fmt::Display for AllowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allow-list entry {:?}: {}", self.entry, self.reason)
    }
}

impl std::error::Error for AllowError {}

impl FromStr for AllowEntry {
    type Err = AllowError;

    fn from_str(entry: &str) -> Result<AllowEntry, AllowError> {
        let error = |reason| AllowError { entry: entry.to_owned(), reason };
        if entry.is_empty() || entry.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(error("an entry is a host, a network or *.domain, optionally with :port, without spaces"));
        }
        let (host, port) = split_port(entry).ok_or_else(|| error("the port is a number from 1 to 65535"))?;
        let host = if let Some(parent) = host.strip_prefix("*.") {
            let parent = parent
                .parse::<smtp_probe_tokio::proto::Domain>()
                .map_err(|_| error("*. must precede a domain name"))?;
            HostPattern::Children(format!(".{}", normalize(parent.as_str())))
        } else if let Ok(net) = host.parse::<IpNet>() {
            HostPattern::Network(net.trunc())
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostPattern::Network(IpNet::from(ip))
        } else if host.contains('*') {
            return Err(error("a wildcard is only allowed as the whole first label: *.example.com"));
        } else {
            let name = host
                .parse::<smtp_probe_tokio::proto::Domain>()
                .map_err(|_| error("not a host name, address or network"))?;
            HostPattern::Name(normalize(name.as_str()))
        };
        Ok(AllowEntry { host, port })
    }
}

/// The host part and the port of an entry: `host:port`, `[v6 or v6/len]:port`, or a bare IPv6 address or network
/// (several colons, no brackets: no port). `None` for a port that is not 1 to 65535 in plain digits.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    let port = |text: &str| {
        text.bytes().all(|b| b.is_ascii_digit()).then(|| text.parse::<u16>().ok()).flatten().filter(|p| *p > 0)
    };
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(digits) => Some((host, Some(port(digits)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match entry.rsplit_once(':') {
        Some((host, digits)) if !host.contains(':') => Some((host, Some(port(digits)?))),
        _ => Some((entry, None)),
    }
}

fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries.iter().copied()).unwrap()
    }

    fn allows(list: &AllowList, target: &str) -> bool {
        list.allows(&target.parse().unwrap())
    }

    #[test]
    fn names_exact_and_one_label_wildcards() {
        let names = list(&["Mail.Example.com.", "*.mx.example.org", "submit.example.net:587"]);
        assert!(allows(&names, "mail.example.com"));
        assert!(allows(&names, "MAIL.example.com:2525"));
        assert!(allows(&names, "a.mx.example.org:25"));
        assert!(allows(&names, "submission://submit.example.net"));
        for refused in [
            "example.com",
            "evil.mail.example.com",
            "mail.example.com.evil.test",
            "mx.example.org",
            "a.b.mx.example.org",
            "xmx.example.org",
            "submit.example.net:25",
            "submit.example.net",
        ] {
            assert!(!allows(&names, refused), "{refused}");
        }
    }

    #[test]
    fn addresses_and_networks() {
        let nets = list(&["192.0.2.0/24", "198.51.100.7:25", "2001:db8::/32", "[2001:db8:1::/48]:587", "[::1]"]);
        assert!(allows(&nets, "192.0.2.200:2525"));
        assert!(allows(&nets, "198.51.100.7"));
        assert!(!allows(&nets, "198.51.100.7:587"));
        assert!(!allows(&nets, "198.51.100.8"));
        assert!(allows(&nets, "[2001:db8:ffff::1]:25"));
        assert!(allows(&nets, "[::1]:25"));
        assert!(!allows(&nets, "[2001:db9::1]:25"));
        // A name is never checked against a network: its DNS is not ours.
        assert!(!allows(&nets, "localhost"));
        let host_bits = list(&["192.0.2.77/24"]);
        assert!(allows(&host_bits, "192.0.2.1"), "host bits are ignored");
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "",
            "mx .example",
            "*.",
            "*",
            "mx.*.example",
            "a*.example",
            "mx:0",
            "mx:+25",
            "mx:99999",
            "[::1",
            "[::1]x",
            "300.1.2.3/8",
            "a_b..c",
        ] {
            assert!(bad.parse::<AllowEntry>().is_err(), "{bad:?}");
        }
        let err = "mx:abc".parse::<AllowEntry>().unwrap_err();
        assert_eq!(err.to_string(), "allow-list entry \"mx:abc\": the port is a number from 1 to 65535");
    }

    #[test]
    fn exactly_one_target() {
        let target: Target = "127.0.0.1:2525".parse().unwrap();
        let one = AllowList::exactly(&target);
        assert!(one.allows(&target));
        assert!(!allows(&one, "127.0.0.1:2526") && !allows(&one, "localhost:2525"));
        assert!(!AllowList::default().allows(&target), "an empty list allows nothing");
    }
}
