//! Webhooks over HTTP(S): the generic JSON, Slack and Teams channels. One `reqwest` client per channel (its own
//! connection pool, timeouts and trusted CAs), rustls with the workspace's ring provider and the webpki roots,
//! no redirects (a webhook that moved is a configuration to fix, not a POST to replay elsewhere).
//!
//! How a response is read: 2xx delivered; 408, 425, 429 and 5xx "try again" (honouring `Retry-After`);
//! any other status rejected (a 404 will not heal by itself). A connection that fails or times out is tried
//! again. At most [`MAX_RESPONSE_TEXT`] bytes of the body are read, for the delivery record. The URL is never
//! logged or recorded: Slack and Teams URLs are secrets.

use std::sync::Arc;
use std::time::Duration;

use super::Outcome;
use super::content::{self, Notification};
use crate::clock::Timestamp;
use crate::config::Secret;

/// The most bytes of a response body kept for the delivery record.
pub const MAX_RESPONSE_TEXT: usize = 300;

/// Which body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The generic, versioned JSON ([`content::webhook_body`]).
    Json,
    /// Slack blocks ([`content::slack_body`]).
    Slack,
    /// A Teams Adaptive Card ([`content::teams_body`]).
    Teams,
}

/// Sends alerts to one webhook URL.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: Secret,
    bearer_token: Option<Secret>,
    format: Format,
}

/// A rustls client configuration trusting the webpki roots and the PEM certificates in `extra_ca`.
pub(crate) fn tls_config(extra_ca: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("CA file: {e}"))?;
            roots.add(cert).map_err(|e| format!("CA file: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl WebhookSender {
    /// A sender for `url` in `format`; `timeout` bounds each request.
    pub fn new(
        url: Secret,
        bearer_token: Option<Secret>,
        extra_ca: Option<&[u8]>,
        format: Format,
        timeout: Duration,
    ) -> Result<WebhookSender, String> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(extra_ca)?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("smtp-probe-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(WebhookSender { client, url, bearer_token, format })
    }

    /// Posts one message with these alerts.
    pub async fn send(&self, notes: &[Notification], instance: &str) -> Outcome {
        let now = Timestamp::now();
        let body = match self.format {
            Format::Json => serde_json::to_vec(&content::webhook_body(notes, instance, now)),
            Format::Slack => serde_json::to_vec(&content::slack_body(notes, instance)),
            Format::Teams => serde_json::to_vec(&content::teams_body(notes, instance)),
        }
        .expect("JSON values serialize");
        let mut request = self
            .client
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key(notes))
            .body(body);
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Retry { detail: describe_error(e), after: None },
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::pacing::retry_after(v, now));
        let text = read_bounded(response).await;
        classify(status.as_u16(), retry_after, &text, self.format)
    }
}

/// The key receivers may drop repeats by: the alert's id, or a digest of the ids of a group.
pub(crate) fn idempotency_key(notes: &[Notification]) -> String {
    match notes {
        [one] => one.alert.dedup_key.clone(),
        _ => {
            let joined: Vec<&str> = notes.iter().map(|n| n.alert.dedup_key.as_str()).collect();
            format!("group-{:016x}", crate::id::fnv1a(joined.join("\n").as_bytes()))
        }
    }
}

/// What a response means for the alert.
fn classify(status: u16, retry_after: Option<Duration>, text: &str, format: Format) -> Outcome {
    let detail = if text.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {text}") };
    match status {
        // Old Teams connectors answer 200 with the throttling in the body.
        200..=299 if format == Format::Teams && text.contains("HTTP error 429") => {
            Outcome::Retry { detail, after: retry_after }
        }
        200..=299 => Outcome::Delivered(detail),
        408 | 425 | 429 | 500..=599 => Outcome::Retry { detail, after: retry_after },
        300..=399 => Outcome::Rejected(format!("{detail} (a redirect: update the channel's URL)")),
        _ => Outcome::Rejected(detail),
    }
}

/// At most [`MAX_RESPONSE_TEXT`] bytes of the body, cleaned for storage; the rest is never read.
async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_RESPONSE_TEXT {
        match tokio::time::timeout(Duration::from_secs(2), response.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE_TEXT - buf.len())]),
            _ => break,
        }
    }
    crate::check::clip(&String::from_utf8_lossy(&buf), MAX_RESPONSE_TEXT)
}

/// An error's chain of causes, without the URL (which may be a secret).
fn describe_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut out = kind.to_owned();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    crate::check::clip(&out, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_classified() {
        let secs = Some(Duration::from_secs(3));
        assert!(matches!(classify(200, None, "ok", Format::Slack), Outcome::Delivered(d) if d == "HTTP 200: ok"));
        assert!(matches!(classify(202, None, "", Format::Teams), Outcome::Delivered(d) if d == "HTTP 202"));
        assert!(matches!(classify(429, secs, "", Format::Slack), Outcome::Retry { after, .. } if after == secs));
        assert!(matches!(classify(503, None, "", Format::Json), Outcome::Retry { after: None, .. }));
        assert!(matches!(classify(408, None, "", Format::Json), Outcome::Retry { .. }));
        assert!(matches!(classify(404, None, "channel_not_found", Format::Slack), Outcome::Rejected(_)));
        assert!(matches!(classify(301, None, "", Format::Json), Outcome::Rejected(d) if d.contains("redirect")));
        assert!(matches!(
            classify(200, None, "Microsoft Teams endpoint returned HTTP error 429", Format::Teams),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn a_bad_ca_file_is_an_error() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")).is_err());
    }
}
