//! [serde] The JSON shape of a domain check (`JSON-SCHEMA.md`, "Domain check"): hand-written where a field is
//! computed (the summary) or a `Result`.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::fetch::PolicyFetchReport;
use super::report::DomainReport;

impl Serialize for PolicyFetchReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Error<'a> {
            kind: &'static str,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            location: Option<&'a str>,
        }
        let mut s = serializer.serialize_struct("PolicyFetch", 10)?;
        s.serialize_field("url", &self.url)?;
        s.serialize_field("address", &self.address)?;
        s.serialize_field("ok", &self.outcome.is_ok())?;
        s.serialize_field("policy", &self.outcome.as_ref().ok())?;
        let error = self.outcome.as_ref().err().map(|e| Error {
            kind: e.kind(),
            message: e.to_string(),
            location: match e {
                super::fetch::FetchError::Redirect { location, .. } => Some(location),
                _ => None,
            },
        });
        s.serialize_field("error", &error)?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("content_type", &self.content_type)?;
        s.serialize_field("body_bytes", &self.body_bytes)?;
        s.serialize_field("tls", &self.tls)?;
        s.serialize_field("duration_ms", &crate::schema::millis_value(self.elapsed))?;
        s.end()
    }
}

impl Serialize for DomainReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("DomainReport", 17)?;
        s.serialize_field("domain", &self.domain)?;
        s.serialize_field("started_at", &crate::schema::rfc3339(self.started_at))?;
        s.serialize_field("verdict", &self.verdict)?;
        s.serialize_field("cause", &self.cause)?;
        s.serialize_field("summary", &self.summary())?;
        s.serialize_field("policy_mode", &self.policy_mode().map(|m| m.as_str()))?;
        s.serialize_field("dane_usable", &self.dane_usable())?;
        s.serialize_field("records", &self.records)?;
        s.serialize_field("mta_sts", &self.mta_sts)?;
        s.serialize_field("spf", &self.spf)?;
        s.serialize_field("dmarc", &self.dmarc)?;
        s.serialize_field("tls_rpt", &self.tls_rpt)?;
        s.serialize_field("hosts", &self.hosts)?;
        s.serialize_field("mx", &self.mx)?;
        s.serialize_field("record_findings", &self.record_findings)?;
        s.serialize_field("findings", &self.findings)?;
        s.serialize_field("timings", &self.timings)?;
        s.end()
    }
}
