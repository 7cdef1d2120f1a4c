//! Which addresses a probe may connect to, decided after name resolution: allow and deny lists of address ranges,
//! and built-in denials for addresses nobody outside this machine should be able to point a probe at (the rules:
//! [`AddressPolicy`]).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use ipnet::IpNet;

/// Where a target came from, which decides whether the built-in denials apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Origin {
    /// Typed by the user (a command line, a configuration file): any address is allowed unless a list denies it.
    #[default]
    Typed,
    /// From a request someone else made (an exporter's `target` parameter): the built-in denials apply.
    Request,
    /// From DNS (the hosts of an MX lookup): the built-in denials apply.
    Dns,
}

/// Why an address is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenialReason {
    /// A range of the deny list.
    Listed(IpNet),
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8` (on Linux, `0.0.0.0` reaches this machine), `::`.
    Unspecified,
    /// The instance metadata services of cloud providers: `169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`,
    /// `168.63.129.16`.
    CloudMetadata,
}

impl fmt::Display for DenialReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenialReason::Listed(net) => write!(f, "in the denied range {net}"),
            DenialReason::Loopback => f.write_str("loopback"),
            DenialReason::LinkLocal => f.write_str("link-local"),
            DenialReason::Unspecified => f.write_str("unspecified"),
            DenialReason::CloudMetadata => f.write_str("cloud metadata"),
        }
    }
}

/// An address range that could not be read: `10.0.0.0/8`, `192.0.2.1`, `2001:db8::/32` and `::1` are ranges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address range {input:?}: expected an address or ADDRESS/PREFIX, e.g. 10.0.0.0/8 or 2001:db8::/32")]
pub struct AddressRangeError {
    /// The text given.
    pub input: String,
}

/// Allow and deny lists of address ranges, and where the target came from. The default allows everything a user
/// types and denies nothing else.
///
/// The built-in denials (loopback, link-local, unspecified, cloud metadata) apply when the target did not come from
/// the user: from a request (an exporter's `?target=`) or from DNS (MX hosts). A target the user typed may be
/// anything, `127.0.0.1` included. The lists apply whatever the origin. When ranges overlap, the most specific one
/// decides; of ranges of the same size, the deny list beats the allow list, which beats the built-in denials.
/// So `deny 10.0.0.0/8` with `allow 10.1.2.3` allows that one address, and `allow 127.0.0.0/8` lifts the
/// loopback denial for MX hosts (tests on loopback need that).
///
/// ```
/// use smtp_probe_proto::connect::{AddressPolicy, DenialReason, Origin};
///
/// let exporter = AddressPolicy::new(Origin::Request).deny("10.0.0.0/8")?.allow("10.1.2.3")?;
/// assert_eq!(exporter.check("169.254.169.254".parse()?), Err(DenialReason::CloudMetadata));
/// assert_eq!(exporter.check("127.0.0.1".parse()?), Err(DenialReason::Loopback));
/// assert!(matches!(exporter.check("10.9.9.9".parse()?), Err(DenialReason::Listed(_))));
/// assert_eq!(exporter.check("10.1.2.3".parse()?), Ok(()));
/// assert_eq!(exporter.check("192.0.2.7".parse()?), Ok(()));
/// // What a user typed may be anything.
/// assert_eq!(AddressPolicy::default().check("127.0.0.1".parse()?), Ok(()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    origin: Origin,
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// The built-in denials, for targets that did not come from the user.
const BUILT_IN: [(IpNet, DenialReason); 10] = [
    (v4(127, 0, 0, 0, 8), DenialReason::Loopback),
    (v6(Ipv6Addr::LOCALHOST, 128), DenialReason::Loopback),
    (v4(169, 254, 0, 0, 16), DenialReason::LinkLocal),
    (v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), DenialReason::LinkLocal),
    (v4(0, 0, 0, 0, 8), DenialReason::Unspecified),
    (v6(Ipv6Addr::UNSPECIFIED, 128), DenialReason::Unspecified),
    (v4(169, 254, 169, 254, 32), DenialReason::CloudMetadata), // AWS, GCP, Azure, OCI, DigitalOcean, ...
    (v6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), 128), DenialReason::CloudMetadata), // AWS (IPv6)
    (v4(100, 100, 100, 200, 32), DenialReason::CloudMetadata), // Alibaba Cloud
    (v4(168, 63, 129, 16, 32), DenialReason::CloudMetadata),   // Azure WireServer
];

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix))
}

const fn v6(addr: Ipv6Addr, prefix: u8) -> IpNet {
    IpNet::V6(ipnet::Ipv6Net::new_assert(addr, prefix))
}

impl AddressPolicy {
    /// No lists, for a target from `origin`.
    pub fn new(origin: Origin) -> AddressPolicy {
        AddressPolicy { origin, allow: Vec::new(), deny: Vec::new() }
    }

    /// Where the target came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The same lists for a target from `origin` (MX mode gives its hosts [`Origin::Dns`]).
    pub fn with_origin(mut self, origin: Origin) -> AddressPolicy {
        self.origin = origin;
        self
    }

    /// Also allows this range (`10.0.0.0/8`, `2001:db8::/32`, or one address), over a built-in denial or a wider
    /// denied range.
    pub fn allow(mut self, range: &str) -> Result<AddressPolicy, AddressRangeError> {
        self.allow.push(parse_range(range)?);
        Ok(self)
    }

    /// Also denies this range (`10.0.0.0/8`, `2001:db8::/32`, or one address), whatever the origin.
    pub fn deny(mut self, range: &str) -> Result<AddressPolicy, AddressRangeError> {
        self.deny.push(parse_range(range)?);
        Ok(self)
    }

    /// Whether a probe may connect to `ip`. An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is judged as the
    /// IPv4 address it is.
    pub fn check(&self, ip: IpAddr) -> Result<(), DenialReason> {
        let ip = ip.to_canonical();
        // (range, rank, denial): on ranges of the same size the higher rank decides.
        let listed = self.deny.iter().map(|&net| (net, 2, Some(DenialReason::Listed(net))));
        let allowed = self.allow.iter().map(|&net| (net, 1, None));
        let built_in = BUILT_IN.iter().filter(|_| self.origin != Origin::Typed).map(|&(net, why)| (net, 0, Some(why)));
        let decision = listed
            .chain(allowed)
            .chain(built_in)
            .filter(|(net, _, _)| net.contains(&ip))
            .max_by_key(|&(net, rank, _)| (net.prefix_len(), rank));
        match decision.and_then(|(_, _, denial)| denial) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }
}

/// `ADDRESS/PREFIX`, or one address (a /32 or /128).
fn parse_range(input: &str) -> Result<IpNet, AddressRangeError> {
    let text = input.trim();
    IpNet::from_str(text)
        .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
        .map_err(|_| AddressRangeError { input: input.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn typed_targets_may_be_anything() {
        let policy = AddressPolicy::default();
        for addr in ["127.0.0.1", "::1", "169.254.169.254", "0.0.0.0", "fe80::1", "192.0.2.1"] {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn requests_and_dns_get_the_built_in_denials() {
        for origin in [Origin::Request, Origin::Dns] {
            let policy = AddressPolicy::new(origin);
            let cases = [
                ("127.0.0.1", Err(DenialReason::Loopback)),
                ("127.255.0.9", Err(DenialReason::Loopback)),
                ("::1", Err(DenialReason::Loopback)),
                ("::ffff:127.0.0.1", Err(DenialReason::Loopback)),
                ("169.254.1.1", Err(DenialReason::LinkLocal)),
                ("fe80::1", Err(DenialReason::LinkLocal)),
                ("0.0.0.0", Err(DenialReason::Unspecified)),
                ("::", Err(DenialReason::Unspecified)),
                ("169.254.169.254", Err(DenialReason::CloudMetadata)),
                ("::ffff:169.254.169.254", Err(DenialReason::CloudMetadata)),
                ("fd00:ec2::254", Err(DenialReason::CloudMetadata)),
                ("100.100.100.200", Err(DenialReason::CloudMetadata)),
                ("168.63.129.16", Err(DenialReason::CloudMetadata)),
                ("10.0.0.1", Ok(())),
                ("192.0.2.1", Ok(())),
                ("2001:db8::1", Ok(())),
                ("100.100.100.201", Ok(())),
            ];
            for (addr, expected) in cases {
                assert_eq!(policy.check(ip(addr)), expected, "{addr} from {origin:?}");
            }
        }
    }

    #[test]
    fn the_most_specific_range_decides_and_deny_wins_a_tie() {
        let policy = AddressPolicy::new(Origin::Dns).allow("127.0.0.0/8").unwrap();
        assert_eq!(policy.check(ip("127.0.0.2")), Ok(()), "the allow list lifts a built-in denial");
        assert_eq!(policy.check(ip("::1")), Err(DenialReason::Loopback), "for the ranges it names only");

        let policy = AddressPolicy::default().deny("10.0.0.0/8").unwrap().allow("10.1.0.0/16").unwrap();
        let listed = Err(DenialReason::Listed("10.0.0.0/8".parse().unwrap()));
        assert_eq!(policy.check(ip("10.2.0.1")), listed);
        assert_eq!(policy.check(ip("10.1.0.1")), Ok(()));
        let policy = policy.deny("10.1.2.3").unwrap();
        assert_eq!(policy.check(ip("10.1.2.3")), Err(DenialReason::Listed("10.1.2.3/32".parse().unwrap())));
        let tie = AddressPolicy::default().allow("192.0.2.0/24").unwrap().deny("192.0.2.0/24").unwrap();
        assert!(tie.check(ip("192.0.2.1")).is_err());
        // A range narrower than a built-in one still leaves the rest of it denied.
        let policy = AddressPolicy::new(Origin::Request).allow("169.254.169.254").unwrap();
        assert_eq!(policy.check(ip("169.254.169.254")), Ok(()));
        assert_eq!(policy.check(ip("169.254.0.1")), Err(DenialReason::LinkLocal));
    }

    #[test]
    fn ranges_are_read_strictly() {
        for good in ["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", "::1", "10.1.2.3/8"] {
            assert!(AddressPolicy::default().allow(good).is_ok(), "{good}");
        }
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "::1/129", "10.0.0.0/"] {
            let err = AddressPolicy::default().deny(bad).unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("invalid address range"));
        }
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(DenialReason::CloudMetadata.to_string(), "cloud metadata");
        assert_eq!(DenialReason::Listed("10.0.0.0/8".parse().unwrap()).to_string(), "in the denied range 10.0.0.0/8");
    }
}
