//! The test message sent after DATA when a configuration asks for one
//! ([`send_test_message`](crate::ProbeConfigBuilder::send_test_message)): small, plain text, marked as
//! machine-made, and carrying the caller's unique token where a mailbox check can find it.

use crate::command::SafeText;
use crate::config::Envelope;

/// The message, headers and body, with CRLF line ends (dot-stuffing is the encoder's job).
///
/// The token is in the `Subject:`, the `Message-ID:`, an `X-Smtp-Probe-Token:` header and the body, so it survives
/// whatever a receiving system rewrites. `Auto-Submitted: auto-generated` (RFC 3834) keeps vacation responders
/// from answering it. `Date:` is there only when the caller gave one: the core reads no clock.
pub(crate) fn compose(envelope: &Envelope, token: &SafeText, date: Option<&SafeText>, ehlo_name: &SafeText) -> String {
    let to: Vec<String> = envelope.recipients.iter().map(|r| format!("<{r}>")).collect();
    let mut m = String::with_capacity(512);
    m.push_str(&format!("From: <{}>\r\n", envelope.from));
    m.push_str(&format!("To: {}\r\n", to.join(", ")));
    m.push_str(&format!("Subject: smtp-probe test message {token}\r\n"));
    if let Some(date) = date {
        m.push_str(&format!("Date: {date}\r\n"));
    }
    m.push_str(&format!("Message-ID: <{token}@{ehlo_name}>\r\n"));
    m.push_str(&format!("X-Smtp-Probe-Token: {token}\r\n"));
    m.push_str(
        "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    m.push_str("This message was sent by smtp-probe to check that this server accepts mail.\r\n");
    m.push_str(&format!("It can be deleted. Token: {token}\r\n"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Address;
    use crate::config::EnvelopeAction;

    #[test]
    fn the_token_is_everywhere_a_check_looks() {
        let envelope = Envelope {
            from: Address::new("mail_from", "probe@example.org").unwrap(),
            recipients: vec![
                Address::new("rcpt_to", "a@example.com").unwrap(),
                Address::new("rcpt_to", "b@example.com").unwrap(),
            ],
            action: EnvelopeAction::StopBeforeData,
        };
        let text = |s: &str| SafeText::new("test", s).unwrap();
        let date = text("Thu, 01 Jan 2026 00:00:00 +0000");
        let m = compose(&envelope, &text("tok-1"), Some(&date), &text("probe.example.org"));
        let (headers, body) = m.split_once("\r\n\r\n").unwrap();
        let headers: Vec<&str> = headers.split("\r\n").collect();
        assert_eq!(
            headers,
            [
                "From: <probe@example.org>",
                "To: <a@example.com>, <b@example.com>",
                "Subject: smtp-probe test message tok-1",
                "Date: Thu, 01 Jan 2026 00:00:00 +0000",
                "Message-ID: <tok-1@probe.example.org>",
                "X-Smtp-Probe-Token: tok-1",
                "Auto-Submitted: auto-generated",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
            ]
        );
        assert!(body.ends_with("Token: tok-1\r\n"));
        let undated = compose(&envelope, &text("tok-1"), None, &text("probe.example.org"));
        assert!(!undated.contains("Date:"));
    }
}
