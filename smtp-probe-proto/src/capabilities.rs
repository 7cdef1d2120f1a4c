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
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "PLAIN" => AuthMechanism::Plain,
            "LOGIN" => AuthMechanism::Login,
            "CRAM-MD5" => AuthMechanism::CramMd5,
            "XOAUTH2" => AuthMechanism::XOauth2,
            "OAUTHBEARER" => AuthMechanism::OauthBearer,
            "SCRAM-SHA-1" => AuthMechanism::ScramSha1,
            "SCRAM-SHA-256" => AuthMechanism::ScramSha256,
            _ => AuthMechanism::Other(upper),
        }
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The first line: the server's domain and greeting text.
    pub domain: String,
    keywords: u32,
    /// SASL mechanisms from every `AUTH` and `AUTH=` line, in order, without repeats.
    pub auth_mechanisms: Vec<AuthMechanism>,
    /// The `SIZE` limit in bytes; `None` when SIZE is absent, advertised without a number, or advertised as 0
    /// (no fixed limit).
    pub size_limit: Option<u64>,
    /// Keywords this crate does not type.
    pub unknown: Vec<UnknownCapability>,
    /// Every line after the first, as sent (lossy UTF-8).
    pub raw_lines: Vec<String>,
}

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
        let Some((keyword, params)) = parse::ehlo_line(line) else {
            return;
        };
        match Keyword::parse(keyword) {
            Some(k) => {
                self.keywords |= k.bit();
                match k {
                    Keyword::Auth => {
                        for mech in params {
                            let mech = AuthMechanism::parse(mech);
                            if !self.auth_mechanisms.contains(&mech) {
                                self.auth_mechanisms.push(mech);
                            }
                        }
                    }
                    Keyword::Size => {
                        self.size_limit = params.first().and_then(|p| p.parse().ok()).filter(|&n: &u64| n > 0);
                    }
                    _ => {}
                }
            }
            None => self.unknown.push(UnknownCapability {
                keyword: keyword.to_ascii_uppercase(),
                params: params.into_iter().map(str::to_owned).collect(),
            }),
        }
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
    use nom::character::complete::{char, space0, space1};
    use nom::combinator::{opt, recognize};
    use nom::multi::separated_list0;
    use nom::sequence::pair;

    /// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`
    fn keyword(input: &str) -> IResult<&str, &str> {
        recognize(pair(
            take_while1(|c: char| c.is_ascii_alphanumeric()).map(|_| ()),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '-'),
        ))
        .parse(input)
    }

    fn param(input: &str) -> IResult<&str, &str> {
        take_while1(|c: char| !c.is_ascii_whitespace()).parse(input)
    }

    /// A keyword and its parameters. `AUTH=PLAIN LOGIN` (a pre-standard form) reads as `AUTH PLAIN LOGIN`.
    pub(super) fn ehlo_line(line: &str) -> Option<(&str, Vec<&str>)> {
        let mut parser = (space0, keyword, opt(char('=')), space0, separated_list0(space1, param), space0);
        let (rest, (_, keyword, _, _, params, _)) = parser.parse(line).ok()?;
        rest.is_empty().then_some((keyword, params))
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

    #[test]
    fn junk_lines_are_kept_raw_but_not_typed() {
        let c = caps(&["mx", "-=garbage", ""]);
        assert!(c.unknown.is_empty());
        assert_eq!(c.raw_lines, ["-=garbage", ""]);
    }
}
