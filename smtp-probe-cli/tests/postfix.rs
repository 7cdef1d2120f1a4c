//! The binary against the real loopback Postfix of `.ci/postfix.sh` (plain 2525 with STARTTLS, submission 2587,
//! implicit TLS 2465). Skipped, with the reason printed, when that Postfix is not set up.

mod common;

use common::{command, expect, phases, run, run_command, temp_file};
use smtp_probe_testsuite::postfix::{PostfixEnv, env_or_skip};

/// The environment and the CA written to a file for `--ca-file`.
fn setup(test: &str) -> Option<(PostfixEnv, tempfile::NamedTempFile)> {
    let env = env_or_skip(test)?;
    let ca = temp_file(&env.ca_pem);
    Some((env, ca))
}

fn at(env: &PostfixEnv, port: u16) -> String {
    format!("{}:{port}", env.host)
}

#[test]
fn plain_port_with_opportunistic_and_required_starttls() {
    let Some((env, ca)) = setup("plain_port_with_opportunistic_and_required_starttls") else { return };
    let ca = ca.path().to_str().unwrap();
    let target = at(&env, env.plain_port);
    let report = expect(&[&target, "--ca-file", ca, "--tls-name", &env.tls_name], "up", None, 0);
    assert_eq!(report["tls"]["verified"], true);
    assert!(report["greeting"]["lines"][0].as_str().unwrap().contains("Postfix"));
    assert!(report["capabilities"]["plain"]["keywords"].as_array().unwrap().contains(&"STARTTLS".into()));
    let report =
        expect(&[&format!("smtp://{target}"), "-S", "--ca-file", ca, "--tls-name", &env.tls_name], "up", None, 0);
    assert_eq!(report["tls"]["sni"].as_str(), Some(env.tls_name.as_str()));
    assert!(report["capabilities"]["tls"].is_object());
    // The Postfix CA is private: without it, the certificate does not verify.
    expect(&[&target, "-S"], "down", Some("certificate_invalid"), 2);
    if let Some(host6) = &env.host6 {
        expect(&[&format!("[{host6}]:{}", env.plain_port), "-6", "--ca-file", ca], "up", None, 0);
    }
}

/// As a new user would probe, without the private CA: no TLS asked for is up, exit 0, with the certificate problem
/// shown; `-S` is down; credentials are never sent over the unverified TLS (Postfix logs no SASL attempt) unless
/// `--insecure` says so, and then the finding names it.
#[test]
fn without_the_ca_as_a_new_user_would() {
    let Some(env) = env_or_skip("without_the_ca_as_a_new_user_would") else { return };
    let plain = at(&env, env.plain_port);
    let report = expect(&[&plain], "up", None, 0);
    assert_eq!(report["tls"]["verified"], false);
    assert_eq!(report["tls"]["verify_error"], "unknown_issuer");
    let info = report["findings"].as_array().unwrap().iter().find(|f| f["phase"] == "tls_handshake").unwrap();
    assert_eq!((info["severity"].as_str(), info["cause"].as_str()), (Some("info"), None), "{info:#}");
    assert!(info["message"].as_str().unwrap().contains("untrusted authority"), "{info:#}");
    let human = run(&[&plain]);
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("UP") && human.stdout.contains("untrusted authority"), "{}", human.stdout);
    expect(&[&plain, "-S"], "down", Some("certificate_invalid"), 2);

    let submission = at(&env, env.submission_port);
    let user = smtp_probe_testsuite::postfix::withheld_user();
    let withheld = run_command(
        command().args([&submission, "-U", user, "--format", "json"]).env("SMTP_PROBE_PASSWORD", "not-sent"),
    );
    assert_eq!(withheld.code, 2, "{withheld:?}");
    let report = withheld.json();
    assert_eq!((report["verdict"].as_str(), report["cause"].as_str()), (Some("down"), Some("certificate_invalid")));
    assert!(report["summary"].as_str().unwrap().contains("credentials withheld"), "{report:#}");
    assert!(!phases(&report).contains(&"auth".to_owned()), "{:?}", phases(&report));
    smtp_probe_testsuite::postfix::assert_no_sasl_attempt(&env, user);

    let args = [submission.as_str(), "-U", &env.user, "--insecure", "--format", "json"];
    let insecure = run_command(command().args(args).env("SMTP_PROBE_PASSWORD", &env.password));
    assert_eq!(insecure.code, 1, "{insecure:?}");
    let report = insecure.json();
    assert_eq!((report["verdict"].as_str(), report["cause"].as_str()), (Some("degraded"), Some("certificate_invalid")));
    let auth = report["phases"].as_array().unwrap().iter().find(|p| p["phase"] == "auth").expect("AUTH was sent");
    assert_eq!(auth["reply"]["code"], 235);
    let named = report["findings"].as_array().unwrap().iter().find(|f| f["phase"] == "auth").unwrap();
    assert!(named["message"].as_str().unwrap().ends_with("the inspect-only override allows it"), "{named:#}");
}

#[test]
fn submission_with_good_and_bad_credentials() {
    let Some((env, ca)) = setup("submission_with_good_and_bad_credentials") else { return };
    let url = format!("submission://{}", at(&env, env.submission_port));
    let args = [
        url.as_str(),
        "--ca-file",
        ca.path().to_str().unwrap(),
        "--tls-name",
        &env.tls_name,
        "-U",
        &env.user,
        "-f",
        &env.from,
        "--rcpt",
        &env.good_rcpt,
        "--format",
        "json",
    ];
    let good = run_command(command().args(args).env("SMTP_PROBE_PASSWORD", &env.password));
    assert_eq!(good.code, 0, "{good:?}");
    let report = good.json();
    assert_eq!(report["verdict"], "up");
    assert_eq!(&phases(&report)[..5], ["connect", "greeting", "ehlo", "starttls", "tls_handshake"]);
    let auth = report["phases"].as_array().unwrap().iter().find(|p| p["phase"] == "auth").unwrap();
    assert_eq!(auth["reply"]["code"], 235);
    assert!(phases(&report).contains(&"rset".to_owned()) && !phases(&report).contains(&"data".to_owned()));

    let bad = run_command(command().args(args).env("SMTP_PROBE_PASSWORD", "not-the-password"));
    assert_eq!(bad.code, 2, "{bad:?}");
    let report = bad.json();
    assert_eq!(report["cause"], "auth_failed");
    assert!(report["summary"].as_str().unwrap().contains("535 5.7.8"), "{report:#}");
    assert!(!bad.stdout.contains("not-the-password"));

    // Without AUTH, submission refuses the recipient.
    let args = [&url, "--ca-file", ca.path().to_str().unwrap(), "-f", &env.from, "--rcpt", &env.good_rcpt];
    let report = expect(&args, "down", Some("recipient_rejected"), 2);
    assert!(report["summary"].as_str().unwrap().contains("554 5.7.1"), "{report:#}");
}

#[test]
fn implicit_tls() {
    let Some((env, ca)) = setup("implicit_tls") else { return };
    let ca = ca.path().to_str().unwrap();
    let url = format!("smtps://{}", at(&env, env.smtps_port));
    let report = expect(&[&url, "--ca-file", ca, "--tls-name", &env.tls_name, "-D", "20,5"], "up", None, 0);
    assert_eq!(phases(&report)[1], "tls_handshake");
    assert!(report["tls"]["chain_earliest_days_left"].as_i64().unwrap() >= 20);
    let port = env.smtps_port.to_string();
    expect(&["-H", &env.host, "-p", &port, "-s", "--ca-file", ca], "up", None, 0);
}

#[test]
fn recipients_unknown_and_relay_denied() {
    let Some((env, ca)) = setup("recipients_unknown_and_relay_denied") else { return };
    let ca = ca.path().to_str().unwrap();
    let target = at(&env, env.plain_port);
    let check = |rcpt: &str, verdict: &str, cause: Option<&str>, code: i32| {
        expect(&[&target, "--ca-file", ca, "-f", &env.from, "--rcpt", rcpt], verdict, cause, code)
    };
    check(&env.good_rcpt, "up", None, 0);
    let report = check(&env.unknown_rcpt, "down", Some("recipient_rejected"), 2);
    assert!(report["summary"].as_str().unwrap().contains("550 5.1.1"), "{report:#}");
    let report = check(&env.relay_rcpt, "down", Some("recipient_rejected"), 2);
    assert!(report["summary"].as_str().unwrap().contains("Relay access denied"), "{report:#}");
}

#[test]
fn all_three_ports_at_once_in_every_format() {
    let Some((env, ca)) = setup("all_three_ports_at_once_in_every_format") else { return };
    let ca = ca.path().to_str().unwrap();
    let targets = [
        format!("smtp://{}", at(&env, env.plain_port)),
        format!("submission://{}", at(&env, env.submission_port)),
        format!("smtps://{}", at(&env, env.smtps_port)),
    ];
    for format in ["json", "nagios", "prometheus", "human"] {
        let mut cmd = command();
        cmd.args(&targets).args(["--ca-file", ca, "--tls-name", &env.tls_name, "-D", "20", "--format", format]);
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 0, "{format}: {run:?}");
        match format {
            "json" => assert_eq!(run.json().as_array().unwrap().len(), 3),
            "nagios" => assert!(run.stdout.starts_with("SMTP OK - 0 of 3 targets not up"), "{}", run.stdout),
            "prometheus" => assert_eq!(run.stdout.matches("smtp_probe_up{").count(), 3),
            _ => assert!(run.stdout.ends_with("3 targets: 3 up, 0 degraded, 0 down\n")),
        }
    }
}
