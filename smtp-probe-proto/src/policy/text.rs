//! Small text helpers shared by the record parsers: the `tag=value` list of DMARC, MTA-STS and TLS-RPT records,
//! domain names, and escaping record text for messages.

use core::fmt::Write;

/// Longest record text quoted in a message, in bytes of the original.
const QUOTE_MAX: usize = 80;

/// Record text as a message may show it: printable ASCII kept, everything else `\xNN`, cut after
/// [`QUOTE_MAX`] bytes with `…`.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(QUOTE_MAX) + 2);
    for &b in bytes.iter().take(QUOTE_MAX) {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > QUOTE_MAX {
        out.push('…');
    }
    out
}

/// `s` without leading and trailing WSP.
pub(crate) fn trim_wsp(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// One `name=value` of a tag list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    /// The name, as written.
    pub name: &'a str,
    /// The value, WSP around it removed.
    pub value: &'a str,
    /// Whether WSP stood next to the `=` (DMARC allows it; MTA-STS and TLS-RPT do not).
    pub spaced: bool,
}

/// Why a tag list does not split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagListError {
    /// An empty element between two `;` (a trailing `;` is fine).
    Empty,
    /// An element without `=`.
    NoEquals(String),
    /// An element with nothing before `=`.
    NoName,
    /// More elements than the caller allows.
    TooMany(usize),
}

impl core::fmt::Display for TagListError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TagListError::Empty => f.write_str("empty element between two ';'"),
            TagListError::NoEquals(e) => write!(f, "element \"{e}\" has no '='"),
            TagListError::NoName => f.write_str("element with an empty name"),
            TagListError::TooMany(max) => write!(f, "more than {max} elements"),
        }
    }
}

/// Splits `a=b; c = d;` into tags: elements are separated by `;` with optional WSP around it, a trailing `;`
/// is allowed, the name is what stands before the first `=`.
pub(crate) fn tag_list(text: &str, max: usize) -> Result<Vec<Tag<'_>>, TagListError> {
    let mut tags = Vec::new();
    let mut parts = text.split(';').peekable();
    while let Some(part) = parts.next() {
        let element = trim_wsp(part);
        if element.is_empty() {
            if parts.peek().is_none() && !tags.is_empty() {
                break; // the trailing delimiter
            }
            return Err(TagListError::Empty);
        }
        if tags.len() == max {
            return Err(TagListError::TooMany(max));
        }
        let Some((name, value)) = element.split_once('=') else {
            return Err(TagListError::NoEquals(quote(element.as_bytes())));
        };
        let spaced = name.ends_with([' ', '\t']) || value.starts_with([' ', '\t']);
        let name = trim_wsp(name);
        if name.is_empty() {
            return Err(TagListError::NoName);
        }
        tags.push(Tag { name, value: trim_wsp(value), spaced });
    }
    Ok(tags)
}

/// Why a domain name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Empty, or only a dot.
    #[error("empty domain name")]
    Empty,
    /// Longer than 253 characters (without the trailing dot).
    #[error("domain name longer than 253 characters")]
    TooLong,
    /// A label is empty or longer than 63 characters.
    #[error("domain name \"{0}\" has an empty or over-long label")]
    BadLabel(String),
    /// A character other than letters, digits, `-` and `_`.
    #[error("domain name \"{0}\" has a character other than letters, digits, '-', '_'")]
    BadCharacter(String),
}

/// `name` lower-cased, without its trailing dot, checked: at most 253 characters, labels of 1–63 letters,
/// digits, `-` or `_` (underscores appear in `_spf`-style names and service labels).
pub fn normalize_domain(name: &str) -> Result<String, DomainError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if name.len() > 253 {
        return Err(DomainError::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DomainError::BadLabel(quote(name.as_bytes())));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(DomainError::BadCharacter(quote(name.as_bytes())));
        }
    }
    Ok(name.to_ascii_lowercase())
}

/// Whether `name` and `other` are the same domain (ASCII case and a trailing dot ignored).
pub(crate) fn same_domain(name: &str, other: &str) -> bool {
    let a = name.strip_suffix('.').unwrap_or(name);
    let b = other.strip_suffix('.').unwrap_or(other);
    a.eq_ignore_ascii_case(b)
}

/// Selects the one record of a TXT RRset that starts with `prefix` (case-sensitive, then end or one of
/// `next`), as RFC 8461 §3.1, RFC 8460 §3 and RFC 7489 §6.6.3 do. Records are each TXT record's strings joined.
pub(crate) enum Selected<'a> {
    /// No record has the prefix.
    None,
    /// Exactly one: this one.
    One(&'a [u8]),
    /// This many.
    Several(usize),
}

pub(crate) fn select<'a, R: AsRef<[u8]> + 'a>(
    records: impl IntoIterator<Item = &'a R>,
    prefix: &[u8],
    next: &[u8],
) -> Selected<'a> {
    let mut found = Selected::None;
    for record in records {
        let record = record.as_ref();
        let matches = record.strip_prefix(prefix).is_some_and(|rest| rest.first().is_none_or(|b| next.contains(b)));
        if matches {
            found = match found {
                Selected::None => Selected::One(record),
                Selected::One(_) => Selected::Several(2),
                Selected::Several(n) => Selected::Several(n.saturating_add(1)),
            };
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_split_and_keep_spacing() {
        let tags = tag_list("v=DMARC1; p = reject ;rua=mailto:a@b.example;", 10).unwrap();
        assert_eq!(tags.len(), 3);
        assert_eq!((tags[1].name, tags[1].value, tags[1].spaced), ("p", "reject", true));
        assert!(!tags[0].spaced && !tags[2].spaced);
        assert_eq!(tag_list("a=1;;b=2", 10), Err(TagListError::Empty));
        assert_eq!(tag_list("a=1; b", 10), Err(TagListError::NoEquals("b".into())));
        assert_eq!(tag_list("=1", 10), Err(TagListError::NoName));
        assert_eq!(tag_list("a=1;b=2;c=3", 2), Err(TagListError::TooMany(2)));
        assert_eq!(tag_list("", 10), Err(TagListError::Empty));
        assert_eq!(tag_list("a=", 10).unwrap()[0].value, "");
    }

    #[test]
    fn domains_are_checked_and_normalized() {
        assert_eq!(normalize_domain("Mail.Example.COM.").unwrap(), "mail.example.com");
        assert_eq!(normalize_domain("_spf.example.com").unwrap(), "_spf.example.com");
        assert_eq!(normalize_domain("."), Err(DomainError::Empty));
        assert!(matches!(normalize_domain("a..b"), Err(DomainError::BadLabel(_))));
        assert!(matches!(normalize_domain(&"a".repeat(64)), Err(DomainError::BadLabel(_))));
        assert!(matches!(normalize_domain("a b.example"), Err(DomainError::BadCharacter(_))));
        assert_eq!(normalize_domain(&["a"; 127].join(".")).map(|d| d.len()), Ok(253));
        assert_eq!(normalize_domain(&["ab"; 85].join(".")), Err(DomainError::TooLong));
    }

    #[test]
    fn quoting_escapes_and_cuts() {
        assert_eq!(quote(b"a\\b\x00\xff"), "a\\\\b\\x00\\xff");
        assert_eq!(quote(&[b'x'; 100]).chars().count(), QUOTE_MAX + 1);
    }

    #[test]
    fn selection_counts_matching_records() {
        let records: Vec<Vec<u8>> = vec![b"v=spf1 -all".to_vec(), b"v=spf10".to_vec(), b"google-site=x".to_vec()];
        assert!(matches!(select(&records, b"v=spf1", b" "), Selected::One(b"v=spf1 -all")));
        let two = [b"v=spf1".to_vec(), b"v=spf1 a".to_vec()];
        assert!(matches!(select(&two, b"v=spf1", b" "), Selected::Several(2)));
        assert!(matches!(select(&two, b"v=DMARC1", b"; "), Selected::None));
    }
}
