//! Task 3: several targets probed at once — here the loopback Postfix's three doors: port 25-style SMTP with
//! STARTTLS, submission with STARTTLS, implicit TLS — and the results rendered as the command prints them (the
//! adapter's `render` feature): one JSON array, Prometheus text.

mod support;

// ---- user code ------------------------------------------------------------------------------------------------
use std::time::SystemTime;

use smtp_probe_tokio::render::{self, Item, JsonOptions};
use smtp_probe_tokio::{ProbeConfig, Report, probe};

/// Probes every configuration at once (each bounded by its own overall timeout); the reports in the same order.
async fn probe_all(configs: Vec<ProbeConfig>) -> Vec<Report> {
    let tasks: Vec<_> = configs.into_iter().map(|config| tokio::spawn(async move { probe(&config).await })).collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        reports.push(task.await.expect("a probe does not panic"));
    }
    reports
}

/// The reports as one JSON array and as Prometheus text: what `smtp-probe --format json|prometheus` prints.
fn render_all(reports: &[Report]) -> (String, String) {
    let items: Vec<Item<'_>> = reports.iter().map(Item::from).collect();
    let json = render::json(&items, &JsonOptions { pretty: false, array: true });
    (json, render::prometheus(&items, SystemTime::now()))
}
// ---- end of user code -----------------------------------------------------------------------------------------

use smtp_probe_tokio::{Target, TlsConfig, TlsMode, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_targets_at_once_in_order_rendered_as_the_command_does() {
    let Some(env) = support::postfix() else { return };
    let ca = std::fs::read(support::get(&env, "CA")).expect("the test CA");
    let tls = TlsConfig::builder().add_ca_pem("test CA", &ca).unwrap().build().unwrap();
    let host = support::get(&env, "HOST");
    let doors = [
        ("PLAIN_PORT", TlsMode::StartTlsRequired),
        ("SUBMISSION_PORT", TlsMode::StartTlsRequired),
        ("SMTPS_PORT", TlsMode::Implicit),
    ];
    let configs: Vec<ProbeConfig> = doors
        .iter()
        .map(|(port, mode)| {
            ProbeConfig::builder(Target::new(host, support::get(&env, port).parse().unwrap()).unwrap())
                .tls(*mode)
                .tls_name(support::get(&env, "TLS_NAME"))
                .tls_config(tls.clone())
                .build()
                .unwrap()
        })
        .collect();
    let targets: Vec<String> = configs.iter().map(|config| config.target().to_string()).collect();

    let reports = probe_all(configs).await;
    for report in &reports {
        assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
        assert!(report.tls.as_ref().is_some_and(|tls| tls.verified), "{}", report.summary());
    }
    let (json, metrics) = render_all(&reports);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let in_json: Vec<&str> = json.as_array().unwrap().iter().map(|item| item["target"].as_str().unwrap()).collect();
    assert_eq!(in_json, targets, "one object per target, in the order given");
    for target in &targets {
        assert!(metrics.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 1\n")), "{target} in:\n{metrics}");
    }
}
