//! The queue id in a server's `250` to a message: what an operator greps the mail log for.
//!
//! There is no standard for it; these are the forms the common MTAs use. Anything else gives `None` rather
//! than a guess.

/// Longest id accepted: real ones are 10–40 characters; anything longer is not an id.
const MAX_LEN: usize = 64;

/// The queue id named in the text of a `250` reply to DATA, if any:
///
/// | MTA | text |
/// | --- | --- |
/// | Postfix | `2.0.0 Ok: queued as 4Fq1Zr3x9Kz8` |
/// | Exim | `OK id=1rAbCd-000AbC-Xy` |
/// | Sendmail, OpenSMTPD | `2.0.0 4AB1cD2x012345 Message accepted for delivery` |
/// | Stalwart and others | `2.0.0 Message queued with id 1a2b3c4d.` |
/// | qmail | `ok 1700000000 qp 12345` |
pub(crate) fn queue_id(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let after = |marker: &str| lower.find(marker).map(|at| &text[at + marker.len()..]);
    let candidate = after("queued as ")
        .or_else(|| after("id="))
        .or_else(|| after("with id "))
        .or_else(|| after(" qp "))
        .and_then(|rest| rest.split_whitespace().next())
        .or_else(|| {
            let before = &text[..lower.find(" message accepted")?];
            before.split_whitespace().last()
        })?;
    let id = candidate.trim_matches(|c: char| matches!(c, '.' | ',' | ';' | ')' | '(' | '<' | '>' | '[' | ']'));
    let plausible = !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        // The enhanced status code in front of "Message accepted" is not an id.
        && !(id.contains('.') && id.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    plausible.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::queue_id;

    #[test]
    fn common_mtas() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4Fq1Zr3x9Kz8").as_deref(), Some("4Fq1Zr3x9Kz8"));
        assert_eq!(queue_id("OK id=1rAbCd-000AbC-Xy").as_deref(), Some("1rAbCd-000AbC-Xy"));
        assert_eq!(queue_id("2.0.0 4AB1cD2x012345 Message accepted for delivery").as_deref(), Some("4AB1cD2x012345"));
        assert_eq!(queue_id("2.0.0 Message queued with id 1a2b3c4d.").as_deref(), Some("1a2b3c4d"));
        assert_eq!(queue_id("ok 1700000000 qp 12345").as_deref(), Some("12345"));
    }

    #[test]
    fn no_id_is_none_not_a_guess() {
        assert_eq!(queue_id("2.0.0 Ok"), None);
        assert_eq!(queue_id("2.0.0 Message accepted for delivery"), None);
        assert_eq!(queue_id("Ok: queued as "), None);
        assert_eq!(queue_id(&format!("queued as {}", "x".repeat(65))), None);
        assert_eq!(queue_id("queued as $(reboot)"), None);
    }
}
