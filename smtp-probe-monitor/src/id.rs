//! Stable monitor identities. A monitor is keyed by an id derived from its name (or set explicitly), so a reload
//! that keeps the name keeps its history, its open incident and its schedule slot.

use std::fmt;

/// A monitor's stable id: lower-case ASCII letters, digits and `-`, at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct MonitorId(String);

/// The longest id, in bytes.
pub const MAX_ID_LEN: usize = 64;

impl MonitorId {
    /// The id a name maps to: letters and digits lower-cased, every other run of characters one `-`, trimmed
    /// to [`MAX_ID_LEN`]. `"MX 1 (Frankfurt)"` becomes `mx-1-frankfurt`. `None` when nothing is left.
    pub fn from_name(name: &str) -> Option<MonitorId> {
        let mut id = String::with_capacity(name.len().min(MAX_ID_LEN));
        let mut dash = false;
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                if dash && !id.is_empty() {
                    id.push('-');
                }
                dash = false;
                id.push(c.to_ascii_lowercase());
            } else {
                dash = true;
            }
            if id.len() >= MAX_ID_LEN {
                break;
            }
        }
        id.truncate(MAX_ID_LEN);
        let id = id.trim_end_matches('-').to_owned();
        (!id.is_empty()).then_some(MonitorId(id))
    }

    /// An id given verbatim; `None` unless it is already in the canonical form.
    pub fn parse(id: &str) -> Option<MonitorId> {
        let ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !id.ends_with('-');
        ok.then(|| MonitorId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable 64-bit hash (FNV-1a): the same on every machine and release, unlike `std`'s hasher. Spreads
    /// schedule offsets.
    pub fn stable_hash(&self) -> u64 {
        fnv1a(self.0.as_bytes())
    }
}

/// FNV-1a, 64 bits.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl fmt::Display for MonitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_names() {
        assert_eq!(MonitorId::from_name("MX 1 (Frankfurt)").unwrap().as_str(), "mx-1-frankfurt");
        assert_eq!(MonitorId::from_name("  mail.example.com:587 ").unwrap().as_str(), "mail-example-com-587");
        assert_eq!(MonitorId::from_name("--"), None);
        assert_eq!(MonitorId::from_name(&"a".repeat(100)).unwrap().as_str().len(), MAX_ID_LEN);
        assert!(MonitorId::parse("mx-1").is_some());
        assert!(MonitorId::parse("MX").is_none());
        assert!(MonitorId::parse("-a").is_none());
    }

    #[test]
    fn stable_hash_is_fixed() {
        // FNV-1a test vectors: the offsets must never change between releases.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
