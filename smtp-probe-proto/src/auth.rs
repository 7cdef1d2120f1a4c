//! SASL exchanges for AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::command::{SafeText, Secret};

/// The mechanisms the probe can carry out.
pub(crate) fn is_implemented(mechanism: &crate::AuthMechanism) -> bool {
    matches!(mechanism, crate::AuthMechanism::Plain | crate::AuthMechanism::Login)
}

/// PLAIN's response: base64 of `authzid NUL authcid NUL password`, with an empty authorization identity.
pub(crate) fn plain_response(username: &SafeText, password: &Secret) -> Secret {
    let user = username.as_str().as_bytes();
    let pass = password.expose().as_bytes();
    let mut raw = Vec::with_capacity(user.len() + pass.len() + 2);
    raw.push(0);
    raw.extend_from_slice(user);
    raw.push(0);
    raw.extend_from_slice(pass);
    Secret::new(STANDARD.encode(raw))
}

/// LOGIN's answer to one `334` challenge. The challenge normally says `Username:` or `Password:`; when it is
/// unreadable, the step number decides (the user name first).
pub(crate) fn login_response(challenge: &[u8], step: u8, username: &SafeText, password: &Secret) -> Secret {
    let decoded = STANDARD.decode(challenge.trim_ascii()).unwrap_or_default().to_ascii_lowercase();
    let wants_password = if decoded.starts_with(b"pass") {
        true
    } else if decoded.starts_with(b"user") {
        false
    } else {
        step > 0
    };
    let value = if wants_password { password.expose() } else { username.as_str() };
    Secret::new(STANDARD.encode(value))
}

/// Every form in which the credentials can go on the wire (the password, PLAIN's response, LOGIN's two
/// answers), to redact wherever the server's words reach the report: a server that echoes an AUTH payload in a
/// reply (or in anything else) gets it shown as `<redacted>`, as the command was. The password is also redacted in
/// the escaped form messages quote bytes in. Forms shorter than [`Redactions::MIN_LEN`] are left alone (they
/// would blank out ordinary text, and say little).
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactions {
    /// Longest first, so that a form inside another is not redacted half-way.
    forms: Vec<Secret>,
}

impl Redactions {
    /// The shortest form redacted.
    pub(crate) const MIN_LEN: usize = 4;

    /// The forms of these credentials.
    pub(crate) fn new(username: &SafeText, password: &Secret) -> Redactions {
        let escaped = password.expose().as_bytes().escape_ascii().to_string();
        let mut forms: Vec<Secret> = [
            plain_response(username, password),
            Secret::new(STANDARD.encode(password.expose())),
            Secret::new(STANDARD.encode(username.as_str())),
            password.clone(),
            Secret::new(escaped),
        ]
        .into_iter()
        .filter(|form| form.expose().len() >= Self::MIN_LEN)
        .collect();
        forms.sort_by_key(|form| std::cmp::Reverse(form.expose().len()));
        forms.dedup();
        Redactions { forms }
    }

    /// Whether there is nothing to redact.
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Redacts every form in `bytes`; true when something was.
    pub(crate) fn bytes(&self, bytes: &mut Vec<u8>) -> bool {
        let mut changed = false;
        for form in &self.forms {
            let needle = form.expose().as_bytes();
            if memchr::memmem::find(bytes, needle).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = bytes.as_slice();
            while let Some(at) = memchr::memmem::find(rest, needle) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + needle.len()..];
            }
            out.extend_from_slice(rest);
            *bytes = out;
            changed = true;
        }
        changed
    }

    /// Redacts every form in `text`.
    pub(crate) fn text(&self, text: &mut String) {
        for form in &self.forms {
            if text.contains(form.expose()) {
                *text = text.replace(form.expose(), REDACTED);
            }
        }
    }
}

/// What a redacted credential reads as.
pub(crate) const REDACTED: &str = "<redacted>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_form_is_redacted_and_nothing_else() {
        let user = SafeText::new("u", "probe@mx.test").unwrap();
        let pass = Secret::new("s3cret\tpass");
        let redactions = Redactions::new(&user, &pass);
        let plain = plain_response(&user, &pass);
        let login_password = STANDARD.encode("s3cret\tpass");
        let login_user = STANDARD.encode("probe@mx.test");

        let mut line = format!("535 5.7.8 bad {} and {login_password}", plain.expose()).into_bytes();
        assert!(redactions.bytes(&mut line));
        assert_eq!(line, b"535 5.7.8 bad <redacted> and <redacted>");
        // The raw password, and the form messages quote escaped bytes in.
        let mut text = format!("echo {login_user}: s3cret\tpass, \"s3cret\\tpass\"");
        redactions.text(&mut text);
        assert_eq!(text, "echo <redacted>: <redacted>, \"<redacted>\"");
        let mut untouched = b"250 2.0.0 Ok".to_vec();
        assert!(!redactions.bytes(&mut untouched));
        assert_eq!(untouched, b"250 2.0.0 Ok");
        // Too short to redact without blanking out ordinary text; its base64 is long enough.
        let short = Redactions::new(&SafeText::new("u", "u").unwrap(), &Secret::new("abc"));
        let mut text = "abc YWJj".to_owned();
        short.text(&mut text);
        assert_eq!(text, "abc <redacted>");
        assert!(Redactions::default().is_empty() && !short.is_empty());
    }

    #[test]
    fn plain_is_rfc4616() {
        let user = SafeText::new("u", "tim").unwrap();
        assert_eq!(plain_response(&user, &Secret::new("tanstaaftanstaaf")).expose(), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    }

    #[test]
    fn login_answers_by_challenge_text() {
        let user = SafeText::new("u", "probe").unwrap();
        let pass = Secret::new("pw");
        assert_eq!(login_response(b"VXNlcm5hbWU6", 0, &user, &pass).expose(), STANDARD.encode("probe"));
        assert_eq!(login_response(b"UGFzc3dvcmQ6", 1, &user, &pass).expose(), STANDARD.encode("pw"));
        // Out of order challenges are answered by what they ask for.
        assert_eq!(login_response(b"UGFzc3dvcmQ6", 0, &user, &pass).expose(), STANDARD.encode("pw"));
        assert_eq!(login_response(b"", 1, &user, &pass).expose(), STANDARD.encode("pw"));
    }
}
