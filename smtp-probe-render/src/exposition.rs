//! Writing metrics in the Prometheus text format (0.0.4) or OpenMetrics 1.0: one writer for both, so that a
//! metric of the [vocabulary](crate::metrics) reads the same wherever it is served.

use std::fmt::Write as _;

use crate::metrics::{Metric, MetricType};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpositionFormat {
    /// The Prometheus text format, version 0.0.4: what every Prometheus and most scrapers read.
    #[default]
    Prometheus,
    /// OpenMetrics 1.0 text: units, `info` and counter types, and a closing `# EOF`.
    OpenMetrics,
}

impl ExpositionFormat {
    /// The `Content-Type` to serve the format with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            ExpositionFormat::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper asks for in its `Accept` header: OpenMetrics when it names
    /// `application/openmetrics-text` with a non-zero quality (as Prometheus does), else the text format.
    ///
    /// ```
    /// use smtp_probe_render::ExpositionFormat;
    ///
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
    ///                   text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(ExpositionFormat::negotiate(Some(prometheus)), ExpositionFormat::OpenMetrics);
    /// assert_eq!(ExpositionFormat::negotiate(Some("text/plain")), ExpositionFormat::Prometheus);
    /// assert_eq!(ExpositionFormat::negotiate(None), ExpositionFormat::Prometheus);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
        let wants_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or_default();
                let quality =
                    parts.filter_map(|p| p.strip_prefix("q=")).find_map(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                media.eq_ignore_ascii_case("application/openmetrics-text") && quality > 0.0
            })
        });
        if wants_openmetrics { ExpositionFormat::OpenMetrics } else { ExpositionFormat::Prometheus }
    }
}

/// One metric family and its samples, gathered before writing (a family's samples must be written together).
#[derive(Debug, Clone)]
pub struct Family {
    metric: Metric,
    /// (suffix after the sample name, rendered labels, value).
    samples: Vec<(&'static str, String, f64)>,
}

impl Family {
    /// A family with no samples yet.
    pub fn new(metric: Metric) -> Family {
        Family { metric, samples: Vec::new() }
    }

    /// The metric.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Adds a sample with these labels (names as given, values escaped here).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.samples.push(("", render_labels(labels, None), value));
    }

    /// Adds one histogram (a family of type [`MetricType::Histogram`]) with these labels: `buckets` are
    /// (upper bound, observations at or below it), in increasing order of bound and cumulative; the `+Inf`
    /// bucket is added here from `count`. Written as `_bucket{le=...}`, `_sum` and `_count` samples, together.
    ///
    /// ```
    /// use smtp_probe_render::{metrics, Exposition, ExpositionFormat, Family};
    ///
    /// let mut latency = Family::new(metrics::MONITOR_RESPONSE_LATENCY);
    /// latency.histogram(&[("group", "eu")], &[(0.1, 3), (1.0, 4)], 1.25, 5);
    /// let mut text = Exposition::new(ExpositionFormat::Prometheus);
    /// text.family(&latency);
    /// let text = text.finish();
    /// assert!(text.contains("smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\",le=\"0.1\"} 3\n"));
    /// assert!(text.contains("smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\",le=\"+Inf\"} 5\n"));
    /// assert!(text.contains("smtp_probe_monitor_response_latency_seconds_count{group=\"eu\"} 5\n"));
    /// ```
    pub fn histogram(&mut self, labels: &[(&str, &str)], buckets: &[(f64, u64)], sum: f64, count: u64) {
        for &(le, n) in buckets.iter().filter(|(le, _)| le.is_finite()) {
            self.samples.push(("_bucket", render_labels(labels, Some(&number(le))), n as f64));
        }
        self.samples.push(("_bucket", render_labels(labels, Some("+Inf")), count as f64));
        self.samples.push(("_sum", render_labels(labels, None), sum));
        self.samples.push(("_count", render_labels(labels, None), count as f64));
    }

    /// Whether no sample was added.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// An exposition being written: families in order, then [`finish`](Exposition::finish).
///
/// ```
/// use smtp_probe_render::{metrics, Exposition, ExpositionFormat, Family};
///
/// let mut probes = Family::new(metrics::EXPORTER_PROBES);
/// probes.sample(&[("module", "smtp"), ("verdict", "up")], 3.0);
/// let mut text = Exposition::new(ExpositionFormat::OpenMetrics);
/// text.family(&probes);
/// let lines = [
///     "# TYPE smtp_probe_exporter_probes counter",
///     "# HELP smtp_probe_exporter_probes Probes run by this exporter, by module and verdict.",
///     "smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"up\"} 3",
///     "# EOF",
/// ];
/// assert_eq!(text.finish(), lines.map(|line| format!("{line}\n")).concat());
/// ```
#[derive(Debug, Clone)]
pub struct Exposition {
    format: ExpositionFormat,
    out: String,
}

impl Exposition {
    /// An empty exposition in this format.
    pub fn new(format: ExpositionFormat) -> Exposition {
        Exposition { format, out: String::new() }
    }

    /// The format being written.
    pub fn format(&self) -> ExpositionFormat {
        self.format
    }

    /// Writes a family: its metadata, then its samples. A family without samples is left out.
    pub fn family(&mut self, family: &Family) {
        if family.is_empty() {
            return;
        }
        self.header(&family.metric);
        let sample = family.metric.sample_name();
        for (suffix, labels, value) in &family.samples {
            write_sample(&mut self.out, &sample, suffix, labels, *value);
        }
    }

    /// Writes a family sample by sample, straight into the text: for services with many series, where gathering
    /// a [`Family`] first would allocate for every sample. The metadata is written before the first sample; a
    /// family without samples is left out.
    ///
    /// ```
    /// use smtp_probe_render::{metrics, Exposition, ExpositionFormat};
    ///
    /// let mut text = Exposition::new(ExpositionFormat::Prometheus);
    /// text.family_with(metrics::MONITOR_UP, |samples| {
    ///     for (monitor, up) in [("mx-1", 1.0), ("mx-2", 0.0)] {
    ///         samples.sample(&[("monitor", monitor), ("group", "eu")], up);
    ///     }
    /// });
    /// text.family_with(metrics::MONITOR_CAUSE, |_| {}); // nothing to say: left out
    /// let text = text.finish();
    /// assert!(text.contains("smtp_probe_monitor_up{monitor=\"mx-2\",group=\"eu\"} 0\n"));
    /// assert!(!text.contains("smtp_probe_monitor_cause"));
    /// ```
    pub fn family_with(&mut self, metric: Metric, write: impl FnOnce(&mut Samples<'_>)) {
        let mut samples = Samples { exposition: self, metric, name: metric.sample_name(), started: false };
        write(&mut samples);
    }

    fn header(&mut self, metric: &Metric) {
        let sample = metric.sample_name();
        match self.format {
            ExpositionFormat::Prometheus => {
                // The text format has no unit and no info type; a counter's family is named after its sample.
                let kind = match metric.kind {
                    MetricType::Counter => "counter",
                    MetricType::Histogram => "histogram",
                    MetricType::Gauge | MetricType::Info => "gauge",
                };
                let _ = writeln!(self.out, "# HELP {sample} {}", escape_help(metric.help, false));
                let _ = writeln!(self.out, "# TYPE {sample} {kind}");
            }
            ExpositionFormat::OpenMetrics => {
                let _ = writeln!(self.out, "# TYPE {} {}", metric.name, metric.kind.as_str());
                if let Some(unit) = metric.unit {
                    let _ = writeln!(self.out, "# UNIT {} {unit}", metric.name);
                }
                let _ = writeln!(self.out, "# HELP {} {}", metric.name, escape_help(metric.help, true));
            }
        }
    }

    /// How many bytes of text are written and not yet taken.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether no text is waiting to be taken.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Takes the text written so far; writing goes on where it stopped, and [`finish`](Exposition::finish)
    /// returns the rest. For serving a large exposition in chunks, so that it is never whole in memory.
    ///
    /// ```
    /// use smtp_probe_render::{metrics, Exposition, ExpositionFormat};
    ///
    /// let mut text = Exposition::new(ExpositionFormat::OpenMetrics);
    /// let mut chunks = Vec::new();
    /// text.family_with(metrics::MONITOR_UP, |samples| {
    ///     samples.sample(&[("monitor", "mx-1")], 1.0);
    ///     chunks.push(samples.take_text());
    ///     samples.sample(&[("monitor", "mx-2")], 0.0);
    /// });
    /// chunks.push(text.finish());
    /// assert!(chunks[0].starts_with("# TYPE smtp_probe_monitor_up gauge\n"));
    /// assert_eq!(chunks[1], "smtp_probe_monitor_up{monitor=\"mx-2\"} 0\n# EOF\n", "no second header");
    /// ```
    pub fn take_text(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// The text, ending with `# EOF` in OpenMetrics.
    pub fn finish(mut self) -> String {
        if self.format == ExpositionFormat::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// The samples of one family being written ([`Exposition::family_with`]).
#[derive(Debug)]
pub struct Samples<'a> {
    exposition: &'a mut Exposition,
    metric: Metric,
    name: String,
    started: bool,
}

impl Samples<'_> {
    fn start(&mut self) {
        if !self.started {
            self.exposition.header(&self.metric);
            self.started = true;
        }
    }

    /// How many bytes of text are written and not yet taken (this family's and the ones before).
    pub fn len(&self) -> usize {
        self.exposition.out.len()
    }

    /// Whether no text is waiting to be taken.
    pub fn is_empty(&self) -> bool {
        self.exposition.out.is_empty()
    }

    /// Takes the text written so far, between two samples ([`Exposition::take_text`]); the family goes on
    /// without a second header.
    pub fn take_text(&mut self) -> String {
        self.exposition.take_text()
    }

    /// Writes a sample with these labels (names as given, values escaped here).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.start();
        let out = &mut self.exposition.out;
        out.push_str(&self.name);
        push_labels(out, labels, None);
        let _ = writeln!(out, " {}", number(value));
    }

    /// Writes one histogram, as [`Family::histogram`] does.
    pub fn histogram(&mut self, labels: &[(&str, &str)], buckets: &[(f64, u64)], sum: f64, count: u64) {
        self.start();
        let out = &mut self.exposition.out;
        for &(le, n) in buckets.iter().filter(|(le, _)| le.is_finite()) {
            let _ = write!(out, "{}_bucket", self.name);
            push_labels(out, labels, Some(&number(le)));
            let _ = writeln!(out, " {n}");
        }
        let _ = write!(out, "{}_bucket", self.name);
        push_labels(out, labels, Some("+Inf"));
        let _ = writeln!(out, " {count}");
        let _ = write!(out, "{}_sum", self.name);
        push_labels(out, labels, None);
        let _ = writeln!(out, " {}", number(sum));
        let _ = write!(out, "{}_count", self.name);
        push_labels(out, labels, None);
        let _ = writeln!(out, " {count}");
    }
}

/// `{name="value",...}` (nothing without labels), values escaped, a histogram bucket's `le` last.
fn push_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().copied().chain(le.map(|le| ("le", le))).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        push_escaped_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

fn write_sample(out: &mut String, sample: &str, suffix: &str, labels: &str, value: f64) {
    out.push_str(sample);
    out.push_str(suffix);
    if !labels.is_empty() {
        let _ = write!(out, "{{{labels}}}");
    }
    let _ = writeln!(out, " {}", number(value));
}

/// A sample value: Rust's shortest round-trip form (never an exponent), and the formats' names for the
/// non-finite values.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value == 0.0 {
        "0".to_owned() // not "-0"
    } else {
        format!("{value}")
    }
}

/// `name="value",...`, values escaped, and a histogram bucket's `le` last.
fn render_labels(labels: &[(&str, &str)], le: Option<&str>) -> String {
    let mut rendered = String::new();
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !rendered.is_empty() {
            rendered.push(',');
        }
        let _ = write!(rendered, "{name}=\"{}\"", escape_label_value(value));
    }
    rendered
}

/// Label values escape backslash, double quote and line feed (both formats).
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped_label_value(&mut out, value);
    out
}

fn push_escaped_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed, and in OpenMetrics also double quote.
fn escape_help(help: &str, quote: bool) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;

    #[test]
    fn numbers() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.000_25), "0.00025");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1e21), "1000000000000000000000");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("say \"hi\"\n", true), "say \\\"hi\\\"\\n");
        assert_eq!(escape_help("say \"hi\"\n", false), "say \"hi\"\\n");
    }

    #[test]
    fn both_formats() {
        let mut duration = Family::new(metrics::DURATION);
        duration.sample(&[("target", "mx:25")], 0.5);
        let mut tls = Family::new(metrics::TLS_VERSION);
        tls.sample(&[("target", "mx:25"), ("version", "TLSv1.3"), ("cipher", "X")], 1.0);
        let empty = Family::new(metrics::CAUSE);
        let write = |format| {
            let mut exposition = Exposition::new(format);
            for family in [&duration, &empty, &tls] {
                exposition.family(family);
            }
            exposition.finish()
        };
        assert_eq!(
            write(ExpositionFormat::Prometheus),
            "# HELP smtp_probe_duration_seconds Time from starting to connect to the end of the probe.\n\
             # TYPE smtp_probe_duration_seconds gauge\n\
             smtp_probe_duration_seconds{target=\"mx:25\"} 0.5\n\
             # HELP smtp_probe_tls_version_info The negotiated TLS version and cipher (always 1).\n\
             # TYPE smtp_probe_tls_version_info gauge\n\
             smtp_probe_tls_version_info{target=\"mx:25\",version=\"TLSv1.3\",cipher=\"X\"} 1\n"
        );
        assert_eq!(
            write(ExpositionFormat::OpenMetrics),
            "# TYPE smtp_probe_duration_seconds gauge\n\
             # UNIT smtp_probe_duration_seconds seconds\n\
             # HELP smtp_probe_duration_seconds Time from starting to connect to the end of the probe.\n\
             smtp_probe_duration_seconds{target=\"mx:25\"} 0.5\n\
             # TYPE smtp_probe_tls_version info\n\
             # HELP smtp_probe_tls_version The negotiated TLS version and cipher (always 1).\n\
             smtp_probe_tls_version_info{target=\"mx:25\",version=\"TLSv1.3\",cipher=\"X\"} 1\n\
             # EOF\n"
        );
    }

    #[test]
    fn streamed_families_read_as_gathered_ones() {
        for format in [ExpositionFormat::Prometheus, ExpositionFormat::OpenMetrics] {
            let labels: [&[(&str, &str)]; 3] = [&[("target", "a\"b\\c\nd")], &[], &[("group", "eu"), ("x", "y")]];
            let mut gathered = Family::new(metrics::MONITOR_RESPONSE_LATENCY);
            let mut up = Family::new(metrics::UP);
            for (i, l) in labels.iter().enumerate() {
                gathered.histogram(l, &[(0.5, i as u64), (1.0, 2 * i as u64)], 0.25 * i as f64, 3 * i as u64);
                up.sample(l, i as f64);
            }
            let mut a = Exposition::new(format);
            a.family(&up);
            a.family(&gathered);
            let mut b = Exposition::new(format);
            b.family_with(metrics::UP, |s| labels.iter().enumerate().for_each(|(i, l)| s.sample(l, i as f64)));
            b.family_with(metrics::CAUSE, |_| {});
            b.family_with(metrics::MONITOR_RESPONSE_LATENCY, |s| {
                for (i, l) in labels.iter().enumerate() {
                    s.histogram(l, &[(0.5, i as u64), (1.0, 2 * i as u64)], 0.25 * i as f64, 3 * i as u64);
                }
            });
            assert_eq!(a.finish(), b.finish());
        }
    }

    #[test]
    fn negotiation_ignores_a_refused_openmetrics() {
        let refused = "application/openmetrics-text;q=0, text/plain";
        assert_eq!(ExpositionFormat::negotiate(Some(refused)), ExpositionFormat::Prometheus);
        assert_eq!(
            ExpositionFormat::negotiate(Some("Application/OpenMetrics-Text; version=1.0.0")),
            ExpositionFormat::OpenMetrics
        );
    }
}
