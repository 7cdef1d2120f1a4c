//! Fast engine set-ups for the alert tests: 1 s intervals, quick re-checks and retries.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::delivery::{ChannelHealth, DeliveryOptions};
use smtp_probe_monitor::engine::{Engine, EngineHandle, EngineOptions};
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::storage::SqlStore;
use smtp_probe_monitor::storage::writer::WriterConfig;

pub const DOWN: &str = "554 5.3.2 mx.test is not accepting mail";

/// A configuration for fast tests: 1 s intervals (allowed by `min_interval`), re-checks after 200 ms,
/// incidents after two confirmed failures, retries from 200 ms.
pub fn config(dir: &Path, monitors: &[(&str, SocketAddr)], channels: &str, env: &[(&str, String)]) -> Config {
    let names: Vec<String> = channels
        .lines()
        .filter_map(|l| l.strip_prefix("[channels.").and_then(|r| r.strip_suffix(']')))
        .map(|n| format!("\"{n}\""))
        .collect();
    let mut text = format!(
        r#"
[storage]
kind = "sqlite"
path = "{db}"
[service]
instance = "alerts-test"
[scheduler]
min_host_spacing = "0s"
min_interval = "1s"
[incidents]
open_after = 2
close_after = 2
recheck_after = "200ms"
[alerts]
reminder_every = "off"
[delivery]
retry_initial = "200ms"
retry_max = "2s"
{channels}
[defaults]
interval = "1s"
timeout = "900ms"
channels = [{names}]
"#,
        db = dir.join("monitor.db").display(),
        names = names.join(", "),
    );
    for (name, addr) in monitors {
        text.push_str(&format!("[[monitors]]\nname = \"{name}\"\ntarget = \"{addr}\"\ntls = \"none\"\n"));
    }
    let lookup = |n: &str| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    Config::from_toml_with_env(&text, Path::new("."), &lookup).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub fn options() -> EngineOptions {
    EngineOptions {
        writer: WriterConfig { flush_every: Duration::from_millis(100), ..WriterConfig::default() },
        delivery: Some(DeliveryOptions {
            poll_every: Duration::from_millis(200),
            held_grace: Duration::from_millis(500),
            ..DeliveryOptions::default()
        }),
        ..EngineOptions::default()
    }
}

pub async fn start(config: Config, store: &Arc<SqlStore>) -> EngineHandle {
    Engine::start_with_store(config, super::dyn_store(store), options()).await.expect("engine starts")
}

pub fn id(s: &str) -> MonitorId {
    MonitorId::from_name(s).unwrap()
}

pub fn events(alerts: &[serde_json::Value]) -> Vec<String> {
    alerts.iter().map(|a| a["event"].as_str().unwrap().to_owned()).collect()
}

pub fn channel(engine: &EngineHandle, name: &str) -> ChannelHealth {
    engine.channel_health().into_iter().find(|c| c.name == name).expect("the channel")
}
