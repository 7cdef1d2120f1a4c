//! IMAP commands the mailbox check sends, and their encoding (RFC 3501 §6, RFC 4315, RFC 4959).
//!
//! Caller strings reach the wire only as quoted strings or literals, never as bare atoms, and they were checked
//! for CR, LF and NUL when the configuration was built. Credentials are [`Secret`]s: [`ImapCommand::redacted`]
//! is what transcripts and reports show.

use base64::Engine;

use crate::command::{SafeText, Secret};

/// One IMAP command (the tag is added when it is encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImapCommand {
    /// `CAPABILITY`
    Capability,
    /// `STARTTLS`
    StartTls,
    /// `LOGIN user password`: quoted strings, or non-synchronizing literals (`LITERAL+`) for 8-bit credentials.
    Login {
        /// The user name.
        user: SafeText,
        /// The password.
        password: Secret,
        /// Whether the server offers `LITERAL+` (needed for credentials that cannot be quoted).
        literal_plus: bool,
    },
    /// `AUTHENTICATE PLAIN [initial-response]` (the initial response with SASL-IR, RFC 4959).
    AuthenticatePlain {
        /// The base64 response, sent on the command line when the server offers SASL-IR.
        initial_response: Option<Secret>,
    },
    /// The base64 line answering a `+` continuation (no tag).
    AuthResponse(Secret),
    /// `SELECT mailbox`
    Select(String),
    /// `NOOP`: lets the server report new messages.
    Noop,
    /// `UID SEARCH HEADER name "value"`
    UidSearchHeader {
        /// The header field name.
        name: &'static str,
        /// The value to look for (a substring match, per RFC 3501).
        value: String,
    },
    /// `UID FETCH set (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])`: the headers, without setting \Seen.
    UidFetchHeaders(Vec<u32>),
    /// `UID STORE set +FLAGS.SILENT (\Deleted)`
    UidStoreDeleted(Vec<u32>),
    /// `UID EXPUNGE set` (UIDPLUS, RFC 4315): removes only these messages.
    UidExpunge(Vec<u32>),
    /// `EXPUNGE`: removes every message flagged \Deleted in the mailbox, not only the probe's.
    Expunge,
    /// `LOGOUT`
    Logout,
}

/// Why a command cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// 8-bit credentials need a literal, and without `LITERAL+` a literal needs a round trip the probe does not
    /// make (use AUTHENTICATE PLAIN, which carries any bytes in base64).
    #[error(
        "the credentials contain 8-bit characters, which LOGIN can only send as a literal (the server offers no LITERAL+)"
    )]
    NeedsLiteral,
}

impl ImapCommand {
    /// Appends the command line with its tag (none for [`ImapCommand::AuthResponse`]), CRLF included.
    pub fn encode(&self, tag: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let ImapCommand::AuthResponse(response) = self {
            out.extend_from_slice(response.expose().as_bytes());
            out.extend_from_slice(b"\r\n");
            return Ok(());
        }
        let start = out.len();
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        match self {
            ImapCommand::Capability => out.extend_from_slice(b"CAPABILITY"),
            ImapCommand::StartTls => out.extend_from_slice(b"STARTTLS"),
            ImapCommand::Login { user, password, literal_plus } => {
                out.extend_from_slice(b"LOGIN ");
                let encoded = string(user.as_str(), *literal_plus, out).and_then(|()| {
                    out.push(b' ');
                    string(password.expose(), *literal_plus, out)
                });
                if let Err(err) = encoded {
                    out.truncate(start);
                    return Err(err);
                }
            }
            ImapCommand::AuthenticatePlain { initial_response } => {
                out.extend_from_slice(b"AUTHENTICATE PLAIN");
                if let Some(ir) = initial_response {
                    out.push(b' ');
                    // An empty initial response is sent as "=" (RFC 4959).
                    out.extend_from_slice(if ir.expose().is_empty() { b"=" } else { ir.expose().as_bytes() });
                }
            }
            ImapCommand::AuthResponse(_) => unreachable!("handled above"),
            ImapCommand::Select(mailbox) => {
                out.extend_from_slice(b"SELECT ");
                quoted(&mailbox_name(mailbox), out);
            }
            ImapCommand::Noop => out.extend_from_slice(b"NOOP"),
            ImapCommand::UidSearchHeader { name, value } => {
                out.extend_from_slice(b"UID SEARCH HEADER ");
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                quoted(value, out);
            }
            ImapCommand::UidFetchHeaders(uids) => {
                out.extend_from_slice(b"UID FETCH ");
                uid_set(uids, out);
                out.extend_from_slice(b" (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])");
            }
            ImapCommand::UidStoreDeleted(uids) => {
                out.extend_from_slice(b"UID STORE ");
                uid_set(uids, out);
                out.extend_from_slice(b" +FLAGS.SILENT (\\Deleted)");
            }
            ImapCommand::UidExpunge(uids) => {
                out.extend_from_slice(b"UID EXPUNGE ");
                uid_set(uids, out);
            }
            ImapCommand::Expunge => out.extend_from_slice(b"EXPUNGE"),
            ImapCommand::Logout => out.extend_from_slice(b"LOGOUT"),
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The command as a transcript shows it, with its tag: credentials replaced by `<redacted>`.
    pub fn redacted(&self, tag: &str) -> String {
        match self {
            ImapCommand::Login { user, .. } => {
                let mut shown = Vec::new();
                quoted(user.as_str(), &mut shown);
                format!("{tag} LOGIN {} <redacted>", String::from_utf8_lossy(&shown))
            }
            ImapCommand::AuthenticatePlain { initial_response: Some(_) } => {
                format!("{tag} AUTHENTICATE PLAIN <redacted>")
            }
            ImapCommand::AuthResponse(_) => "<redacted>".to_owned(),
            other => {
                let mut line = Vec::new();
                // Only LOGIN can fail to encode, and it is handled above.
                let _ = other.encode(tag, &mut line);
                line.truncate(line.len().saturating_sub(2));
                String::from_utf8_lossy(&line).into_owned()
            }
        }
    }
}

/// The SASL PLAIN response (RFC 4616): `\0user\0password`, base64.
pub(crate) fn plain_response(user: &SafeText, password: &Secret) -> Secret {
    let mut raw = Vec::with_capacity(user.as_str().len() + password.expose().len() + 2);
    raw.push(0);
    raw.extend_from_slice(user.as_str().as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.expose().as_bytes());
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// A string argument: quoted when it can be, else a non-synchronizing literal when the server allows one.
fn string(value: &str, literal_plus: bool, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if value.is_ascii() {
        quoted(value, out);
        return Ok(());
    }
    if !literal_plus {
        return Err(EncodeError::NeedsLiteral);
    }
    out.extend_from_slice(format!("{{{}+}}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

/// A quoted string: `"` and `\` escaped. Callers pass 7-bit text with no CR, LF or NUL (checked at build time).
fn quoted(value: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in value.bytes() {
        if matches!(b, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `1,5,9` (sorted, without duplicates).
fn uid_set(uids: &[u32], out: &mut Vec<u8>) {
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    for (i, uid) in uids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(uid.to_string().as_bytes());
    }
}

/// A mailbox name in IMAP's modified UTF-7 (RFC 3501 §5.1.3): ASCII as is (`&` as `&-`), anything else as
/// UTF-16 in base64 with `,` for `/`, between `&` and `-`. Localised junk folders need it ("Courrier indésirable").
pub fn mailbox_name(name: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine.encode(bytes).replace('/', ","));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            match c {
                '&' => out.push_str("&-"),
                c => out.push(c),
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: &ImapCommand) -> String {
        let mut out = Vec::new();
        cmd.encode("a1", &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn commands_on_the_wire() {
        assert_eq!(wire(&ImapCommand::Capability), "a1 CAPABILITY\r\n");
        assert_eq!(wire(&ImapCommand::Select("INBOX".into())), "a1 SELECT \"INBOX\"\r\n");
        assert_eq!(
            wire(&ImapCommand::UidSearchHeader { name: "X-Smtp-Probe-Token", value: "smtp-probe-x1".into() }),
            "a1 UID SEARCH HEADER X-Smtp-Probe-Token \"smtp-probe-x1\"\r\n"
        );
        assert_eq!(
            wire(&ImapCommand::UidFetchHeaders(vec![9, 4, 9])),
            "a1 UID FETCH 4,9 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])\r\n"
        );
        assert_eq!(wire(&ImapCommand::UidStoreDeleted(vec![4])), "a1 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n");
        assert_eq!(wire(&ImapCommand::UidExpunge(vec![4, 5])), "a1 UID EXPUNGE 4,5\r\n");
    }

    #[test]
    fn login_quotes_and_redacts() {
        let user = SafeText::new("user", "rt@example.org").unwrap();
        let login = ImapCommand::Login { user: user.clone(), password: Secret::new("pa\"ss\\w"), literal_plus: false };
        assert_eq!(wire(&login), "a1 LOGIN \"rt@example.org\" \"pa\\\"ss\\\\w\"\r\n");
        assert_eq!(login.redacted("a1"), "a1 LOGIN \"rt@example.org\" <redacted>");
        assert!(!format!("{login:?}").contains("pa\\\"ss"));

        let eight_bit =
            ImapCommand::Login { user: user.clone(), password: Secret::new("pässword"), literal_plus: false };
        let mut out = b"keep".to_vec();
        assert_eq!(eight_bit.encode("a1", &mut out), Err(EncodeError::NeedsLiteral));
        assert_eq!(out, b"keep", "nothing half-written");
        let eight_bit = ImapCommand::Login { user, password: Secret::new("pässword"), literal_plus: true };
        assert_eq!(wire(&eight_bit), "a1 LOGIN \"rt@example.org\" {9+}\r\npässword\r\n");
    }

    #[test]
    fn plain_with_and_without_sasl_ir() {
        let user = SafeText::new("user", "u").unwrap();
        let response = plain_response(&user, &Secret::new("p"));
        assert_eq!(response.expose(), "AHUAcA==");
        let ir = ImapCommand::AuthenticatePlain { initial_response: Some(response.clone()) };
        assert_eq!(wire(&ir), "a1 AUTHENTICATE PLAIN AHUAcA==\r\n");
        assert_eq!(ir.redacted("a1"), "a1 AUTHENTICATE PLAIN <redacted>");
        assert_eq!(wire(&ImapCommand::AuthenticatePlain { initial_response: None }), "a1 AUTHENTICATE PLAIN\r\n");
        assert_eq!(wire(&ImapCommand::AuthResponse(response.clone())), "AHUAcA==\r\n");
        assert_eq!(ImapCommand::AuthResponse(response).redacted("a1"), "<redacted>");
    }

    #[test]
    fn modified_utf7_folder_names() {
        assert_eq!(mailbox_name("INBOX"), "INBOX");
        assert_eq!(mailbox_name("[Gmail]/Spam"), "[Gmail]/Spam");
        assert_eq!(mailbox_name("Tom & Jerry"), "Tom &- Jerry");
        // RFC 3501 §5.1.3's own example.
        assert_eq!(mailbox_name("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(mailbox_name("Courrier indésirable"), "Courrier ind&AOk-sirable");
    }
}
