//! Server-controlled text made safe to print: a reply line, a certificate name or an MX host name may hold any
//! byte the server chose, and none of them may steer a terminal or split a log line.
//!
//! Every human and Nagios path in this crate writes server text through [`escape`] (or [`escape_bytes`] for raw
//! reply lines); JSON does not, since JSON escapes control characters itself and keeps the exact text.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Escapes text for a terminal or a log line: control characters (C0, DEL and C1, so no ESC, BEL, bare CR or
/// line feed gets through), and the Unicode controls that reorder what a terminal shows (bidirectional
/// overrides and isolates), are written as visible escapes. Everything else, other Unicode included, is kept.
///
/// | character | written as |
/// | --- | --- |
/// | tab, line feed, carriage return | `\t`, `\n`, `\r` |
/// | other C0 controls and DEL (ESC, BEL, NUL, ...) | `\x1b`, `\x07`, `\x00`, ... |
/// | C1 controls (U+0080 to U+009F), bidirectional controls | `\u{9b}`, `\u{202e}`, ... |
///
/// Text with nothing to escape is returned as it is, without a copy.
///
/// ```
/// use smtp_probe_render::escape;
///
/// assert_eq!(escape("250 mx.example.com"), "250 mx.example.com");
/// assert_eq!(escape("554 \x1b[2Jgone\x07\rOK"), r"554 \x1b[2Jgone\x07\rOK");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    match text.char_indices().find(|(_, c)| needs_escape(*c)) {
        None => Cow::Borrowed(text),
        Some((first, _)) => {
            let mut out = String::with_capacity(text.len() + 8);
            out.push_str(&text[..first]);
            push_escaped(&mut out, &text[first..]);
            Cow::Owned(out)
        }
    }
}

/// Like [`escape`], for bytes that need not be UTF-8 (a reply line as the server sent it): each byte that is not
/// part of valid UTF-8 is written as `\xNN`, so nothing is lost to a replacement character.
///
/// ```
/// use smtp_probe_render::escape_bytes;
///
/// assert_eq!(escape_bytes(b"220 caf\xe9 \x1b[31m"), r"220 caf\xe9 \x1b[31m");
/// ```
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// Cuts text to at most `max_chars` characters, saying how much was left out: a server's reply line can be
/// thousands of characters long, and one line of a status or log must stay readable (and, for Nagios, short
/// enough that the performance data after it is not cut off by the monitoring system).
///
/// ```
/// use smtp_probe_render::truncate;
///
/// assert_eq!(truncate("short", 10), "short");
/// assert_eq!(truncate("0123456789abcdef", 10), "0123456789… (6 more characters)");
/// ```
pub fn truncate(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let more = text[cut..].chars().count();
            Cow::Owned(format!("{}… ({more} more character{})", &text[..cut], if more == 1 { "" } else { "s" }))
        }
    }
}

/// Whether a character is written as an escape.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The formatting characters that change the order in which text is displayed (the "Trojan Source" set).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_visible_and_nothing_else_changes() {
        assert!(matches!(escape("plain text, ünïcödé ✓"), Cow::Borrowed(_)));
        assert_eq!(escape("a\tb\nc\rd"), r"a\tb\nc\rd");
        assert_eq!(escape("\x00\x07\x08\x1b\x7f"), r"\x00\x07\x08\x1b\x7f");
        assert_eq!(escape("\u{9b}31m"), r"\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), r"abc\u{202e}fed");
        assert_eq!(escape("\u{2066}x\u{2069}"), r"\u{2066}x\u{2069}");
        // A backslash is not a control: text that looks like an escape stays as the server wrote it.
        assert_eq!(escape(r"\x1b"), r"\x1b");
    }

    #[test]
    fn every_char_below_space_is_escaped() {
        for byte in 0u8..0x20 {
            let text = char::from(byte).to_string();
            let escaped = escape(&text);
            assert!(escaped.starts_with('\\') && escaped.chars().all(|c| !c.is_control()), "{byte:#x}: {escaped}");
        }
    }

    #[test]
    fn invalid_utf8_bytes_are_kept_as_hex() {
        assert_eq!(escape_bytes(b"ok"), "ok");
        assert_eq!(escape_bytes(b"\xff\xfe\r\n"), r"\xff\xfe\r\n");
        assert_eq!(escape_bytes(b"caf\xc3\xa9 \xc3"), r"café \xc3");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("éééé", 4), "éééé");
        assert_eq!(truncate("ééééé", 4), "éééé… (1 more character)");
        assert_eq!(truncate("", 0), "");
        assert_eq!(truncate("ab", 0), "… (2 more characters)");
    }
}
