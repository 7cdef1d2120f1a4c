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

#[cfg(test)]
mod tests {
    use super::*;

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
