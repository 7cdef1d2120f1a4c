//! SPF record syntax (RFC 7208 §4.5, §5, §6, §7, §12): terms, qualifiers, CIDR lengths and macro strings.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::policy::text::quote;

/// The longest record parsed (RFC 7208 §3.4 advises staying under 450 bytes; several strings make more).
pub const RECORD_MAX_BYTES: usize = 4096;
/// The most terms a record may have.
pub const MAX_TERMS: usize = 256;
/// The longest macro string (domain-spec or modifier value).
const MACRO_MAX: usize = 512;

/// A mechanism's qualifier: the result when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Qualifier {
    /// `+` (or none): pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

impl Qualifier {
    fn symbol(self) -> &'static str {
        match self {
            Qualifier::Pass => "",
            Qualifier::Fail => "-",
            Qualifier::SoftFail => "~",
            Qualifier::Neutral => "?",
        }
    }
}

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MacroPart {
    /// Literal text (`%%`, `%_`, `%-` already turned into `%`, space, `%20`).
    Literal(String),
    /// `%{…}`.
    Expand(MacroExpand),
}

/// `%{<letter><digits><r><delimiters>}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MacroExpand {
    /// The macro letter, lower case (`s l o d i p v h c r t`).
    pub letter: char,
    /// Upper-case letter: URL-escape the value.
    pub escape: bool,
    /// Keep this many right-hand parts (`None`: all).
    pub keep: Option<usize>,
    /// Reverse the parts first.
    pub reverse: bool,
    /// Split on these (`.` when empty).
    pub delimiters: String,
}

/// A macro string as written: literal text and `%{…}` expansions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MacroString {
    /// The parts, in order.
    pub parts: Vec<MacroPart>,
    /// The text as written.
    pub text: String,
}

impl MacroString {
    /// The text when it has no `%{…}`.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                MacroPart::Literal(text) => out.push_str(text),
                MacroPart::Expand(_) => return None,
            }
        }
        Some(out)
    }

    /// The macro letters it uses.
    pub fn letters(&self) -> impl Iterator<Item = char> + '_ {
        self.parts.iter().filter_map(|p| match p {
            MacroPart::Expand(e) => Some(e.letter),
            MacroPart::Literal(_) => None,
        })
    }

    fn parse(text: &str, domain_spec: bool) -> Result<MacroString, SpfSyntaxError> {
        let bad = |why: &'static str| SpfSyntaxError::Macro { text: quote(text.as_bytes()), why };
        if text.len() > MACRO_MAX {
            return Err(bad("longer than 512 bytes"));
        }
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b != b'%' {
                if !(0x21..=0x7e).contains(&b) {
                    return Err(bad("a character that is not visible ASCII"));
                }
                literal.push(b as char);
                i += 1;
                continue;
            }
            match bytes.get(i + 1) {
                Some(b'%') => literal.push('%'),
                Some(b'_') => literal.push(' '),
                Some(b'-') => literal.push_str("%20"),
                Some(b'{') => {
                    let close = bytes[i + 2..].iter().position(|&c| c == b'}').ok_or(bad("an unclosed %{"))?;
                    let inner = &text[i + 2..i + 2 + close];
                    if !literal.is_empty() {
                        parts.push(MacroPart::Literal(core::mem::take(&mut literal)));
                    }
                    parts.push(MacroPart::Expand(parse_expand(inner, domain_spec).map_err(bad)?));
                    i += close + 3;
                    continue;
                }
                _ => return Err(bad("a % not followed by %, _, - or {")),
            }
            i += 2;
        }
        if !literal.is_empty() {
            parts.push(MacroPart::Literal(literal));
        }
        Ok(MacroString { parts, text: text.to_owned() })
    }
}

fn parse_expand(inner: &str, domain_spec: bool) -> Result<MacroExpand, &'static str> {
    let mut chars = inner.chars();
    let letter = chars.next().ok_or("an empty %{}")?;
    let lower = letter.to_ascii_lowercase();
    if !"slodipvhcrt".contains(lower) || !letter.is_ascii_alphabetic() {
        return Err("an unknown macro letter");
    }
    if domain_spec && "crt".contains(lower) {
        return Err("c, r and t are allowed only in exp text (RFC 7208 §7.2)");
    }
    let rest = chars.as_str();
    let digits_end = rest.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
    let keep = match &rest[..digits_end] {
        "" => None,
        digits => match digits.parse::<usize>() {
            Ok(0) => return Err("a zero digit transformer (RFC 7208 §7.3)"),
            Ok(n) => Some(n),
            Err(_) => None, // more parts than any name has
        },
    };
    let rest = &rest[digits_end..];
    let (reverse, delimiters) = match rest.strip_prefix(['r', 'R']) {
        Some(d) => (true, d),
        None => (false, rest),
    };
    if !delimiters.bytes().all(|b| b".-+,/_=".contains(&b)) {
        return Err("a delimiter other than . - + , / _ =");
    }
    Ok(MacroExpand {
        letter: lower,
        escape: letter.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters: delimiters.to_owned(),
    })
}

/// A mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:<domain-spec>`.
    Include(MacroString),
    /// `a[:<domain-spec>][/<v4>][//<v6>]`.
    A {
        /// The domain, `None` for the current one.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 by default).
        v4: u8,
        /// IPv6 prefix length (128 by default).
        v6: u8,
    },
    /// `mx[:<domain-spec>][/<v4>][//<v6>]`.
    Mx {
        /// The domain, `None` for the current one.
        domain: Option<MacroString>,
        /// IPv4 prefix length.
        v4: u8,
        /// IPv6 prefix length.
        v6: u8,
    },
    /// `ptr[:<domain-spec>]`.
    Ptr(Option<MacroString>),
    /// `ip4:<network>[/<len>]`.
    Ip4(Ipv4Addr, u8),
    /// `ip6:<network>[/<len>]`.
    Ip6(Ipv6Addr, u8),
    /// `exists:<domain-spec>`.
    Exists(MacroString),
}

impl Mechanism {
    /// Whether evaluating it queries DNS, and so counts against the 10-lookup limit (RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        !matches!(self, Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..))
    }
}

/// A term of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Term {
    /// A qualifier and a mechanism.
    Directive(Qualifier, Mechanism),
    /// `redirect=<domain-spec>`.
    Redirect(MacroString),
    /// `exp=<domain-spec>`.
    Explanation(MacroString),
    /// Another `name=value`: ignored by evaluation.
    Unknown(String, String),
}

/// A parsed `v=spf1` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SpfRecord {
    /// The terms, in order.
    pub terms: Vec<Term>,
}

/// Why an SPF record does not parse (check_host() then returns `permerror`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpfSyntaxError {
    /// Longer than [`RECORD_MAX_BYTES`].
    #[error("the record is longer than {RECORD_MAX_BYTES} bytes")]
    TooLong,
    /// More than [`MAX_TERMS`] terms.
    #[error("the record has more than {MAX_TERMS} terms")]
    TooManyTerms,
    /// Does not start with `v=spf1`.
    #[error("the record does not start with v=spf1")]
    NotSpf1,
    /// A character outside printable ASCII.
    #[error("the record has a character that is not printable ASCII")]
    NotAscii,
    /// A term that is not a known mechanism or `name=value`.
    #[error("unknown or malformed term \"{0}\"")]
    BadTerm(String),
    /// A bad IP network or prefix length.
    #[error("bad address or prefix length in \"{0}\"")]
    BadNetwork(String),
    /// A bad domain-spec (it must end in a top label that is not all digits, or a macro).
    #[error("bad domain-spec \"{0}\"")]
    BadDomainSpec(String),
    /// A bad macro.
    #[error("bad macro in \"{text}\": {why}")]
    Macro {
        /// The macro string, escaped.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `redirect` or `exp` given twice (RFC 7208 §6).
    #[error("the modifier {0} appears more than once")]
    RepeatedModifier(&'static str),
}

/// Whether a TXT record is an SPF record: `v=spf1` then a space or the end (RFC 7208 §4.5, case-insensitive).
pub fn is_spf1(record: &[u8]) -> bool {
    record.len() >= 6 && record[..6].eq_ignore_ascii_case(b"v=spf1") && record.get(6).is_none_or(|&b| b == b' ')
}

impl SpfRecord {
    /// Parses one record.
    pub fn parse(record: &[u8]) -> Result<SpfRecord, SpfSyntaxError> {
        if record.len() > RECORD_MAX_BYTES {
            return Err(SpfSyntaxError::TooLong);
        }
        if !is_spf1(record) {
            return Err(SpfSyntaxError::NotSpf1);
        }
        if !record.iter().all(|&b| (0x20..=0x7e).contains(&b)) {
            return Err(SpfSyntaxError::NotAscii);
        }
        // Checked above: printable ASCII is UTF-8.
        let text = core::str::from_utf8(&record[6..]).map_err(|_| SpfSyntaxError::NotAscii)?;
        let mut terms = Vec::new();
        let (mut redirect, mut exp) = (false, false);
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            if terms.len() == MAX_TERMS {
                return Err(SpfSyntaxError::TooManyTerms);
            }
            let term = parse_term(word)?;
            match &term {
                Term::Redirect(_) if redirect => return Err(SpfSyntaxError::RepeatedModifier("redirect")),
                Term::Explanation(_) if exp => return Err(SpfSyntaxError::RepeatedModifier("exp")),
                Term::Redirect(_) => redirect = true,
                Term::Explanation(_) => exp = true,
                _ => {}
            }
            terms.push(term);
        }
        Ok(SpfRecord { terms })
    }

    /// The `redirect` modifier, if any.
    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match t {
            Term::Redirect(target) => Some(target),
            _ => None,
        })
    }

    /// Whether it has an `all` mechanism (then `redirect` is ignored, RFC 7208 §6.1).
    pub fn has_all(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::Directive(_, Mechanism::All)))
    }

    /// How many of its own terms query DNS (includes and redirect counted once each, not what they lead to).
    pub fn dns_terms(&self) -> usize {
        self.terms
            .iter()
            .filter(|t| match t {
                Term::Directive(_, m) => m.queries_dns(),
                Term::Redirect(_) => !self.has_all(),
                _ => false,
            })
            .count()
    }
}

fn parse_term(word: &str) -> Result<Term, SpfSyntaxError> {
    let bad = || SpfSyntaxError::BadTerm(quote(word.as_bytes()));
    // A modifier is `name=value` with a name of letters, digits, - _ . starting with a letter.
    let name_end = word.find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).unwrap_or(word.len());
    if word[name_end..].starts_with('=') && word.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        let (name, value) = (&word[..name_end], &word[name_end + 1..]);
        return Ok(match name.to_ascii_lowercase().as_str() {
            "redirect" => Term::Redirect(domain_spec(value)?),
            "exp" => Term::Explanation(domain_spec(value)?),
            _ => {
                MacroString::parse(value, false)?;
                Term::Unknown(name.to_owned(), value.to_owned())
            }
        });
    }
    let (qualifier, rest) = match word.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &word[1..]),
        Some(b'-') => (Qualifier::Fail, &word[1..]),
        Some(b'~') => (Qualifier::SoftFail, &word[1..]),
        Some(b'?') => (Qualifier::Neutral, &word[1..]),
        _ => (Qualifier::Pass, word),
    };
    let name_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, arg) = (rest[..name_end].to_ascii_lowercase(), &rest[name_end..]);
    let mechanism = match name.as_str() {
        "all" if arg.is_empty() => Mechanism::All,
        "include" => Mechanism::Include(domain_spec(arg.strip_prefix(':').ok_or_else(bad)?)?),
        "exists" => Mechanism::Exists(domain_spec(arg.strip_prefix(':').ok_or_else(bad)?)?),
        "ptr" => match arg {
            "" => Mechanism::Ptr(None),
            _ => Mechanism::Ptr(Some(domain_spec(arg.strip_prefix(':').ok_or_else(bad)?)?)),
        },
        "a" | "mx" => {
            let (domain, cidr) = match arg.strip_prefix(':') {
                Some(spec) => {
                    // The dual CIDR length follows the domain-spec; a macro never contains '/'... except
                    // as a delimiter inside %{…}, so split after the last '}'.
                    let tail_start = spec.rfind('}').map_or(0, |i| i + 1);
                    let slash = spec[tail_start..].find('/').map(|i| i + tail_start);
                    let (spec, cidr) = slash.map_or((spec, ""), |i| spec.split_at(i));
                    (Some(domain_spec(spec)?), cidr)
                }
                None => (None, arg),
            };
            let (v4, v6) = dual_cidr(cidr).ok_or_else(|| SpfSyntaxError::BadNetwork(quote(word.as_bytes())))?;
            if name == "a" { Mechanism::A { domain, v4, v6 } } else { Mechanism::Mx { domain, v4, v6 } }
        }
        "ip4" | "ip6" => {
            let net = arg.strip_prefix(':').ok_or_else(bad)?;
            let bad_net = || SpfSyntaxError::BadNetwork(quote(word.as_bytes()));
            let (addr, len) = match net.split_once('/') {
                Some((addr, len)) => (addr, Some(len)),
                None => (net, None),
            };
            if name == "ip4" {
                let addr: Ipv4Addr = addr.parse().map_err(|_| bad_net())?;
                Mechanism::Ip4(addr, len.map_or(Some(32), |l| cidr_len(l, 32)).ok_or_else(bad_net)?)
            } else {
                let addr: Ipv6Addr = addr.parse().map_err(|_| bad_net())?;
                Mechanism::Ip6(addr, len.map_or(Some(128), |l| cidr_len(l, 128)).ok_or_else(bad_net)?)
            }
        }
        _ => return Err(bad()),
    };
    Ok(Term::Directive(qualifier, mechanism))
}

/// `"0" / %x31-39 0*2DIGIT`, at most `max`.
fn cidr_len(text: &str, max: u8) -> Option<u8> {
    let ok = !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit());
    let ok = ok && !(text.len() > 1 && text.starts_with('0'));
    text.parse::<u8>().ok().filter(|&n| ok && n <= max)
}

/// `[ "/" v4 ] [ "//" v6 ]`.
fn dual_cidr(text: &str) -> Option<(u8, u8)> {
    if text.is_empty() {
        return Some((32, 128));
    }
    let (v4, v6) = match text.split_once("//") {
        Some((v4, v6)) => (v4, Some(v6)),
        None => (text, None),
    };
    let v4 = match v4 {
        "" => 32,
        v4 => cidr_len(v4.strip_prefix('/')?, 32)?,
    };
    let v6 = match v6 {
        None => 128,
        Some(v6) => cidr_len(v6, 128)?,
    };
    Some((v4, v6))
}

/// A domain-spec: a macro string ending in `.toplabel[.]` or a macro (RFC 7208 §7.1).
fn domain_spec(text: &str) -> Result<MacroString, SpfSyntaxError> {
    let spec = MacroString::parse(text, true)?;
    let ends_in_macro = matches!(spec.parts.last(), Some(MacroPart::Expand(_)));
    if !ends_in_macro {
        let Some(MacroPart::Literal(tail)) = spec.parts.last() else {
            return Err(SpfSyntaxError::BadDomainSpec(quote(text.as_bytes())));
        };
        let tail = tail.strip_suffix('.').unwrap_or(tail);
        let top = tail.rsplit('.').next().unwrap_or_default();
        let has_dot = tail.contains('.') || spec.parts.len() > 1;
        let top_ok = !top.is_empty()
            && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !top.bytes().all(|b| b.is_ascii_digit())
            && !top.starts_with('-')
            && !top.ends_with('-');
        if !has_dot || !top_ok {
            return Err(SpfSyntaxError::BadDomainSpec(quote(text.as_bytes())));
        }
    }
    Ok(spec)
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cidr = |f: &mut fmt::Formatter<'_>, v4: u8, v6: u8| {
            if v4 != 32 {
                write!(f, "/{v4}")?;
            }
            if v6 != 128 {
                write!(f, "//{v6}")?;
            }
            Ok(())
        };
        match self {
            Mechanism::All => f.write_str("all"),
            Mechanism::Include(d) => write!(f, "include:{d}"),
            Mechanism::A { domain, v4, v6 } | Mechanism::Mx { domain, v4, v6 } => {
                f.write_str(if matches!(self, Mechanism::A { .. }) { "a" } else { "mx" })?;
                if let Some(d) = domain {
                    write!(f, ":{d}")?;
                }
                cidr(f, *v4, *v6)
            }
            Mechanism::Ptr(None) => f.write_str("ptr"),
            Mechanism::Ptr(Some(d)) => write!(f, "ptr:{d}"),
            Mechanism::Ip4(a, l) => write!(f, "ip4:{a}/{l}"),
            Mechanism::Ip6(a, l) => write!(f, "ip6:{a}/{l}"),
            Mechanism::Exists(d) => write!(f, "exists:{d}"),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Directive(q, m) => write!(f, "{}{m}", q.symbol()),
            Term::Redirect(d) => write!(f, "redirect={d}"),
            Term::Explanation(d) => write!(f, "exp={d}"),
            Term::Unknown(n, v) => write!(f, "{n}={v}"),
        }
    }
}

/// Whether `ip` is inside `network/len` (IPv4-mapped IPv6 addresses count as IPv4).
pub(crate) fn in_network(ip: IpAddr, network: IpAddr, v4: u8, v6: u8) -> bool {
    match (ip.to_canonical(), network.to_canonical()) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4.min(32))).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(v6.min(128))).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
impl MacroString {
    /// A macro string as in a domain-spec, for tests of the expansion.
    pub(crate) fn parse_for_tests(text: &str) -> MacroString {
        MacroString::parse(text, true).expect("a valid macro string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SpfRecord {
        SpfRecord::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_rfc_appendix_records_parse() {
        // RFC 7208 Appendix A and real-world records.
        for text in [
            "v=spf1 +all",
            "v=spf1 a -all",
            "v=spf1 a:example.org -all",
            "v=spf1 mx -all",
            "v=spf1 mx:example.org -all",
            "v=spf1 mx mx:example.org -all",
            "v=spf1 mx/30 mx:example.org/30 -all",
            "v=spf1 ptr -all",
            "v=spf1 ip4:192.0.2.128/28 -all",
            "v=spf1 include:example.com include:example.net -all",
            "v=spf1 redirect=example.org",
            "v=spf1 mx -all exp=explain._spf.%{d}",
            "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all",
            "v=spf1 -ip4:192.0.2.0/24 +all",
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
            "v=spf1 include:_spf.google.com ~all",
            "v=spf1 ip6:2001:db8::/32 a//64 mx:mail.example.com/24//64 ?all",
            "V=SPF1 MX -ALL",
            "v=spf1",
            "v=spf1 a  -all  ",
            "v=spf1 -all moo.cow-far_out=man:dog/cat",
        ] {
            parse(text);
        }
        let r = parse("v=spf1 mx/30 a:mail.example.com//64 include:_spf.example.com ip4:192.0.2.1 -all");
        assert_eq!(r.terms.len(), 5);
        assert_eq!(r.dns_terms(), 3);
        assert_eq!(r.terms[0], Term::Directive(Qualifier::Pass, Mechanism::Mx { domain: None, v4: 30, v6: 128 }));
        assert_eq!(r.terms[3].to_string(), "ip4:192.0.2.1/32");
        assert_eq!(r.terms[4], Term::Directive(Qualifier::Fail, Mechanism::All));
        let redirect = parse("v=spf1 redirect=_spf.example.com");
        assert_eq!(redirect.dns_terms(), 1);
        assert_eq!(parse("v=spf1 -all redirect=x.example").dns_terms(), 0);
    }

    #[test]
    fn macros_parse_with_their_transformers() {
        let r = parse("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d2} -all");
        let Term::Directive(_, Mechanism::Exists(spec)) = &r.terms[0] else { panic!() };
        let letters: String = spec.letters().collect();
        assert_eq!(letters, "ild");
        let MacroPart::Expand(l) = &spec.parts[2] else { panic!() };
        assert_eq!((l.letter, l.keep, l.reverse, l.delimiters.as_str()), ('l', Some(1), true, "+-"));
        let MacroPart::Expand(d) = &spec.parts[4] else { panic!() };
        assert_eq!(d.keep, Some(2));
        assert_eq!(spec.literal(), None);
        let spec = MacroString::parse("a%%b%_c%-d", false).unwrap();
        assert_eq!(spec.literal().as_deref(), Some("a%b c%20d"));
    }

    #[test]
    fn syntax_errors_are_typed() {
        let err = |text: &str| SpfRecord::parse(text.as_bytes()).unwrap_err();
        assert_eq!(err("v=spf10 -all"), SpfSyntaxError::NotSpf1);
        assert_eq!(err("spf1 -all"), SpfSyntaxError::NotSpf1);
        assert!(matches!(err("v=spf1 foo"), SpfSyntaxError::BadTerm(_)));
        assert!(matches!(err("v=spf1 all:x.example"), SpfSyntaxError::BadTerm(_)));
        assert!(matches!(err("v=spf1 include"), SpfSyntaxError::BadTerm(_)));
        assert!(matches!(err("v=spf1 ip4:192.0.2.300"), SpfSyntaxError::BadNetwork(_)));
        assert!(matches!(err("v=spf1 ip4:192.0.2.0/33"), SpfSyntaxError::BadNetwork(_)));
        assert!(matches!(err("v=spf1 ip4:192.0.2.0/08"), SpfSyntaxError::BadNetwork(_)));
        assert!(matches!(err("v=spf1 ip6:2001:db8::/129"), SpfSyntaxError::BadNetwork(_)));
        assert!(matches!(err("v=spf1 a/33"), SpfSyntaxError::BadNetwork(_)));
        assert!(matches!(err("v=spf1 include:example"), SpfSyntaxError::BadDomainSpec(_)));
        assert!(matches!(err("v=spf1 include:192.0.2.1"), SpfSyntaxError::BadDomainSpec(_)));
        assert!(matches!(err("v=spf1 exists:%{x}.example.com"), SpfSyntaxError::Macro { .. }));
        assert!(matches!(err("v=spf1 exists:%{d0}.example.com"), SpfSyntaxError::Macro { .. }));
        assert!(matches!(err("v=spf1 exists:%{t}.example.com"), SpfSyntaxError::Macro { .. }));
        assert!(matches!(err("v=spf1 exists:%{d.example.com"), SpfSyntaxError::Macro { .. }));
        assert!(matches!(err("v=spf1 exists:%d.example.com"), SpfSyntaxError::Macro { .. }));
        assert_eq!(err("v=spf1 redirect=a.example redirect=b.example"), SpfSyntaxError::RepeatedModifier("redirect"));
        assert_eq!(err("v=spf1 exp=a.example exp=b.example"), SpfSyntaxError::RepeatedModifier("exp"));
        assert_eq!(err("v=spf1 a\t-all"), SpfSyntaxError::NotAscii);
        assert_eq!(SpfRecord::parse(&[b'v'; 5000]), Err(SpfSyntaxError::TooLong));
        let many = format!("v=spf1{}", " a".repeat(MAX_TERMS + 1));
        assert_eq!(err(&many), SpfSyntaxError::TooManyTerms);
    }

    #[test]
    fn networks_match_by_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("192.0.2.77"), ip("192.0.2.64"), 26, 128));
        assert!(!in_network(ip("192.0.2.128"), ip("192.0.2.64"), 26, 128));
        assert!(in_network(ip("198.51.100.1"), ip("0.0.0.0"), 0, 128));
        assert!(in_network(ip("::ffff:192.0.2.1"), ip("192.0.2.0"), 24, 128));
        assert!(in_network(ip("2001:db8::1"), ip("2001:db8::"), 32, 32));
        assert!(!in_network(ip("2001:db9::1"), ip("2001:db8::"), 32, 32));
        assert!(!in_network(ip("192.0.2.1"), ip("2001:db8::"), 0, 0));
    }
}
