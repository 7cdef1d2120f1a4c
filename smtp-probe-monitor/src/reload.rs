//! Reloading the configuration file on SIGHUP and when it changes on disk (a `notify` watcher on its
//! directory, so editors that replace the file are seen too; events are debounced). A file that does not
//! validate is refused with the reason in the log, and the running configuration stays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::engine::EngineHandle;

/// How long the file must be quiet before it is read: editors write in several steps.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Watches `path` and reloads `engine` on SIGHUP (Unix) and on changes. Runs until the engine stops.
pub fn spawn(engine: EngineHandle, path: PathBuf) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    let watcher = watch_file(&path, tx.clone());
    #[cfg(unix)]
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP");
                return;
            };
            while hup.recv().await.is_some() {
                if tx.send("SIGHUP").is_err() {
                    return;
                }
            }
        });
    }
    tokio::spawn(async move {
        let _watcher = watcher; // dropped (and stopped) with this task
        while let Some(mut why) = rx.recv().await {
            // Debounce: wait until nothing new arrives for a moment.
            while let Ok(Some(next)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                if next == "SIGHUP" {
                    why = next;
                }
            }
            match engine.reload_from_file(&path).await {
                Ok(s) => tracing::info!(
                    trigger = why,
                    file = %path.display(),
                    changed = s.changed.len(),
                    removed = s.removed.len(),
                    "configuration reloaded"
                ),
                Err(crate::engine::ReloadError::Stopped) => return,
                Err(e) => tracing::error!(
                    trigger = why,
                    file = %path.display(),
                    "{e}; the previous configuration keeps running"
                ),
            }
        }
    })
}

fn watch_file(path: &Path, tx: mpsc::UnboundedSender<&'static str>) -> Option<notify::RecommendedWatcher> {
    let name = path.file_name()?.to_owned();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
            && event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str()))
        {
            let _ = tx.send("file change");
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot watch the configuration file; SIGHUP still reloads"))
    .ok()?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the configuration directory"))
        .ok()?;
    Some(watcher)
}
