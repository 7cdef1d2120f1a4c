//! Email through an SMTP relay with `lettre` (tokio, rustls on ring, webpki roots plus the channel's CA file).
//!
//! Credentials go only over TLS whose certificate verified: the configuration allows a username only with
//! STARTTLS required or implicit TLS (unless `allow_plaintext`), and then lettre verifies the relay's certificate
//! against `tls_name` (default: the relay's host). Opportunistic STARTTLS (`smtp://` without credentials)
//! encrypts when it can and takes any certificate (RFC 7435). The message is plain text with the facts; its Message-ID is
//! derived from the alerts, so a repeat after a crash carries the same id.
//!
//! How an answer is read: a 5xx reply rejects (not tried again); a 4xx reply, a timeout, a refused
//! connection or a TLS failure is tried again.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use smtp_probe_tokio::TlsMode;

use super::Outcome;
use super::content::{self, Notification};
use crate::config::EmailChannel;

/// Sends alerts as mail through one relay.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    message_id_domain: String,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender").field("from", &self.from).field("to", &self.to).finish_non_exhaustive()
    }
}

impl EmailSender {
    /// A sender for this channel; `ehlo` names this host to the relay, `timeout` bounds each SMTP command.
    pub fn new(c: &EmailChannel, ehlo: &str, timeout: Duration, concurrency: usize) -> Result<EmailSender, String> {
        let host = c.relay.host().to_owned();
        let name = c.tls_name.clone().unwrap_or_else(|| host.clone());
        // Opportunistic STARTTLS (no credentials to protect) takes any certificate, as RFC 7435 has it: it is
        // never worse than the plaintext it replaces. Required and implicit TLS verify.
        let verify = !matches!(c.tls, TlsMode::StartTlsOpportunistic);
        let params = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(name.clone()).dangerous_accept_invalid_certs(!verify);
            if let Some((path, pem)) = &c.ca_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| format!("{}: {e}", path.display()))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| format!("TLS settings: {e}"))
        };
        let tls = match c.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTlsOpportunistic => Tls::Opportunistic(params()?),
            TlsMode::StartTlsRequired => Tls::Required(params()?),
            TlsMode::Implicit => Tls::Wrapper(params()?),
            // A mode added later: the strict choice.
            _ => Tls::Required(params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(c.relay.port())
            .tls(tls)
            .hello_name(ClientId::Domain(ehlo.to_owned()))
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(u32::try_from(concurrency.max(1)).unwrap_or(1)));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            builder = builder
                .credentials(Credentials::new(user.clone(), password.expose().to_owned()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        let parse = |a: &str| a.parse::<lettre::message::Mailbox>().map_err(|e| format!("{a:?}: {e}"));
        let from = parse(&c.from)?;
        let to = c.to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
        let message_id_domain = from.email.domain().to_owned();
        Ok(EmailSender { transport: builder.build(), from, to, message_id_domain })
    }

    /// Sends one message with these alerts.
    pub async fn send(&self, notes: &[Notification], instance: &str) -> Outcome {
        let key = super::webhook::idempotency_key(notes);
        let message_id = format!("<alert-{:016x}@{}>", crate::id::fnv1a(key.as_bytes()), self.message_id_domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(content::email_subject(notes, instance))
            .message_id(Some(message_id))
            .user_agent(concat!("smtp-probe-monitor/", env!("CARGO_PKG_VERSION")).to_owned())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = match builder.body(content::email_body(notes, instance)) {
            Ok(m) => m,
            Err(e) => return Outcome::Rejected(format!("cannot build the message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(response) => {
                let text: Vec<&str> = response.message().collect();
                Outcome::Delivered(crate::check::clip(&format!("{} {}", response.code(), text.join(" ")), 300))
            }
            Err(e) => {
                let detail = crate::check::clip(&describe(&e), 300);
                if e.is_permanent() { Outcome::Rejected(detail) } else { Outcome::Retry { detail, after: None } }
            }
        }
    }
}

/// An SMTP error with its causes (a TLS failure's reason is in the source).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
