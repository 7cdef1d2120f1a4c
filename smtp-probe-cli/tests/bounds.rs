//! Bad input is a usage error, never a panic or a hang: every refused value exits 3 with one line on stderr, in
//! every format (and `SMTP UNKNOWN - ...` on stdout for Nagios). Hostile server text stays data in every format.
//! At most `--parallel` targets are probed at once.

mod common;

use std::time::Duration;

use common::{NagiosGrammar, command, run, run_command, target, temp_file};
use smtp_probe_testserver::{Responder, Script};

const FORMATS: [&str; 5] = ["human", "json", "nagios", "prometheus", "openmetrics"];

/// Runs `args` in every format and checks the usage error: exit 3, one line on stderr containing `reason`,
/// nothing on stdout but Nagios' UNKNOWN line.
#[track_caller]
fn refused(args: &[&str], reason: &str) {
    for format in FORMATS {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let run = run(&all);
        assert_eq!(run.code, 3, "{all:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{all:?}: one line on stderr: {run:?}");
        assert!(run.stderr.starts_with("smtp-probe: "), "{all:?}: {run:?}");
        assert!(run.stderr.contains(reason), "{all:?}: {reason:?} in {:?}", run.stderr);
        if format == "nagios" {
            assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
            assert!(run.stdout.starts_with("SMTP UNKNOWN - ") && run.stdout.contains(reason), "{run:?}");
            assert!(!run.stdout.contains('|'), "no performance data, and no '|' from the message: {run:?}");
        } else {
            assert!(run.stdout.is_empty(), "{all:?}: {run:?}");
        }
    }
}

#[test]
fn absurd_timeouts_are_usage_errors() {
    refused(&["127.0.0.1", "-t", "1e19"], "more than 86400 (24 h)");
    refused(&["127.0.0.1", "-t", "99999999999"], "more than 86400 (24 h)");
    refused(&["127.0.0.1", "-t", "86400.5"], "more than 86400 (24 h)");
    refused(&["127.0.0.1", "-t", "inf"], "is not a number of seconds");
    refused(&["127.0.0.1", "-w", "1e300"], "more than 86400 (24 h)");
    refused(&["127.0.0.1", "-t", "0"], "the timeout must be above zero");
}

#[test]
fn targets_and_ports_people_get_wrong() {
    refused(&["[mx.example]"], "brackets are for IPv6 addresses only; write mx.example without them");
    refused(&["2001:db8::1:2525"], "write [2001:db8::1]:2525 for port 2525 of 2001:db8::1");
    refused(&["mx.example:+25"], "invalid port \"+25\"");
    refused(&["mx.example", "-p", "+25"], "\"+25\" is not a port");
    refused(&["mx.example", "-D", "+30"], "is not a number of days");
    refused(&["mx.example", "--parallel", "0"], "is not a number from 1 to 4096");
    refused(&["--no-such-option"], "unexpected argument '--no-such-option'");
    // Control characters in what was typed are escaped in the message too.
    refused(&["mx\x1b[2J.example"], "the target contains the forbidden byte '\\u{1b}'");
}

#[test]
fn the_password_file_is_read_only_when_small() {
    let server = Responder::new().user("alice", "s3cret").auth_before_tls(true).start().unwrap();
    let big = temp_file(&"x".repeat(4097));
    let args = [&target(&server), "-U", "alice", "--allow-plaintext-auth", "--authpass-file"];
    let mut too_big = args.to_vec();
    too_big.push(big.path().to_str().unwrap());
    refused(&too_big, "larger than 4096 bytes");
    assert_eq!(server.connections(), 0, "nothing is probed when the command line is refused");

    // The first line only, without its CR LF: a 4096-byte file is fine.
    let padded = temp_file(&format!("s3cret\r\n{}", "#".repeat(4096 - 8)));
    let mut good = args.to_vec();
    good.extend([padded.path().to_str().unwrap(), "--format", "json"]);
    let run = run(&good);
    assert_eq!((run.code, run.json()["verdict"].as_str()), (0, Some("up")), "{run:?}");
}

#[test]
fn parallel_bounds_the_connections_open_at_once() {
    // Each probe holds its connection for the 200 ms the server takes to greet.
    let server = Responder::new().greeting_delay(Duration::from_millis(200)).start().unwrap();
    let address = target(&server);
    let mut args: Vec<&str> = vec![&address; 12];
    args.extend(["--parallel", "3", "--format", "json", "-t", "5"]);
    let run = run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json().as_array().unwrap().len(), 12);
    assert_eq!(server.connections(), 12);
    // Without the limit all twelve would be open at once and the run would take one greeting delay; with it,
    // four rounds of three. (The server counts a connection until its own task has ended, which on a busy
    // machine can be a little after the client has moved on, so its count may show a few more than three.)
    let most = server.max_concurrent_connections();
    assert!((3..12).contains(&most), "--parallel 3, yet {most} connections were open at once");
    assert!(run.elapsed >= Duration::from_millis(800), "four rounds of three: {:?}", run.elapsed);

    // The default is 16: forty targets take three rounds.
    let server = Responder::new().greeting_delay(Duration::from_millis(300)).start().unwrap();
    let address = target(&server);
    let mut args: Vec<&str> = vec![&address; 40];
    args.extend(["--format", "json", "-t", "10"]);
    let run = common::run(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let most = server.max_concurrent_connections();
    assert!((2..40).contains(&most), "{most} connections open at once");
    assert!(run.elapsed >= Duration::from_millis(900), "three rounds of at most sixteen: {:?}", run.elapsed);
}

#[test]
fn hostile_replies_stay_data_in_every_format() {
    let server = Script::new()
        .send(b"220-mx.test \x1b]0;owned\x07 \x1b[2J| pipe\r\n220 second\xff line\r\n".as_slice())
        .expect("EHLO")
        .send("250-mx.test\r\n250-X-\x1b[31mRED\r\n250 SIZE 1000\r\n")
        .expect("QUIT")
        .reply("221 bye")
        .start()
        .unwrap();
    let t = target(&server);
    for format in FORMATS {
        let mut command = command();
        command.args([&t, "--transcript", "-v", "--format", format]);
        let run = run_command(&mut command);
        assert_eq!(run.code, 0, "{format}: {run:?}");
        match format {
            "json" => {
                let report = run.json();
                assert_eq!(report["greeting"]["lines"][0], "mx.test \x1b]0;owned\x07 \x1b[2J| pipe");
                assert_eq!(report["greeting"]["lines"][1], "second\u{fffd} line");
                assert_eq!(report["capabilities"]["plain"]["lines"][0], "X-\x1b[31mRED");
            }
            _ => {
                assert!(!run.stdout.contains('\x1b') && !run.stdout.contains('\x07'), "{format}: {:?}", run.stdout);
                assert!(!run.stdout.contains('\r'), "{format}");
            }
        }
        if format == "human" {
            assert!(run.stdout.contains("220 mx.test \\x1b]0;owned\\x07 \\x1b[2J| pipe"), "{}", run.stdout);
            assert!(run.stdout.contains("second\\xff line"), "{}", run.stdout);
            assert!(run.stdout.contains("X-\\x1b[31mRED"), "{}", run.stdout);
        }
        if format == "nagios" {
            let mut lines = run.stdout.lines();
            let first = lines.next().unwrap();
            NagiosGrammar::new().check(first);
            assert!(
                first.contains("greeting \"220 mx.test \\x1b]0;owned\\x07 \\x1b[2J¦ pipe second\\xff line\""),
                "{first}"
            );
            for line in lines {
                assert!(!line.contains('|'), "long output starts no perfdata: {line}");
            }
        }
    }
}
