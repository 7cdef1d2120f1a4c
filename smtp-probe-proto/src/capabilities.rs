//! EHLO replies as typed capabilities (RFC 5321 §4.1.1.1 and the extensions' RFCs).
//!
//! Keywords are matched case-insensitively; parameters are kept as sent. Unknown keywords and every raw line are
//! kept, so nothing the server said is lost. Parsing is lenient where real servers are off-spec (`AUTH=PLAIN LOGIN`
//! from old Postfix configurations is read as AUTH).

use std::fmt;

use crate::reply::OwnedReply;

/// A SASL mechanism a server offers (RFC 4954) or the probe may use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(into = "String"))]
#[non_exhaustive]
pub enum AuthMechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (the de facto username/password exchange).
    Login,
    /// `CRAM-MD5`.
    CramMd5,
    /// `XOAUTH2`.
    XOauth2,
    /// `OAUTHBEARER` (RFC 7628).
    OauthBearer,
    /// `SCRAM-SHA-1`.
    ScramSha1,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// Any other mechanism, upper-cased.
    Other(String),
}

impl AuthMechanism {
    /// The mechanism's name as sent in `AUTH`, e.g. `"PLAIN"`.
    pub fn as_str(&self) -> &str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
            AuthMechanism::CramMd5 => "CRAM-MD5",
            AuthMechanism::XOauth2 => "XOAUTH2",
            AuthMechanism::OauthBearer => "OAUTHBEARER",
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::Other(name) => name,
        }
    }

    /// Reads a mechanism name, case-insensitively.
    pub fn parse(name: &str) -> AuthMechanism {
        AuthMechanism::typed(name).unwrap_or_else(|| AuthMechanism::Other(name.to_ascii_uppercase()))
    }

    /// The typed mechanism of this name (case-insensitively), without allocating; `None` for any other.
    fn typed(name: &str) -> Option<AuthMechanism> {
        const TYPED: [AuthMechanism; 7] = [
            AuthMechanism::Plain,
            AuthMechanism::Login,
            AuthMechanism::CramMd5,
            AuthMechanism::XOauth2,
            AuthMechanism::OauthBearer,
            AuthMechanism::ScramSha1,
            AuthMechanism::ScramSha256,
        ];
        TYPED.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AuthMechanism> for String {
    fn from(m: AuthMechanism) -> String {
        m.as_str().to_owned()
    }
}

impl From<String> for AuthMechanism {
    fn from(s: String) -> AuthMechanism {
        AuthMechanism::parse(&s)
    }
}

/// A known EHLO keyword: what an expectation can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Keyword {
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `SIZE` (RFC 1870).
    Size,
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// `VRFY`.
    Vrfy,
    /// `ETRN` (RFC 1985).
    Etrn,
    /// `DELIVERBY` (RFC 2852).
    DeliverBy,
    /// `MT-PRIORITY` (RFC 6710).
    MtPriority,
    /// `PIPECONNECT` (Exim's early pipelining).
    PipeConnect,
}

impl Keyword {
    const ALL: [Keyword; 16] = [
        Keyword::StartTls,
        Keyword::Auth,
        Keyword::Size,
        Keyword::Pipelining,
        Keyword::EightBitMime,
        Keyword::SmtpUtf8,
        Keyword::EnhancedStatusCodes,
        Keyword::Chunking,
        Keyword::BinaryMime,
        Keyword::Dsn,
        Keyword::RequireTls,
        Keyword::Vrfy,
        Keyword::Etrn,
        Keyword::DeliverBy,
        Keyword::MtPriority,
        Keyword::PipeConnect,
    ];

    /// The keyword as servers advertise it.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::StartTls => "STARTTLS",
            Keyword::Auth => "AUTH",
            Keyword::Size => "SIZE",
            Keyword::Pipelining => "PIPELINING",
            Keyword::EightBitMime => "8BITMIME",
            Keyword::SmtpUtf8 => "SMTPUTF8",
            Keyword::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Keyword::Chunking => "CHUNKING",
            Keyword::BinaryMime => "BINARYMIME",
            Keyword::Dsn => "DSN",
            Keyword::RequireTls => "REQUIRETLS",
            Keyword::Vrfy => "VRFY",
            Keyword::Etrn => "ETRN",
            Keyword::DeliverBy => "DELIVERBY",
            Keyword::MtPriority => "MT-PRIORITY",
            Keyword::PipeConnect => "PIPECONNECT",
        }
    }

    /// Reads a keyword case-insensitively; `None` for keywords this crate does not type.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An advertised keyword this crate does not type, kept with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UnknownCapability {
    /// The keyword, upper-cased.
    pub keyword: String,
    /// The parameters, as sent.
    pub params: Vec<String>,
}

/// What a server advertised in one EHLO reply.
///
/// Bounded whatever the server sends: at most [`MAX_OTHER_AUTH_MECHANISMS`] mechanisms beyond the typed ones, at
/// most [`MAX_UNKNOWN_KEYWORDS`] unknown keywords with at most [`MAX_UNKNOWN_PARAMS`] parameters each (what is left
/// out is counted in [`omitted`](Self::omitted); every line is still in [`raw_lines`](Self::raw_lines)). Reading a
/// reply is linear in its size: each mechanism is compared with the few kept so far, never with every one seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The first line: the server's domain and greeting text.
    pub domain: String,
    keywords: u32,
    /// SASL mechanisms from every `AUTH` and `AUTH=` line, in order, without repeats: every typed one, and the
    /// first [`MAX_OTHER_AUTH_MECHANISMS`] others.
    pub auth_mechanisms: Vec<AuthMechanism>,
    /// The `SIZE` limit in bytes; `None` when SIZE is absent, advertised without a number, or advertised as 0
    /// (no fixed limit).
    pub size_limit: Option<u64>,
    /// Keywords this crate does not type (the first [`MAX_UNKNOWN_KEYWORDS`]).
    pub unknown: Vec<UnknownCapability>,
    /// Every line after the first, as sent (lossy UTF-8).
    pub raw_lines: Vec<String>,
    /// How many mechanisms, unknown keywords and parameters of unknown keywords the bounds left out of the typed
    /// fields.
    pub omitted: usize,
}

/// The most AUTH mechanisms kept beyond the typed ones (real servers offer a handful).
pub const MAX_OTHER_AUTH_MECHANISMS: usize = 32;

/// The most unknown keywords kept (real servers advertise a few).
pub const MAX_UNKNOWN_KEYWORDS: usize = 32;

/// The most parameters kept for one unknown keyword.
pub const MAX_UNKNOWN_PARAMS: usize = 16;

impl Capabilities {
    /// Reads an EHLO reply (any code; callers check for 250 first).
    pub fn from_ehlo(reply: &OwnedReply) -> Capabilities {
        let mut caps = Capabilities::default();
        let mut lines = reply.lines.iter();
        if let Some(first) = lines.next() {
            caps.domain = String::from_utf8_lossy(first).into_owned();
        }
        for line in lines {
            let text = String::from_utf8_lossy(line);
            caps.add_line(&text);
            caps.raw_lines.push(text.into_owned());
        }
        caps
    }

    fn add_line(&mut self, line: &str) {
        let Some((keyword, mut params)) = parse::ehlo_line(line) else {
            return;
        };
        match Keyword::parse(keyword) {
            Some(k) => {
                self.keywords |= k.bit();
                match k {
                    Keyword::Auth => {
                        for mech in params {
                            self.add_mechanism(mech);
                        }
                    }
                    Keyword::Size => {
                        self.size_limit = params.next().and_then(|p| p.parse().ok()).filter(|&n: &u64| n > 0);
                    }
                    _ => {}
                }
            }
            None if self.unknown.len() < MAX_UNKNOWN_KEYWORDS => {
                let kept = params.by_ref().take(MAX_UNKNOWN_PARAMS).map(str::to_owned).collect();
                self.omitted += params.count();
                self.unknown.push(UnknownCapability { keyword: keyword.to_ascii_uppercase(), params: kept });
            }
            None => self.omitted += 1,
        }
    }

    /// Adds a mechanism unless it is there already. The list stays short (the typed mechanisms and at most
    /// [`MAX_OTHER_AUTH_MECHANISMS`] others), so each search is bounded and a reply of any size reads in linear
    /// time; a name is copied only when it is kept.
    fn add_mechanism(&mut self, name: &str) {
        if self.auth_mechanisms.iter().any(|m| m.as_str().eq_ignore_ascii_case(name)) {
            return;
        }
        let mechanism = match AuthMechanism::typed(name) {
            Some(typed) => typed,
            None => {
                let others = self.auth_mechanisms.iter().filter(|m| matches!(m, AuthMechanism::Other(_))).count();
                if others >= MAX_OTHER_AUTH_MECHANISMS {
                    self.omitted += 1;
                    return;
                }
                AuthMechanism::Other(name.to_ascii_uppercase())
            }
        };
        self.auth_mechanisms.push(mechanism);
    }

    /// Whether the keyword was advertised.
    pub fn has(&self, keyword: Keyword) -> bool {
        self.keywords & keyword.bit() != 0
    }

    /// Every typed keyword advertised, in a fixed order.
    pub fn keywords(&self) -> impl Iterator<Item = Keyword> + '_ {
        Keyword::ALL.into_iter().filter(|k| self.has(*k))
    }

    /// `STARTTLS` was advertised.
    pub fn starttls(&self) -> bool {
        self.has(Keyword::StartTls)
    }

    /// `SIZE` was advertised (with or without a limit).
    pub fn size(&self) -> bool {
        self.has(Keyword::Size)
    }

    /// `SMTPUTF8` was advertised.
    pub fn smtputf8(&self) -> bool {
        self.has(Keyword::SmtpUtf8)
    }

    /// `PIPELINING` was advertised.
    pub fn pipelining(&self) -> bool {
        self.has(Keyword::Pipelining)
    }

    /// Whether the server offers this SASL mechanism.
    pub fn supports_auth(&self, mechanism: &AuthMechanism) -> bool {
        self.auth_mechanisms.contains(mechanism)
    }
}

/// The EHLO line grammar (RFC 5321 §4.1.1.1), with nom: off the hot path, and clearer than hand-rolled code.
mod parse {
    use nom::IResult;
    use nom::Parser;
    use nom::bytes::complete::{take_while, take_while1};
    use nom::character::complete::{char, space0};
    use nom::combinator::{opt, recognize};
    use nom::sequence::pair;

    /// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`
    fn keyword(input: &str) -> IResult<&str, &str> {
        recognize(pair(
            take_while1(|c: char| c.is_ascii_alphanumeric()).map(|_| ()),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '-'),
        ))
        .parse(input)
    }

    /// A keyword and its parameters (runs of anything but whitespace, separated by spaces and tabs); `None` for a
    /// line that is not one. `AUTH=PLAIN LOGIN` (a pre-standard form) reads as `AUTH PLAIN LOGIN`. The parameters
    /// come lazily, so a caller that keeps a few of many never collects them all.
    pub(super) fn ehlo_line(line: &str) -> Option<(&str, impl Iterator<Item = &str>)> {
        let (rest, (_, keyword, _, _)) = (space0, keyword, opt(char('=')), space0).parse(line).ok()?;
        if rest.bytes().any(|b| b.is_ascii_whitespace() && b != b' ' && b != b'\t') {
            return None;
        }
        Some((keyword, rest.split([' ', '\t']).filter(|param| !param.is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyCode;

    fn caps(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&OwnedReply::new(ReplyCode::OK, lines.iter().copied()))
    }

    #[test]
    fn postfix_ehlo() {
        let c = caps(&[
            "mx.example.com",
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
        ]);
        assert_eq!(c.domain, "mx.example.com");
        assert!(c.starttls() && c.pipelining() && c.smtputf8());
        assert!(c.has(Keyword::Chunking) && c.has(Keyword::Dsn) && c.has(Keyword::EightBitMime));
        assert_eq!(c.size_limit, Some(10_240_000));
        assert!(c.auth_mechanisms.is_empty());
        assert_eq!(c.raw_lines.len(), 10);
        assert!(c.unknown.is_empty());
    }

    #[test]
    fn case_insensitive_and_last_line_starttls() {
        let c = caps(&["mx", "auth plain login", "starttls"]);
        assert!(c.starttls());
        assert_eq!(c.auth_mechanisms, [AuthMechanism::Plain, AuthMechanism::Login]);
    }

    #[test]
    fn old_auth_equals_form_is_read_leniently() {
        let c = caps(&["mx", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN CRAM-MD5"]);
        assert_eq!(c.auth_mechanisms, [AuthMechanism::Plain, AuthMechanism::Login, AuthMechanism::CramMd5]);
        assert_eq!(c.raw_lines[1], "AUTH=PLAIN LOGIN CRAM-MD5");
    }

    #[test]
    fn unknown_keywords_are_kept() {
        let c = caps(&["mx", "X-EXPS GSSAPI NTLM", "XCLIENT NAME ADDR", "SIZE"]);
        assert_eq!(
            c.unknown[0],
            UnknownCapability { keyword: "X-EXPS".into(), params: vec!["GSSAPI".into(), "NTLM".into()] }
        );
        assert_eq!(c.unknown[1].keyword, "XCLIENT");
        assert!(c.size());
        assert_eq!(c.size_limit, None);
    }

    #[test]
    fn gmail_style_auth_mechanisms() {
        let c =
            caps(&["smtp.gmail.com at your service", "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH"]);
        assert_eq!(c.auth_mechanisms.len(), 6);
        assert!(c.supports_auth(&AuthMechanism::XOauth2));
        assert_eq!(c.auth_mechanisms[3], AuthMechanism::Other("PLAIN-CLIENTTOKEN".into()));
    }

    /// A hostile EHLO: tens of thousands of distinct mechanisms, the one the probe needs last. The typed one is
    /// kept, the others are capped (so each search stays short and the whole read linear), nothing is lost from
    /// the raw lines.
    #[test]
    fn tens_of_thousands_of_mechanisms_are_bounded_and_the_typed_ones_kept() {
        let mechanisms: Vec<String> = (0..20_000).map(|i| format!("X{i}")).collect();
        let line = format!("AUTH {} PLAIN", mechanisms.join(" "));
        let c = caps(&["mx", line.as_str(), "AUTH LOGIN X1"]);
        assert_eq!(c.auth_mechanisms.len(), MAX_OTHER_AUTH_MECHANISMS + 2);
        assert_eq!(c.auth_mechanisms[0], AuthMechanism::Other("X0".into()));
        assert!(c.supports_auth(&AuthMechanism::Plain) && c.supports_auth(&AuthMechanism::Login));
        assert_eq!(c.omitted, 20_000 - MAX_OTHER_AUTH_MECHANISMS);
        assert_eq!(c.raw_lines[0].len(), line.len());
    }

    #[test]
    fn unknown_keywords_and_their_parameters_are_bounded() {
        let params = vec!["a"; 30_000].join(" ");
        let mut lines = vec!["mx".to_owned(), format!("X-MANY {params}")];
        lines.extend((0..MAX_UNKNOWN_KEYWORDS + 5).map(|i| format!("X-K{i} p")));
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let c = caps(&lines);
        assert_eq!(c.unknown.len(), MAX_UNKNOWN_KEYWORDS);
        assert_eq!(c.unknown[0].params.len(), MAX_UNKNOWN_PARAMS);
        assert_eq!(c.omitted, (30_000 - MAX_UNKNOWN_PARAMS) + 6);
        assert_eq!(c.raw_lines.len(), lines.len() - 1, "every line kept raw");
    }

    #[test]
    fn parameters_are_separated_by_spaces_and_tabs_only() {
        let c = caps(&["mx", " AUTH\tplain  LOGIN\t", "SIZE#100", "X-FF a\x0cb", "AUTH= CRAM-MD5"]);
        assert_eq!(c.auth_mechanisms, [AuthMechanism::Plain, AuthMechanism::Login, AuthMechanism::CramMd5]);
        assert!(c.size() && c.size_limit.is_none(), "SIZE with the parameter #100");
        assert!(c.unknown.is_empty(), "a form feed is not a separator: the line is junk");
    }

    #[test]
    fn junk_lines_are_kept_raw_but_not_typed() {
        let c = caps(&["mx", "-=garbage", ""]);
        assert!(c.unknown.is_empty());
        assert_eq!(c.raw_lines, ["-=garbage", ""]);
    }
}
