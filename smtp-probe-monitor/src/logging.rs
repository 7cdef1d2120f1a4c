//! Log output: `tracing` to stderr, as text for people or as JSON lines for machines, filtered by `RUST_LOG`
//! (default `info`). Each check runs in a span carrying `monitor`, `target`, `verdict` and `cause`.

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Text for people.
    #[default]
    Text,
    /// One JSON object per line, span fields included.
    Json,
}

/// Installs the global subscriber. Does nothing if one is already installed (tests, embedding services).
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}
