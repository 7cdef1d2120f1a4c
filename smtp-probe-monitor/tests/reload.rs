//! Reloading: a good file replaces the configuration without losing history or open incidents; a bad one is
//! refused and the old one keeps running; the file watcher picks up edits.

mod support;

use std::time::Duration;

use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineOptions, ReloadError};
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_testserver::Responder;

fn id(s: &str) -> MonitorId {
    MonitorId::from_name(s).unwrap()
}

fn file(dir: &std::path::Path, addr: &str, names: &[&str]) -> String {
    let mut text = format!("[service]\ndata_dir = \"{}\"\n", dir.display());
    for n in names {
        text.push_str(&format!("[[monitors]]\nname = \"{n}\"\ntarget = \"{addr}\"\ntls = \"none\"\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_keep_history_and_refuse_bad_files() {
    let server = Responder::new().start().unwrap();
    let addr = server.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.toml");
    std::fs::write(&path, file(dir.path(), &addr, &["a", "b"])).unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let engine =
        Engine::start_with_store(Config::load(&path).unwrap(), support::dyn_store(&store), EngineOptions::default())
            .await
            .unwrap();

    // A good change: b removed, c added, a kept as it is.
    std::fs::write(&path, file(dir.path(), &addr, &["a", "c"])).unwrap();
    let summary = engine.reload_from_file(&path).await.unwrap();
    assert_eq!(summary.changed, [id("c")]);
    assert_eq!(summary.removed, [id("b")]);
    let ids: Vec<_> = engine.snapshot().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [id("a"), id("c")]);

    // A bad file: refused with the reason; nothing changes.
    std::fs::write(&path, file(dir.path(), &addr, &["a", "c"]) + "interval = \"5s\"\n").unwrap();
    match engine.reload_from_file(&path).await {
        Err(ReloadError::Config(e)) => assert!(e.to_string().contains("monitors[1].interval"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(engine.snapshot().len(), 2);

    // The watcher: an edit on disk is picked up (debounced).
    let _watch = smtp_probe_monitor::reload::spawn(engine.clone(), path.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::write(&path, file(dir.path(), &addr, &["a", "c", "d"])).unwrap();
    support::wait_for(Duration::from_secs(10), "the watcher to reload", async || engine.monitor(&id("d")).is_some())
        .await;
    engine.shutdown(Duration::from_secs(2)).await;
    let names: Vec<_> = support::dyn_store(&store).monitors().await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(names, [id("a"), id("b"), id("c"), id("d")], "monitors that left keep their history");
}
