//! Host names as DNS and TLS accept them, and [`Domain`], the name MX mode starts from.
//!
//! The syntax is the one rustls applies to a TLS server name (RFC 1123 host names, plus `_`, which real names
//! use): labels of letters, digits, `-` and `_`, 1 to 63 bytes each, not starting or ending with `-`; at most 253
//! bytes in all; one trailing dot allowed; and a last label that is not a number, so that `192.0.2.300` or
//! `1.2.3` is refused rather than taken for a name. A name that passes here is accepted by rustls as well, so a
//! target is never refused later as a TLS name.

use std::fmt;
use std::str::FromStr;

/// The longest host name, in bytes, without its trailing dot (RFC 1035 §2.3.4, as written in text).
const MAX_NAME_LEN: usize = 253;
/// The longest label, in bytes (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Why a string is not a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostnameError {
    /// Nothing, or only a dot.
    #[error("the name is empty")]
    Empty,
    /// Longer than 253 bytes (without a trailing dot).
    #[error("the name is {len} bytes long; at most 253 are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Two dots in a row, or a dot at the start.
    #[error("the name has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    /// A label longer than 63 bytes.
    #[error("the label {label:?} is {} bytes long; at most 63 are allowed", label.len())]
    LabelTooLong {
        /// The label.
        label: String,
    },
    /// A label that starts or ends with `-`.
    #[error("the label {label:?} starts or ends with '-'")]
    HyphenAtLabelEdge {
        /// The label.
        label: String,
    },
    /// A character other than a letter, a digit, `-`, `_` or `.`.
    #[error("{}", invalid_character(*character))]
    InvalidCharacter {
        /// The character.
        character: char,
    },
    /// The last label is a number: an IPv4 address that is not one (`192.0.2.300`, `1.2.3`), not a name.
    #[error("the last label is a number: this is neither a valid IPv4 address nor a host name")]
    NumericTopLevel,
}

fn invalid_character(character: char) -> String {
    if character.is_ascii() {
        format!("the character {character:?} is not allowed in a host name (letters, digits, '-', '_' and '.' are)")
    } else {
        format!(
            "the character {character:?} is not allowed in a host name: write an internationalized name in its \
             ASCII form (xn--…)"
        )
    }
}

/// Checks `name` (one trailing dot allowed) against the host-name syntax of the module documentation.
pub(crate) fn check_hostname(name: &str) -> Result<(), HostnameError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err(HostnameError::Empty);
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(HostnameError::TooLong { len: bare.len() });
    }
    if let Some(character) = bare.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(HostnameError::InvalidCharacter { character });
    }
    let mut last = "";
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(HostnameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostnameError::LabelTooLong { label: label.to_owned() });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostnameError::HyphenAtLabelEdge { label: label.to_owned() });
        }
        last = label;
    }
    if is_number(last) {
        return Err(HostnameError::NumericTopLevel);
    }
    Ok(())
}

/// A decimal number, or `0x` followed by hex digits: what IPv4 parsers take as a number.
fn is_number(label: &str) -> bool {
    let hex = label.strip_prefix("0x").or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The first byte of `text` that never belongs in a name or target: ASCII control bytes and whitespace.
pub(crate) fn forbidden_byte(text: &str) -> Option<u8> {
    text.bytes().find(|b| b.is_ascii_control() || b.is_ascii_whitespace())
}

/// Why a string is not a mail domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// An empty string (or only a dot).
    #[error("the domain is empty")]
    Empty,
    /// A control byte or whitespace.
    #[error("the domain contains the forbidden byte {:?}", char::from(*byte))]
    ForbiddenByte {
        /// The byte.
        byte: u8,
    },
    /// An IP address: MX records belong to names.
    #[error("{domain:?} is an address; MX mode needs a domain name")]
    IpAddress {
        /// What was given.
        domain: String,
    },
    /// Not a valid name.
    #[error("{domain:?} is not a valid domain name: {reason}")]
    InvalidName {
        /// What was given.
        domain: String,
        /// Why.
        reason: HostnameError,
    },
}

/// A mail domain: a valid DNS name, stored without its trailing dot. What MX mode resolves.
///
/// ```
/// use smtp_probe_proto::{Domain, DomainError};
/// let domain: Domain = "example.com.".parse()?;
/// assert_eq!(domain.as_str(), "example.com");
/// assert!(matches!("192.0.2.1".parse::<Domain>(), Err(DomainError::IpAddress { .. })));
/// assert!(matches!("user@example.com".parse::<Domain>(), Err(DomainError::InvalidName { .. })));
/// # Ok::<(), DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// The name, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain as a target on port 25, where mail exchangers listen: the usual template for an MX-mode
    /// configuration, whose target each MX host replaces.
    pub fn mx_target(&self) -> crate::Target {
        crate::Target::from_checked_name(&self.0, 25)
    }
}

impl FromStr for Domain {
    type Err = DomainError;

    fn from_str(input: &str) -> Result<Domain, DomainError> {
        if let Some(byte) = forbidden_byte(input) {
            return Err(DomainError::ForbiddenByte { byte });
        }
        let bare = input.strip_suffix('.').unwrap_or(input);
        if bare.is_empty() {
            return Err(DomainError::Empty);
        }
        let unbracketed = bare.strip_prefix('[').and_then(|b| b.strip_suffix(']')).unwrap_or(bare);
        if unbracketed.parse::<core::net::IpAddr>().is_ok() {
            return Err(DomainError::IpAddress { domain: input.to_owned() });
        }
        check_hostname(bare).map_err(|reason| DomainError::InvalidName { domain: input.to_owned(), reason })?;
        Ok(Domain(bare.to_owned()))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Domain, D::Error> {
        crate::schema::deserialize_from_str(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for good in ["mx", "mx.example.com", "mx.example.com.", "_mta-sts.example.com", "a-b.c_d.e", "x1.example"] {
            assert_eq!(check_hostname(good), Ok(()), "{good}");
        }
        let long_label = "a".repeat(64);
        assert_eq!(check_hostname(&long_label), Err(HostnameError::LabelTooLong { label: long_label.clone() }));
        assert_eq!(check_hostname(&"a".repeat(63)), Ok(()));
        let long_name = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        assert_eq!(long_name.len(), 253);
        assert_eq!(check_hostname(&long_name), Ok(()));
        assert_eq!(check_hostname(&format!("{long_name}.")), Ok(()), "the trailing dot does not count");
        assert_eq!(check_hostname(&format!("e{long_name}")), Err(HostnameError::TooLong { len: 254 }));
        assert_eq!(check_hostname(""), Err(HostnameError::Empty));
        assert_eq!(check_hostname("."), Err(HostnameError::Empty));
        assert_eq!(check_hostname("a..b"), Err(HostnameError::EmptyLabel));
        assert_eq!(check_hostname(".a"), Err(HostnameError::EmptyLabel));
        assert_eq!(check_hostname("a.."), Err(HostnameError::EmptyLabel));
        assert!(matches!(check_hostname("-a.b"), Err(HostnameError::HyphenAtLabelEdge { .. })));
        assert!(matches!(check_hostname("a-.b"), Err(HostnameError::HyphenAtLabelEdge { .. })));
        assert_eq!(check_hostname("a/b"), Err(HostnameError::InvalidCharacter { character: '/' }));
        assert_eq!(check_hostname("münchen.de"), Err(HostnameError::InvalidCharacter { character: 'ü' }));
        assert!(HostnameError::InvalidCharacter { character: 'ü' }.to_string().contains("xn--"));
        assert_eq!(check_hostname("192.0.2.300"), Err(HostnameError::NumericTopLevel));
        assert_eq!(check_hostname("1.2.3"), Err(HostnameError::NumericTopLevel));
        assert_eq!(check_hostname("a.0x1f"), Err(HostnameError::NumericTopLevel));
        assert_eq!(check_hostname("1.2.3.com"), Ok(()));
    }

    #[test]
    fn domains() {
        assert_eq!("example.com.".parse::<Domain>().unwrap().as_str(), "example.com");
        assert_eq!("".parse::<Domain>(), Err(DomainError::Empty));
        assert_eq!(".".parse::<Domain>(), Err(DomainError::Empty));
        assert_eq!(" example.com".parse::<Domain>(), Err(DomainError::ForbiddenByte { byte: b' ' }));
        assert!(matches!("a\r\nb".parse::<Domain>(), Err(DomainError::ForbiddenByte { byte: b'\r' })));
        assert!(matches!("192.0.2.1".parse::<Domain>(), Err(DomainError::IpAddress { .. })));
        assert!(matches!("[2001:db8::1]".parse::<Domain>(), Err(DomainError::IpAddress { .. })));
        assert!(matches!("2001:db8::1".parse::<Domain>(), Err(DomainError::IpAddress { .. })));
        assert!(matches!("example.com:25".parse::<Domain>(), Err(DomainError::InvalidName { .. })));
        assert!(matches!("user@example.com".parse::<Domain>(), Err(DomainError::InvalidName { .. })));
        assert_eq!(format!("[{:>13}]", "example.com".parse::<Domain>().unwrap()), "[  example.com]");
    }
}
