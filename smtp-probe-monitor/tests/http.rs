//! The HTTP side over real HTTP on loopback, in front of an engine checking the test server's scripted faults:
//! the JSON API and its pagination, acknowledging an incident, the status page (hostile server text escaped),
//! `/metrics` through promtool and the reference OpenMetrics parser, `/probe` from the configuration, credentials,
//! and `/healthz` following a locked database.

mod support;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineHandle, EngineOptions};
use smtp_probe_monitor::http::HttpOptions;
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::incident::State;
use smtp_probe_monitor::storage::writer::WriterConfig;
use smtp_probe_testserver::{Responder, Script, TestServer};
use support::web::{self, get, get_with, request};

/// What a hostile server says: markup, a terminal escape, a quote that would end a label.
const HOSTILE: &str = "554 5.7.1 <script>alert(\"x\")</script> \u{1b}[31mno\" service";

fn hostile_script() -> Script {
    Script::new().reply(HOSTILE).expect_line().reply("221 2.0.0 Bye")
}

/// Checks every second (below the file format's minimum, set after parsing), failures confirmed after 200 ms.
fn config(dir: &Path, monitors: &[(&str, String, &str)], extra: &str) -> Config {
    let mut text = format!(
        "[storage]\nkind = \"sqlite\"\npath = \"{}\"\n[service]\ninstance = \"http-test\"\n\
         [scheduler]\nmin_host_spacing = \"0s\"\n[incidents]\nopen_after = 1\nclose_after = 2\n\
         [defaults]\ntimeout = \"5s\"\n{extra}\n",
        dir.join("monitor.db").display()
    );
    for (name, target, tags) in monitors {
        text.push_str(&format!(
            "[[monitors]]\nname = \"{name}\"\ntarget = \"{target}\"\ntls = \"none\"\ntags = [{tags}]\n"
        ));
    }
    let env = |name: &str| match name {
        "HTTP_PASSWORD" => Some("correct horse".to_owned()),
        "HTTP_TOKEN" => Some("0123456789abcdef0123".to_owned()),
        _ => None,
    };
    let mut c = Config::from_toml_with_env(&text, dir, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for m in &mut c.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.recheck_after = Duration::from_millis(200);
    }
    c
}

async fn start(config: &Config) -> EngineHandle {
    let store = support::sqlite_store(match &config.storage {
        smtp_probe_monitor::config::StorageConfig::Sqlite { path } => path.parent().unwrap(),
        _ => unreachable!(),
    })
    .await;
    let options = EngineOptions {
        writer: WriterConfig { flush_every: Duration::from_millis(100), ..WriterConfig::default() },
        ..EngineOptions::default()
    };
    Engine::start_with_store(config.clone(), support::dyn_store(&store), options).await.expect("engine")
}

/// Waits until every monitor has this many checks and the board has read what they wrote.
async fn settle(engine: &EngineHandle, served: &web::Served, checks: u64) {
    support::wait_for(Duration::from_secs(20), "checks", async || engine.snapshot().iter().all(|s| s.checks >= checks))
        .await;
    assert!(engine.flush(Duration::from_secs(5)).await);
    let before = served.http.board().read().refreshed;
    support::wait_for(Duration::from_secs(5), "a board refresh", async || {
        served.http.board().read().refreshed != before
    })
    .await;
}

struct World {
    up: TestServer,
    down: TestServer,
    _dir: tempfile::TempDir,
    config: Config,
}

fn world(extra: &str) -> World {
    let up = Responder::new().start().unwrap();
    let down = smtp_probe_testserver::start(hostile_script()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &[("MX up", up.addr().to_string(), "\"eu\", \"inbound\""), ("MX <hostile>", down.addr().to_string(), "")],
        extra,
    );
    World { up, down, _dir: dir, config }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_from_memory_and_pages_history() {
    let w = world("");
    let engine = start(&w.config).await;
    let served = web::serve(&engine, &w.config.http, HttpOptions::default()).await;
    let addr = served.addr;
    settle(&engine, &served, 3).await;

    let list = get(addr, "/api/v1/monitors").await;
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.header("content-type"), Some("application/json"));
    let json = list.json();
    let monitors = json["monitors"].as_array().unwrap();
    assert_eq!(monitors.len(), 2);
    let up = monitors.iter().find(|m| m["id"] == "mx-up").unwrap();
    assert_eq!((up["state"].as_str(), up["group"].as_str()), (Some("up"), Some("eu")));
    assert_eq!(up["availability"]["24h"], 1.0, "{up}");
    assert!(up["last_check"]["response_ms"].is_u64(), "{up}");
    let down = monitors.iter().find(|m| m["id"] == "mx-hostile").unwrap();
    assert_eq!(down["state"], "down", "{down}");
    assert_eq!(down["incident"]["server_text"].as_str().unwrap(), smtp_probe_monitor::check::clip(HOSTILE, 512));
    assert_eq!(down["availability"]["24h"], 0.0, "{down}");

    // Pages of one, with a cursor.
    let first = get(addr, "/api/v1/monitors?limit=1").await.json();
    assert_eq!(first["monitors"][0]["id"], "mx-hostile");
    assert_eq!(first["next"]["after"], "mx-hostile");
    let second = get(addr, "/api/v1/monitors?limit=1&after=mx-hostile").await.json();
    assert_eq!(second["monitors"][0]["id"], "mx-up");
    assert!(second["next"].is_null());
    assert_eq!(get(addr, "/api/v1/monitors?state=down").await.json()["monitors"].as_array().unwrap().len(), 1);
    assert_eq!(get(addr, "/api/v1/monitors?tag=inbound").await.json()["monitors"][0]["id"], "mx-up");
    assert_eq!(get(addr, "/api/v1/monitors?limit=0").await.status, 400);
    assert_eq!(get(addr, "/api/v1/monitors?state=sideways").await.status, 400);

    // One monitor: exact figures per window, its days and hours.
    let one = get(addr, "/api/v1/monitors/mx-up").await.json();
    assert_eq!(one["figures"].as_array().unwrap().len(), 4);
    assert_eq!(one["figures"][0]["window"], "24h");
    assert!(one["figures"][0]["checks"]["up"].as_i64().unwrap() >= 3, "{one}");
    assert_eq!(one["days"].as_array().unwrap().len(), 90);
    assert_eq!(one["hours"].as_array().unwrap().len(), 25);
    assert_eq!(get(addr, "/api/v1/monitors/nope").await.status, 404);
    assert_eq!(get(addr, "/api/v1/monitors/..%2F..").await.status, 404);

    // History, newest first, in pages that continue where the last ended.
    let page1 = get(addr, "/api/v1/monitors/mx-up/results?limit=2").await.json();
    let results = page1["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results[0]["at"].as_i64() > results[1]["at"].as_i64());
    let before = page1["next"]["before"].as_i64().unwrap();
    assert_eq!(before, results[1]["at"].as_i64().unwrap());
    let page2 = get(addr, &format!("/api/v1/monitors/mx-up/results?limit=2&before={before}")).await.json();
    assert!(page2["results"][0]["at"].as_i64().unwrap() < before, "no overlap");
    assert_eq!(get(addr, "/api/v1/monitors/mx-up/results?before=soon").await.status, 400);

    // The open incident, then acknowledged: JSON only.
    let open = get(addr, "/api/v1/incidents?open=true").await.json();
    assert_eq!(open["incidents"].as_array().unwrap().len(), 1);
    let started = open["incidents"][0]["incident"]["started"].as_i64().unwrap();
    let path = format!("/api/v1/monitors/mx-hostile/incidents/{started}/acknowledge");
    let form = request(addr, "POST", &path, &[("Content-Type", "application/x-www-form-urlencoded")], "by=x").await;
    assert_eq!(form.status, 415, "a cross-site form cannot acknowledge: {form:?}");
    let ack = request(addr, "POST", &path, &[("Content-Type", "application/json")], "{\"by\": \"alice\"}").await;
    assert_eq!(ack.status, 200, "{ack:?}");
    assert_eq!(ack.json()["by"], "alice");
    let gone = request(
        addr,
        "POST",
        "/api/v1/monitors/mx-hostile/incidents/1/acknowledge",
        &[("Content-Type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(gone.status, 404);
    let stored = get(addr, "/api/v1/monitors/mx-hostile/incidents").await.json();
    assert_eq!(stored["incidents"][0]["acknowledged"][1], "alice", "{stored}");
    assert_eq!(get(addr, "/api/v1/incidents?limit=5").await.json()["incidents"].as_array().unwrap().len(), 1);

    let tags = get(addr, "/api/v1/tags").await.json();
    let names: Vec<&str> = tags["tags"].as_array().unwrap().iter().map(|t| t["tag"].as_str().unwrap()).collect();
    assert_eq!(names, ["eu", "inbound"]);
    assert_eq!(tags["tags"][0]["availability"]["24h"], 1.0);
    let figures = get(addr, "/api/v1/tags/eu/figures").await.json();
    assert_eq!(figures["figures"][0]["availability"], 1.0, "{figures}");
    assert_eq!(get(addr, "/api/v1/tags/none/figures").await.status, 404);
    assert_eq!(get(addr, "/api/v1/alerts").await.status, 200);
    assert_eq!(get(addr, "/api/v1/alerts/deliveries?limit=3").await.json()["deliveries"], serde_json::json!([]));
    let status = get(addr, "/api/v1/status").await.json();
    assert_eq!(status["status"], "ok");
    assert_eq!(get(addr, "/api/v1/nothing").await.json()["error"], "no such API route");
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
    assert!(w.up.connections() >= 3 && w.down.connections() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_every_monitor_and_escapes_what_servers_say() {
    let w = world("[http]\ntitle = \"Mail <status>\"\n");
    let engine = start(&w.config).await;
    let served = web::serve(&engine, &w.config.http, HttpOptions::default()).await;
    let addr = served.addr;
    settle(&engine, &served, 2).await;
    assert_eq!(engine.monitor(&MonitorId::parse("mx-hostile").unwrap()).map(|s| s.state), Some(State::Down));

    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = &page.body;
    assert!(html.contains("<h1>Mail &lt;status&gt;</h1>"), "the title is text too");
    assert!(html.contains("1 of 2 monitors are down"), "{html}");
    assert!(html.contains("MX &lt;hostile&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"), "the server's words, escaped");
    assert!(!html.contains("<script"), "no script, from anyone");
    assert!(!html.contains('\u{1b}'), "no terminal escapes either");
    assert_eq!(html.matches("<svg class=\"bar\"").count(), 2, "a 90-day bar per monitor");
    assert_eq!(html.matches("<svg class=\"spark\"").count(), 2);
    assert!(html.contains("id=\"m-mx-up\"") && html.contains("id=\"m-mx-hostile\""));
    assert!(html.contains("<span class=\"gname\">eu</span>") && html.contains("<span class=\"gname\">Other</span>"));

    let down_only = get(addr, "/?state=down").await.body;
    assert!(down_only.contains("id=\"m-mx-hostile\"") && !down_only.contains("id=\"m-mx-up\""));
    let found = get(addr, "/?q=MX%20UP").await.body;
    assert!(found.contains("id=\"m-mx-up\"") && !found.contains("id=\"m-mx-hostile\""));
    let group = get(addr, "/?group=Other").await.body;
    assert!(group.contains("id=\"m-mx-hostile\"") && !group.contains("id=\"m-mx-up\""));

    let detail = get(addr, "/monitors/mx-hostile").await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Open incident: down"));
    assert!(detail.body.contains("&lt;script&gt;") && !detail.body.contains("<script"));
    assert!(detail.body.contains("<svg class=\"chart\""));
    assert!(detail.body.contains("Recent checks"));
    assert_eq!(get(addr, "/monitors/nope").await.status, 404);
    assert_eq!(get(addr, "/nothing").await.status, 404);
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}

/// At hundreds of monitors the page and `/metrics` are sent in pieces, never built whole: each still arrives
/// complete, with every monitor's row in its group, every family's header once and every monitor's series once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_page_and_metrics_arrive_complete_in_pieces() {
    let up = Responder::new().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let monitors: Vec<(String, String)> = (0..600).map(|i| (format!("mx{i:04}"), format!("\"g{}\"", i % 7))).collect();
    let list: Vec<(&str, String, &str)> =
        monitors.iter().map(|(name, tags)| (name.as_str(), up.addr().to_string(), tags.as_str())).collect();
    let mut config = config(dir.path(), &list, "");
    for m in &mut config.monitors {
        m.interval = Duration::from_secs(3600);
    }
    let engine = start(&config).await;
    // Every request rendered afresh.
    let options = HttpOptions { page_cache: Some(Duration::ZERO), ..HttpOptions::default() };
    let served = web::serve(&engine, &config.http, options).await;
    let addr = served.addr;

    let page = get(addr, "/?open=all").await;
    assert_eq!(page.status, 200);
    let html = &page.body;
    assert!(html.len() > 4 * 64 * 1024, "several pieces: {} bytes", html.len());
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>"), "complete");
    for group in 0..7 {
        let start = html.find(&format!("id=\"g-g{group}\"")).expect("the group");
        let end = start + html[start..].find("</details>").expect("the group's end");
        let rows = &html[start..end];
        for i in (group..600).step_by(7) {
            assert_eq!(rows.matches(&format!("id=\"m-mx{i:04}\"")).count(), 1, "mx{i:04} in g{group}");
        }
        assert_eq!(rows.matches("<li class=\"mon ").count(), (group..600).step_by(7).count(), "only its own");
    }

    for accept in ["text/plain", "application/openmetrics-text;version=1.0.0"] {
        let metrics = get_with(addr, "/metrics", &[("Accept", accept)]).await;
        assert_eq!(metrics.status, 200);
        let body = &metrics.body;
        assert!(body.len() > 64 * 1024, "more than one piece: {} bytes", body.len());
        assert_eq!(body.matches("# HELP smtp_probe_monitor_state ").count(), 1, "one header per family");
        assert_eq!(body.matches("# TYPE smtp_probe_monitor_state gauge").count(), 1);
        for i in 0..600 {
            let line = format!("smtp_probe_monitor_state{{monitor=\"mx{i:04}\",group=\"g{}\",state=", i % 7);
            assert_eq!(body.matches(&line).count(), 1, "{line}");
        }
        assert!(body.contains("smtp_probe_monitor_storage_healthy"), "the service's figures after the monitors'");
        if accept == "text/plain" {
            promtool(body);
        } else {
            assert!(body.ends_with("# EOF\n"));
            if let Some(checked) = smtp_probe_testsuite::openmetrics::check("large_metrics", body) {
                checked.unwrap_or_else(|e| panic!("OpenMetrics: {e}"));
            }
        }
    }
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}

/// A channel whose receiver is gone: the failure shows in the API, `/metrics`, `/healthz` (which stays 200: the
/// service itself is fine) and on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_alert_channel_shows_everywhere() {
    let nobody = support::receiver::free_addr();
    let w = world(&format!(
        "channels = [\"pager\"]\n[channels.pager]\ntype = \"webhook\"\nurl = \"http://{nobody}/hook\"\n\
         retry_initial = \"200ms\"\n[channels.spare]\ntype = \"webhook\"\nurl = \"http://{nobody}/spare\"\n"
    ));
    let engine = start(&w.config).await;
    let served =
        web::serve(&engine, &w.config.http, HttpOptions { page_cache: Some(Duration::ZERO), ..HttpOptions::default() })
            .await;
    let addr = served.addr;
    support::wait_for(Duration::from_secs(30), "a failed delivery", async || {
        engine.channel_health().iter().any(|c| c.name == "pager" && c.consecutive_failures > 0)
    })
    .await;

    let api = get(addr, "/api/v1/alerts/channels").await.json();
    let channels = api["channels"].as_array().unwrap();
    let pager = channels.iter().find(|c| c["name"] == "pager").expect("pager listed");
    assert_eq!(pager["state"], "failing", "{api}");
    assert!(pager["last_error"].is_string(), "{api}");
    let spare = channels.iter().find(|c| c["name"] == "spare").expect("an unused channel is listed too");
    assert_eq!(spare["state"], "ok", "{api}");

    let metrics = get(addr, "/metrics").await.body;
    assert!(metrics.contains("smtp_probe_monitor_alert_channel_up{channel=\"pager\",kind=\"webhook\"} 0"), "{metrics}");
    assert!(metrics.contains("smtp_probe_monitor_alert_channel_up{channel=\"spare\",kind=\"webhook\"} 1"), "{metrics}");
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("smtp_probe_monitor_alert_channel_failures_total{channel=\"pager\"} "))
        .expect("a failure counter for the channel");
    assert!(failures.parse::<f64>().unwrap() >= 1.0, "{failures}");
    promtool(&metrics);

    let health = get(addr, "/healthz").await;
    assert_eq!(health.status, 200, "a receiver's fault is not the service's: {}", health.body);
    assert_eq!(health.json()["alert_channels_failing"], serde_json::json!(["pager"]));

    let page = get(addr, "/").await.body;
    assert!(page.contains("Alert channel <b>pager</b> (webhook) fails since"), "{page}");
    assert!(!page.contains("<b>spare</b>"));
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}

fn promtool(text: &str) {
    if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(text) {
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_both_checkers_and_carry_no_server_text() {
    let w = world(
        "[http.probe.modules.plain]\ntls = \"none\"\ntimeout = \"3s\"\nallow_addresses = [\"127.0.0.0/8\"]\n\
         [http.probe.modules.public]\ntls = \"none\"\ntimeout = \"3s\"\n",
    );
    let engine = start(&w.config).await;
    let served = web::serve(&engine, &w.config.http, HttpOptions::default()).await;
    let addr = served.addr;
    settle(&engine, &served, 3).await;

    // /probe with the configured module (the built-in ones are replaced).
    let probed = get(addr, &format!("/probe?module=plain&target={}", w.up.addr())).await;
    assert_eq!(probed.status, 200, "{probed:?}");
    assert!(probed.body.contains(&format!("smtp_probe_up{{target=\"{}\"}} 1\n", w.up.addr())), "{}", probed.body);
    assert_eq!(get(addr, &format!("/probe?module=smtp&target={}", w.up.addr())).await.status, 400);
    // A request's target may not reach this host unless the module allows it: a verdict, and no connection.
    let untouched = Responder::new().start().unwrap();
    let denied = get(addr, &format!("/probe?module=public&target={}", untouched.addr())).await;
    assert_eq!(denied.status, 200, "{denied:?}");
    let target = untouched.addr();
    assert!(denied.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 0\n")), "{}", denied.body);
    assert!(
        denied.body.contains(&format!("smtp_probe_cause{{target=\"{target}\",cause=\"address_denied\"}} 1\n")),
        "{}",
        denied.body
    );
    assert_eq!(untouched.connections(), 0, "a denied address is never contacted");

    let text = get(addr, "/metrics").await;
    assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    promtool(&text.body);
    let open = get_with(addr, "/metrics", &[("Accept", "application/openmetrics-text;version=1.0.0")]).await;
    assert!(open.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    if let Some(checked) = smtp_probe_testsuite::openmetrics::check("metrics_pass_both_checkers", &open.body) {
        checked.unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{}", open.body));
    }
    let body = &text.body;
    for line in [
        "smtp_probe_monitor_up{monitor=\"mx-up\",group=\"eu\"} 1",
        "smtp_probe_monitor_up{monitor=\"mx-hostile\",group=\"\"} 0",
        "smtp_probe_monitor_state{monitor=\"mx-hostile\",group=\"\",state=\"down\"} 1",
        "smtp_probe_monitor_cause{monitor=\"mx-hostile\",group=\"\",cause=\"greeting_rejected\"} 1",
        "smtp_probe_monitor_availability_ratio{monitor=\"mx-up\",group=\"eu\",window=\"24h\"} 1",
        "smtp_probe_monitor_availability_ratio{monitor=\"mx-hostile\",group=\"\",window=\"90d\"} 0",
        "smtp_probe_monitor_info{monitor=\"mx-hostile\",group=\"\",name=\"MX <hostile>\",target=\"",
        "smtp_probe_monitor_monitors{state=\"down\"} 1",
        "smtp_probe_monitor_storage_healthy 1",
        "smtp_probe_exporter_probes_total{module=\"plain\",verdict=\"up\"} 1",
        "smtp_probe_exporter_bad_requests_total 1",
    ] {
        assert!(body.lines().any(|l| l.starts_with(line)), "missing {line}:\n{body}");
    }
    let histogram_count = body
        .lines()
        .find_map(|l| l.strip_prefix("smtp_probe_monitor_response_latency_seconds_count{group=\"eu\"} "))
        .expect("a latency histogram for group eu");
    assert!(histogram_count.parse::<u64>().unwrap() >= 3, "{body}");
    assert!(!body.contains("alert(") && !body.contains("no\\\" service") && !body.contains("5.7.1"), "no server text");
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_guard_every_area_but_the_public_ones() {
    let w = world(
        "[http]\nbasic_auth = { username = \"ops\", password_env = \"HTTP_PASSWORD\" }\n\
         bearer_token_env = \"HTTP_TOKEN\"\npublic = [\"healthz\"]\n",
    );
    let engine = start(&w.config).await;
    let served = web::serve(&engine, &w.config.http, HttpOptions::default()).await;
    let addr = served.addr;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:correct horse"));
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:correct horsf"));
    for path in ["/", "/monitors/mx-up", "/api/v1/monitors", "/metrics", &format!("/probe?target={}", w.up.addr())] {
        let refused = get(addr, path).await;
        assert_eq!(refused.status, 401, "{path}");
        let challenges: Vec<&str> =
            refused.headers.iter().filter(|(n, _)| n == "www-authenticate").map(|(_, v)| v.as_str()).collect();
        assert_eq!(challenges.len(), 2, "{path}: {challenges:?}");
        assert_eq!(get_with(addr, path, &[("Authorization", &wrong)]).await.status, 401, "{path}");
        assert_eq!(get_with(addr, path, &[("Authorization", "Bearer 0123456789abcdef012")]).await.status, 401);
        assert_eq!(get_with(addr, path, &[("Authorization", &basic)]).await.status, 200, "{path}");
        assert_eq!(get_with(addr, path, &[("Authorization", "Bearer 0123456789abcdef0123")]).await.status, 200);
    }
    assert_eq!(get(addr, "/healthz").await.status, 200, "public");
    // An acknowledgement made with Basic credentials is signed by the user, whatever the body says.
    support::wait_for(Duration::from_secs(20), "the incident", async || {
        engine.snapshot().iter().any(|s| s.incident.is_some())
    })
    .await;
    assert!(engine.flush(Duration::from_secs(5)).await);
    let started = engine.monitor(&MonitorId::parse("mx-hostile").unwrap()).unwrap().incident.unwrap().started;
    let ack = request(
        addr,
        "POST",
        &format!("/api/v1/monitors/mx-hostile/incidents/{}/acknowledge", started.0),
        &[("Content-Type", "application/json"), ("Authorization", &basic)],
        "{\"by\": \"mallory\"}",
    )
    .await;
    assert_eq!(ack.json()["by"], "ops");
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_while_the_database_is_locked() {
    let w = world("");
    let engine = start(&w.config).await;
    let served = web::serve(&engine, &w.config.http, HttpOptions::default()).await;
    let addr = served.addr;
    settle(&engine, &served, 1).await;
    let ok = get(addr, "/healthz").await;
    assert_eq!((ok.status, ok.json()["status"].as_str()), (200, Some("ok")), "{ok:?}");

    // Another process holds the write lock: writes fail after the busy timeout, checks go on.
    let db = match &w.config.storage {
        smtp_probe_monitor::config::StorageConfig::Sqlite { path } => path.clone(),
        _ => unreachable!(),
    };
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn({
        move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
                sqlx::query("BEGIN EXCLUSIVE").execute(&mut conn).await.unwrap();
                locked_tx.send(()).unwrap();
                let _ = tokio::task::spawn_blocking(move || release_rx.recv()).await;
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            });
        }
    });
    locked_rx.recv().unwrap();
    support::wait_for(Duration::from_secs(30), "/healthz to fail", async || get(addr, "/healthz").await.status == 503)
        .await;
    let failing = get(addr, "/healthz").await.json();
    assert_eq!(failing["status"], "failing");
    assert_eq!(failing["storage"]["ok"], false);
    assert!(failing["storage"]["error"].as_str().unwrap().contains("lock"), "{failing}");
    let metrics = get(addr, "/metrics").await.body;
    assert!(metrics.contains("smtp_probe_monitor_storage_healthy 0\n"), "{metrics}");
    assert!(get(addr, "/").await.body.contains("History is not being written"));

    release_tx.send(()).unwrap();
    holder.join().unwrap();
    support::wait_for(Duration::from_secs(30), "/healthz to recover", async || {
        get(addr, "/healthz").await.status == 200
    })
    .await;
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}
