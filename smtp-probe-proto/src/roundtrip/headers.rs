//! What the delivered message's headers say about its way: the hops in its `Received` headers, with the delay at
//! each, and the `Authentication-Results` verdicts (RFC 8601) for SPF, DKIM, DMARC and the rest.
//!
//! The header block comes from the server, so it is data: parsing never panics, and what is kept is bounded (at
//! most [`MAX_ITEMS`] hops and results, each text at most 200 characters).

use mail_parser::MessageParser;

/// Hops and results kept, at most.
pub const MAX_ITEMS: usize = 32;

/// One `Received` header: a server that handled the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The host it came from, as that server recorded it.
    pub from: Option<String>,
    /// The server that received it.
    pub by: Option<String>,
    /// The protocol (`ESMTPSA`, `LMTP`, …).
    pub with: Option<String>,
    /// The receiving server's id for it (its queue id).
    pub id: Option<String>,
    /// When it was received, Unix seconds.
    pub at: Option<i64>,
    /// Seconds since the previous hop (or, for the first, since the message's `Date:`), when both are known.
    /// Clocks differ between servers, so small negative values happen.
    pub delay_secs: Option<i64>,
}

/// One result of an `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// The server that checked (`authserv-id`).
    pub authserv_id: String,
    /// The method: `spf`, `dkim`, `dmarc`, `arc`, …
    pub method: String,
    /// The result: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, …
    pub result: String,
    /// The rest (reason and properties), as written.
    pub details: String,
}

/// The hops, oldest first (headers are prepended, so the bottom one is the first hop); the first hop's delay
/// counts from the message's `Date:` header.
pub fn hops(headers: &[u8]) -> Vec<Hop> {
    let Some(message) = MessageParser::new().parse_headers(headers) else { return Vec::new() };
    let date = message.date().filter(|d| d.is_valid()).map(|d| d.to_timestamp());
    let mut hops: Vec<Hop> = message
        .received_all()
        .map(|r| Hop {
            from: r.from().map(|h| bounded(&h.to_string())),
            by: r.by().map(|h| bounded(&h.to_string())),
            with: r.with().map(|p| bounded(&p.to_string())),
            id: r.id().map(bounded),
            at: r.date().filter(|d| d.is_valid()).map(|d| d.to_timestamp()),
            delay_secs: None,
        })
        .collect();
    hops.reverse();
    hops.truncate(MAX_ITEMS);
    let mut previous = date;
    for hop in &mut hops {
        hop.delay_secs = match (previous, hop.at) {
            (Some(before), Some(at)) => Some(at - before),
            _ => None,
        };
        previous = hop.at.or(previous);
    }
    hops
}

/// Every result of every `Authentication-Results` header, in header order.
pub fn authentication_results(headers: &[u8]) -> Vec<AuthResult> {
    let Some(message) = MessageParser::new().parse_headers(headers) else { return Vec::new() };
    let mut out = Vec::new();
    for header in message.headers() {
        if !header.name().eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let range = header.offset_start() as usize..header.offset_end() as usize;
        let raw = String::from_utf8_lossy(headers.get(range).unwrap_or_default());
        parse_authentication_results(&raw, &mut out);
        if out.len() >= MAX_ITEMS {
            out.truncate(MAX_ITEMS);
            break;
        }
    }
    out
}

/// `authserv-id [version]; method=result [reason] [props]; …` (RFC 8601 §2.2), comments removed.
fn parse_authentication_results(value: &str, out: &mut Vec<AuthResult>) {
    let value = strip_comments(value);
    let mut parts = split_outside_quotes(&value, ';').into_iter();
    let Some(id) = parts.next() else { return };
    let authserv_id = bounded(id.split_whitespace().next().unwrap_or_default());
    for part in parts {
        let part = part.trim();
        let (head, details) = match part.find(char::is_whitespace) {
            Some(at) => (&part[..at], part[at..].trim()),
            None => (part, ""),
        };
        let Some((method, result)) = head.split_once('=') else { continue };
        let method = method.split('/').next().unwrap_or(method).trim();
        if method.is_empty() || method.eq_ignore_ascii_case("none") {
            continue;
        }
        out.push(AuthResult {
            authserv_id: authserv_id.clone(),
            method: bounded(&method.to_ascii_lowercase()),
            result: bounded(&result.trim().to_ascii_lowercase()),
            details: bounded(details),
        });
    }
}

fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0u32, false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            out.push(c);
        }
    }
    out
}

fn split_outside_quotes(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&value[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// At most 200 characters, control characters escaped: header text is the sender's and the servers' data.
fn bounded(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.trim().chars().enumerate() {
        if i == 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &[u8] = b"Return-Path: <probe@mx.test>\r\n\
Delivered-To: roundtrip@roundtrip.test\r\n\
Authentication-Results: mx.example.net (amavis); dkim=pass (2048-bit key)\r\n\theader.d=example.org header.s=s1;\r\n\
\tspf=softfail (sender IP is 192.0.2.1) smtp.mailfrom=probe@example.org; dmarc=none header.from=example.org\r\n\
Received: from relay.example.org (relay.example.org [192.0.2.9])\r\n\tby mx.example.net (Postfix) with ESMTPS id 4Xyz2\r\n\
\tfor <roundtrip@example.net>; Mon, 03 Mar 2025 10:00:07 +0000 (UTC)\r\n\
Received: from [127.0.0.1] (unknown [127.0.0.1])\r\n\tby relay.example.org (Postfix) with ESMTPSA id 4Abc1\r\n\
\tfor <roundtrip@example.net>; Mon, 03 Mar 2025 10:00:02 +0000 (UTC)\r\n\
Date: Mon, 03 Mar 2025 10:00:00 +0000\r\n\
Subject: smtp-probe test message\r\n\r\n";

    #[test]
    fn hops_oldest_first_with_delays() {
        let hops = hops(HEADERS);
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[0].by.as_deref(), Some("relay.example.org"));
        assert_eq!(hops[0].id.as_deref(), Some("4Abc1"));
        assert_eq!(hops[0].with.as_deref(), Some("ESMTPSA"));
        assert_eq!(hops[0].delay_secs, Some(2), "from Date: to the first hop");
        assert_eq!(hops[1].by.as_deref(), Some("mx.example.net"));
        assert_eq!(hops[1].delay_secs, Some(5));
    }

    #[test]
    fn authentication_results_by_method() {
        let results = authentication_results(HEADERS);
        let summary: Vec<(&str, &str)> = results.iter().map(|r| (r.method.as_str(), r.result.as_str())).collect();
        assert_eq!(summary, [("dkim", "pass"), ("spf", "softfail"), ("dmarc", "none")]);
        assert_eq!(results[0].authserv_id, "mx.example.net");
        assert!(results[0].details.contains("header.d=example.org"), "{:?}", results[0]);
        assert!(!results[1].details.contains("sender IP"), "comments are dropped");
    }

    #[test]
    fn hostile_headers_are_bounded() {
        let mut block = b"Received: from x by y; Mon, 03 Mar 2025 10:00:02 +0000\r\n".repeat(100);
        block.extend_from_slice(b"Authentication-Results: a; ");
        block.extend_from_slice(&b"spf=pass x=y; ".repeat(100));
        block.extend_from_slice(b"\r\n\r\n");
        assert_eq!(hops(&block).len(), MAX_ITEMS);
        assert_eq!(authentication_results(&block).len(), MAX_ITEMS);
        assert!(hops(b"\xff\xfe(((((\r\n").is_empty());
        assert!(authentication_results(b"Authentication-Results: ((((\";;;=\r\n\r\n").is_empty());
    }
}
