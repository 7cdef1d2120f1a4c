//! The status page in a real browser: headless Chromium (from `.ci/chromium.sh`) loads it from the monitor on
//! loopback, a screenshot is kept (its path is printed), and the rendered DOM is checked — every monitor's name,
//! its state and its 90-day bar — at 10 monitors (real checks against the test server's faults, 90 days of
//! history) and at 10,000 (a week of history, states and incidents as storage holds them).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_monitor::check::Status;
use smtp_probe_monitor::clock::{HOUR_MS, Timestamp};
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineHandle, EngineOptions};
use smtp_probe_monitor::http::HttpOptions;
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::incident::{OpenIncident, Severity, State};
use smtp_probe_monitor::storage::writer::WriterConfig;
use smtp_probe_monitor::storage::{
    Batch, DAY_MS, IncidentChange, MonitorRow, RollupDelta, SqlStore, Store, Transition,
};
use smtp_probe_testserver::chromium::Chromium;
use smtp_probe_testserver::{Responder, Script, TestServer};

/// One browser test at a time: each is heavy on two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where screenshots are kept after the test (printed).
fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn html_decode(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// Every monitor row of a dumped DOM: id → (name, state, has a bar).
fn rows(dom: &str) -> HashMap<String, (String, String, bool)> {
    let mut out = HashMap::new();
    for chunk in dom.split("<li class=\"mon ").skip(1) {
        let chunk = &chunk[..chunk.find("</li>").expect("a closed row")];
        let id = chunk.split("id=\"m-").nth(1).and_then(|r| r.split('"').next()).expect("a row id").to_owned();
        let name = chunk
            .split("class=\"name\"")
            .nth(1)
            .and_then(|r| r.split_once('>'))
            .and_then(|(_, r)| r.split("</a>").next())
            .expect("a name");
        let state =
            chunk.split("<span class=\"state\">").nth(1).and_then(|r| r.split("</span>").next()).expect("a state");
        let bar = chunk.contains("<svg class=\"bar\"") && chunk.contains("<rect class=");
        out.insert(id, (html_decode(name), state.to_owned(), bar));
    }
    out
}

/// The page checked against the engine's snapshot: every monitor shown once, by name, in its state, with a bar.
fn check_dom(dom: &str, engine: &EngineHandle) {
    let shown = rows(dom);
    let snapshot = engine.snapshot();
    assert_eq!(shown.len(), snapshot.len(), "one row per monitor");
    for s in &snapshot {
        let (name, state, bar) = shown.get(s.id.as_str()).unwrap_or_else(|| panic!("{} is not on the page", s.id));
        assert_eq!(name, &s.name);
        assert!(
            state == s.state.as_str() || engine.monitor(&s.id).is_some_and(|now| now.state.as_str() == state),
            "{}: the page says {state}, the engine {}",
            s.id,
            s.state.as_str()
        );
        assert!(bar, "{}: no uptime bar", s.id);
    }
}

fn engine_options() -> EngineOptions {
    EngineOptions {
        writer: WriterConfig { flush_every: Duration::from_millis(100), ..WriterConfig::default() },
        ..EngineOptions::default()
    }
}

/// `days` of hourly-rolled-up history for each monitor, ending with the current hour: one rollup per day (with
/// the day's time and a few response times), the last `hours` hours one by one; `bad` says how many minutes a
/// monitor was down on a day.
fn history(
    monitors: &[(MonitorId, String, Vec<String>)],
    now: Timestamp,
    days: i64,
    hours: i64,
    bad: impl Fn(usize, i64) -> i64,
) -> Batch {
    let mut batch = Batch {
        monitors: monitors
            .iter()
            .map(|(id, name, tags)| MonitorRow {
                id: id.clone(),
                name: name.clone(),
                target: "x".into(),
                tags: tags.clone(),
            })
            .collect(),
        ..Batch::default()
    };
    let today = now.0.div_euclid(DAY_MS) * DAY_MS;
    for (i, (id, _, _)) in monitors.iter().enumerate() {
        for d in 1..days {
            let mut delta = RollupDelta::default();
            let down = bad(i, d) * 60_000;
            delta.time.up_ms = DAY_MS - down;
            delta.time.down_ms = down;
            for ms in [8, 9, 12] {
                delta.latency.record(ms + (i as u32 % 7));
                delta.counts.add(Status::Up);
            }
            batch.rollups.insert((id.clone(), Timestamp(today - d * DAY_MS + 12 * HOUR_MS)), delta);
        }
        for h in 0..hours {
            let hour = now.hour_start().0 - h * HOUR_MS;
            let mut delta = RollupDelta::default();
            delta.time.up_ms = if h == 0 { now.0 - hour } else { HOUR_MS };
            for k in 0..4u32 {
                delta.latency.record(10 + (h as u32 * 7 + k * 3 + i as u32) % 25);
                delta.counts.add(Status::Up);
            }
            batch.rollups.insert((id.clone(), Timestamp(hour)), delta);
        }
    }
    batch
}

/// A state entered at `at`, and an incident open since then when down.
fn entered(id: &MonitorId, state: State, at: Timestamp, server_text: &str) -> Transition {
    let mut t = Transition {
        monitor: id.clone(),
        at,
        incidents: Vec::new(),
        alerts: Vec::new(),
        state: Some(state),
        cert_threshold: None,
        published: None,
        maintenance: None,
    };
    if state == State::Down {
        t.incidents.push(IncidentChange::Open(OpenIncident {
            started: at,
            severity: Severity::Down,
            cause: Some("greeting_rejected".into()),
            server_text: Some(server_text.into()),
            flapping: false,
        }));
    }
    t
}

fn config_text(dir: &Path, monitors: &[(String, String, Vec<String>)]) -> String {
    let mut text = format!(
        "[storage]\nkind = \"sqlite\"\npath = \"{}\"\n[service]\ninstance = \"page-test\"\n\
         [scheduler]\nmin_host_spacing = \"0s\"\nmax_concurrency = 64\n[incidents]\nopen_after = 1\n\
         [defaults]\ntimeout = \"5s\"\n[http]\ntitle = \"Example mail\"\n",
        dir.join("monitor.db").display()
    );
    for (name, target, tags) in monitors {
        let tags: Vec<String> = tags.iter().map(|t| format!("{t:?}")).collect();
        text.push_str(&format!(
            "[[monitors]]\nname = {name:?}\ntarget = \"{target}\"\ntls = \"none\"\ntags = [{}]\n",
            tags.join(", ")
        ));
    }
    text
}

async fn serve_page(engine: &EngineHandle, config: &Config) -> support::web::Served {
    let served = support::web::serve(engine, &config.http, HttpOptions::default()).await;
    support::wait_for(Duration::from_secs(60), "the history to load", async || served.http.board().read().loaded).await;
    served
}

fn shoot(chromium: &Chromium, url: &str, name: &str, size: (u32, u32)) {
    let path = artifact(name);
    chromium.screenshot(url, size, &path).unwrap_or_else(|e| panic!("{e}"));
    println!("screenshot: {}", path.display());
}

#[test]
fn ten_monitors_in_a_browser() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(chromium) = Chromium::find("ten_monitors_in_a_browser") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let up = Responder::new().start().unwrap();
    let busy: TestServer = Responder::new().greeting("421 4.3.2 mx.test busy, try later").start().unwrap();
    let hostile = smtp_probe_testserver::start(
        Script::new().reply("554 5.7.1 <script>alert(1)</script> &amp; go away").expect_line().reply("221 bye"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let names = [
        ("Inbound MX 1 (Frankfurt)", &up, "inbound"),
        ("Inbound MX 2 (Amsterdam)", &up, "inbound"),
        ("Inbound MX 3 (busy)", &busy, "inbound"),
        ("Backup MX <b>& co</b>", &up, "inbound"),
        ("Submission (STARTTLS)", &up, "submission"),
        ("Submission (implicit TLS)", &up, "submission"),
        ("Webmail relay", &up, "submission"),
        ("Outbound relay 1", &up, "relay"),
        ("Outbound relay 2 (gone)", &hostile, "relay"),
        ("Newsletter relay", &up, "relay"),
    ];
    let monitors: Vec<(String, String, Vec<String>)> =
        names.iter().map(|(n, s, g)| (n.to_string(), s.addr().to_string(), vec![g.to_string()])).collect();
    let text = config_text(dir.path(), &monitors);
    let mut config = Config::from_toml_str(&text, dir.path()).unwrap();
    for m in &mut config.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.recheck_after = Duration::from_millis(200);
    }
    runtime.block_on(async {
        let store: Arc<SqlStore> = support::sqlite_store(dir.path()).await;
        let ids: Vec<(MonitorId, String, Vec<String>)> =
            config.monitors.iter().map(|m| (m.id.clone(), m.name.clone(), m.tags.clone())).collect();
        // Ninety days of history with some bad days, so the bars say something.
        let batch = history(&ids, Timestamp::now(), 90, 24, |i, d| match (i, d) {
            (1, 12) | (7, 40) => 45,
            (2, 3..=9) => 3,
            (4, 60) => 600,
            (_, d) if d > 80 && i > 5 => 0,
            _ => 0,
        });
        store.write(&batch, "seed").await.unwrap();
        let engine =
            Engine::start_with_store(config.clone(), support::dyn_store(&store), engine_options()).await.unwrap();
        support::wait_for(Duration::from_secs(20), "every monitor checked twice", async || {
            engine.snapshot().iter().all(|s| s.checks >= 2)
        })
        .await;
        let served = serve_page(&engine, &config).await;
        let url = format!("http://{}/", served.addr);
        let dom = tokio::task::block_in_place(|| chromium.dump_dom(&url)).unwrap_or_else(|e| panic!("{e}"));
        check_dom(&dom, &engine);
        assert!(dom.contains("Outbound relay 2 (gone)") && dom.contains("Open incidents"));
        assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; go away"), "the server's words as text");
        assert!(!dom.contains("<script"), "nothing the server said became markup");
        tokio::task::block_in_place(|| {
            shoot(&chromium, &url, "ten-monitors-desktop.png", (1280, 1600));
            shoot(&chromium, &url, "ten-monitors-phone.png", (412, 2400));
            shoot(
                &chromium,
                &format!("http://{}/monitors/inbound-mx-2-amsterdam", served.addr),
                "detail.png",
                (1280, 2000),
            );
        });
        drop(served);
        engine.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn ten_thousand_monitors_in_a_browser() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(chromium) = Chromium::find("ten_thousand_monitors_in_a_browser") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let up = Responder::new().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let monitors: Vec<(String, String, Vec<String>)> = (0..10_000)
        .map(|i| {
            (
                format!("mx{i:05}.region-{:02}.example.test", i % 20),
                up.addr().to_string(),
                vec![format!("region-{:02}", i % 20)],
            )
        })
        .collect();
    let text = config_text(dir.path(), &monitors);
    let mut config = Config::from_toml_str(&text, dir.path()).unwrap();
    for m in &mut config.monitors {
        // An hour apart: a few checks a second run beside the page, as in a real day.
        m.interval = Duration::from_secs(3600);
    }
    runtime.block_on(async {
        let store: Arc<SqlStore> = support::sqlite_store(dir.path()).await;
        let ids: Vec<(MonitorId, String, Vec<String>)> =
            config.monitors.iter().map(|m| (m.id.clone(), m.name.clone(), m.tags.clone())).collect();
        let now = Timestamp::now();
        let mut batch = history(&ids, now, 7, 3, |i, d| if i % 97 == 0 && d == 2 { 30 } else { 0 });
        // As storage remembers them: most up, every 200th down with an open incident.
        for (i, (id, _, _)) in ids.iter().enumerate() {
            let state = if i % 200 == 0 { State::Down } else { State::Up };
            batch.transitions.push(entered(
                id,
                state,
                now - Duration::from_secs(3600 + i as u64),
                "554 5.3.2 <b>no</b>",
            ));
        }
        store.write(&batch, "seed").await.unwrap();
        let engine =
            Engine::start_with_store(config.clone(), support::dyn_store(&store), engine_options()).await.unwrap();
        let served = serve_page(&engine, &config).await;
        let url = format!("http://{}/", served.addr);
        let dom = tokio::task::block_in_place(|| chromium.dump_dom(&url)).unwrap_or_else(|e| panic!("{e}"));
        check_dom(&dom, &engine);
        assert_eq!(dom.matches("<details class=\"group\"").count(), 20);
        assert!(dom.contains("Open incidents (50)"), "the incidents are counted");
        assert_eq!(dom.matches("<article class=\"incident ").count(), 12, "the newest as cards");
        assert!(dom.contains("… and 38 more"));
        tokio::task::block_in_place(|| shoot(&chromium, &url, "ten-thousand-monitors-desktop.png", (1280, 1400)));
        drop(served);
        engine.shutdown(Duration::from_secs(5)).await;
    });
}
