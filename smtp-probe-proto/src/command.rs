//! SMTP commands and their encoder.
//!
//! Every caller-supplied string goes through [`SafeText`], which refuses CR, LF and NUL when it is made, so no
//! configuration can inject a command into the SMTP stream. Credentials live in [`Secret`], which never shows
//! itself in `Debug`, in logs or in transcripts.

use std::fmt;

use crate::capabilities::AuthMechanism;
use crate::error::ConfigError;

/// A caller-supplied string proven free of CR, LF and NUL: safe to put on an SMTP command line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafeText(String);

impl SafeText {
    /// Checks `value` for the bytes that could end or corrupt a command line. `field` names it in the error.
    pub fn new(field: &'static str, value: impl Into<String>) -> Result<SafeText, ConfigError> {
        let value = value.into();
        if let Some(bad) = value.bytes().find(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
            return Err(ConfigError::ForbiddenByte { field, byte: bad });
        }
        Ok(SafeText(value))
    }

    /// Text the crate made itself and knows to be safe (a round-trip token, a date it formatted).
    pub(crate) fn from_checked(value: String) -> SafeText {
        debug_assert!(!value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')), "{value:?}");
        SafeText(value)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credential. Its `Debug` and `Display` print `<redacted>`; only the encoder sees the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself. Call it only to put the value on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A mailbox for `MAIL FROM` or `RCPT TO`: [`SafeText`] without spaces or angle brackets, which would break the
/// path syntax. The empty address is the null reverse-path `<>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address(SafeText);

impl Address {
    /// Checks an address. `field` names it in the error.
    pub fn new(field: &'static str, value: impl Into<String>) -> Result<Address, ConfigError> {
        let text = SafeText::new(field, value)?;
        if let Some(bad) = text.0.bytes().find(|b| matches!(b, b' ' | b'\t' | b'<' | b'>')) {
            return Err(ConfigError::ForbiddenByte { field, byte: bad });
        }
        Ok(Address(text))
    }

    /// The address, without angle brackets.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the address contains non-ASCII characters (needs SMTPUTF8).
    pub fn is_internationalized(&self) -> bool {
        !self.0.0.is_ascii()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SMTP command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO domain`
    Ehlo(SafeText),
    /// `HELO domain`
    Helo(SafeText),
    /// `STARTTLS`
    StartTls,
    /// `AUTH mechanism [initial-response]`; the response is redacted in transcripts.
    Auth {
        /// The mechanism.
        mechanism: AuthMechanism,
        /// The base64 initial response (RFC 4954), if sent with the command.
        initial_response: Option<Secret>,
    },
    /// A base64 line answering a `334` challenge; redacted in transcripts.
    AuthResponse(Secret),
    /// `MAIL FROM:<path> [SIZE=n] [SMTPUTF8]`
    MailFrom {
        /// The reverse path (empty for `<>`).
        from: Address,
        /// The message size to declare, when the server offers SIZE.
        size: Option<u64>,
        /// Ask for SMTPUTF8, when the server offers it and an address needs it.
        smtputf8: bool,
    },
    /// `RCPT TO:<path>`
    RcptTo(Address),
    /// `DATA`
    Data,
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `QUIT`
    Quit,
}

impl Command {
    /// Appends the command line, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = match self {
            Command::Ehlo(name) => write!(out, "EHLO {name}"),
            Command::Helo(name) => write!(out, "HELO {name}"),
            Command::StartTls => write!(out, "STARTTLS"),
            Command::Auth { mechanism, initial_response: None } => write!(out, "AUTH {mechanism}"),
            Command::Auth { mechanism, initial_response: Some(ir) } => {
                write!(out, "AUTH {mechanism} {}", ir.expose())
            }
            Command::AuthResponse(response) => write!(out, "{}", response.expose()),
            Command::MailFrom { from, size, smtputf8 } => {
                let _ = write!(out, "MAIL FROM:<{from}>");
                if let Some(size) = size {
                    let _ = write!(out, " SIZE={size}");
                }
                if *smtputf8 {
                    out.extend_from_slice(b" SMTPUTF8");
                }
                Ok(())
            }
            Command::RcptTo(to) => write!(out, "RCPT TO:<{to}>"),
            Command::Data => write!(out, "DATA"),
            Command::Rset => write!(out, "RSET"),
            Command::Noop => write!(out, "NOOP"),
            Command::Quit => write!(out, "QUIT"),
        };
        out.extend_from_slice(b"\r\n");
    }

    /// The command as a transcript shows it: credentials replaced by `<redacted>`, no line ending.
    pub fn redacted(&self) -> String {
        match self {
            Command::Auth { mechanism, initial_response: Some(_) } => format!("AUTH {mechanism} <redacted>"),
            Command::AuthResponse(_) => "<redacted>".to_owned(),
            other => {
                let mut line = Vec::new();
                other.encode(&mut line);
                line.truncate(line.len() - 2);
                // Caller strings are `SafeText` (valid UTF-8), so this keeps the buffer rather than copying it.
                String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// The verb, e.g. `"MAIL"`.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
            Command::AuthResponse(_) => "AUTH-RESPONSE",
            Command::MailFrom { .. } => "MAIL",
            Command::RcptTo(_) => "RCPT",
            Command::Data => "DATA",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
        }
    }
}

/// Appends a message body for DATA: line ends made CRLF, lines starting with `.` dot-stuffed (RFC 5321 §4.5.2),
/// and the terminating `.` line.
pub fn encode_data(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + 8);
    let mut at_line_start = true;
    let mut bytes = message.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\r' || b == b'\n' {
            // CRLF, bare LF and bare CR all become CRLF: no stray CR or LF can fake the end of data.
            if b == b'\r' {
                bytes.next_if_eq(&b'\n');
            }
            out.extend_from_slice(b"\r\n");
            at_line_start = true;
            continue;
        }
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = false;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: &Command) -> String {
        let mut out = Vec::new();
        cmd.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn crlf_and_nul_are_refused() {
        for bad in ["a\r\nRCPT TO:<x>", "a\nb", "a\rb", "a\0b"] {
            assert!(matches!(
                SafeText::new("ehlo_name", bad),
                Err(ConfigError::ForbiddenByte { field: "ehlo_name", .. })
            ));
        }
        assert!(Address::new("from", "a b@c").is_err());
        assert!(Address::new("from", "a>@c").is_err());
        assert!(Address::new("from", "").is_ok());
    }

    #[test]
    fn encodes_commands() {
        let from = Address::new("from", "probe@example.com").unwrap();
        assert_eq!(
            wire(&Command::MailFrom { from: from.clone(), size: Some(512), smtputf8: true }),
            "MAIL FROM:<probe@example.com> SIZE=512 SMTPUTF8\r\n"
        );
        assert_eq!(
            wire(&Command::MailFrom { from: Address::new("from", "").unwrap(), size: None, smtputf8: false }),
            "MAIL FROM:<>\r\n"
        );
        assert_eq!(wire(&Command::RcptTo(from)), "RCPT TO:<probe@example.com>\r\n");
        assert_eq!(wire(&Command::Ehlo(SafeText::new("n", "probe.example").unwrap())), "EHLO probe.example\r\n");
        assert_eq!(wire(&Command::Quit), "QUIT\r\n");
    }

    #[test]
    fn credentials_never_show() {
        let cmd = Command::Auth {
            mechanism: AuthMechanism::Plain,
            initial_response: Some(Secret::new("AHVzZXIAaHVudGVyMg==")),
        };
        assert!(wire(&cmd).contains("AHVzZXIAaHVudGVyMg=="));
        assert_eq!(cmd.redacted(), "AUTH PLAIN <redacted>");
        assert!(!format!("{cmd:?}").contains("AHVz"));
        let resp = Command::AuthResponse(Secret::new("aHVudGVyMg=="));
        assert_eq!(resp.redacted(), "<redacted>");
        assert!(!format!("{resp:?}").contains("aHVu"));
    }

    #[test]
    fn data_is_dot_stuffed_and_terminated() {
        let mut out = Vec::new();
        encode_data(b"Subject: x\n\n.hidden\r\n..two\nlast", &mut out);
        assert_eq!(out, b"Subject: x\r\n\r\n..hidden\r\n...two\r\nlast\r\n.\r\n");
        let mut out = Vec::new();
        encode_data(b"a\r\n.\r\n", &mut out);
        assert_eq!(out, b"a\r\n..\r\n.\r\n");
        let mut out = Vec::new();
        encode_data(b"a\rb", &mut out);
        assert_eq!(out, b"a\r\nb\r\n.\r\n");
    }
}
