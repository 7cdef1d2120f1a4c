//! Writes the hand-made seed corpus of every target into `fuzz/corpus/<target>/`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus` (stable is fine). Files are named after what
//! they show; running it again rewrites the same files.

use std::fs;
use std::path::Path;

use smtp_probe_proto::testing::fuzz::imap_session;
use smtp_probe_proto::testing::fuzz::probe_session::{Action, CANNED, SESSION_HEADER, encode_session};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    fs::write(dir.join(name), bytes).expect("seed file");
}

const POSTFIX: &[u8] = b"220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n250-mx.example.com\r\n250-PIPELINING\r\n\
250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n\
250-SMTPUTF8\r\n250 CHUNKING\r\n";
const EXIM: &[u8] = b"220-mail.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 00:00:00 +0000\r\n\
220-We do not authorize the use of this system to transport unsolicited,\r\n220 and/or bulk e-mail.\r\n\
250-mail.example.org Hello probe.example.net [192.0.2.7]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n\
250-PIPECONNECT\r\n250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n";
const GMAIL: &[u8] = b"220 mx.google.com ESMTP a1si123456wrb.12 - gsmtp\r\n\
250-mx.google.com at your service, [203.0.113.5]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n\
250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
const EXCHANGE: &[u8] = b"220 BN8NAM11FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at \
Mon, 1 Jan 2024 00:00:00 +0000 08DC0A1B2C3D4E5F\r\n250-BN8NAM11FT012.mail.protection.outlook.com Hello [192.0.2.7]\r\n\
250-SIZE 49283072\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n\
250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
const TLS_HELLO: &[u8] = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03\x5f\x1e\x9c\x00\x01\x02\x03\x04\x05\x06\
\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x20";

fn reply_parser() {
    // [chunking, limits1, limits2, stream...]: chunking 0 whole, 1..=127 fixed, 128.. random.
    let seed = |name: &str, chunking: u8, l1: u8, l2: u8, stream: &[u8]| {
        let mut bytes = vec![chunking, l1, l2];
        bytes.extend_from_slice(stream);
        write("reply_parser", name, &bytes);
    };
    seed("postfix-greeting-ehlo-whole", 0, 0, 0, POSTFIX);
    seed("postfix-greeting-ehlo-bytewise", 1, 0, 0, POSTFIX);
    seed("exim-multiline-greeting-chunk3", 3, 0, 0, EXIM);
    seed("gmail-random-chunks", 0x9d, 0, 0, GMAIL);
    seed("exchange-medium-limits", 7, 2, 0, EXCHANGE);
    seed("bare-lf", 2, 0, 0, b"220 mx.example.com ESMTP\n250-mx.example.com\n250 SIZE 1000\n");
    seed("mixed-line-endings", 0x81, 0, 0, b"220 hi\r\n250-a\n250 b\r\n221 bye\n");
    seed("mismatched-codes", 4, 0, 0, b"250-mx.example.com\r\n354 oops\r\n");
    seed("tls-server-hello", 2, 0, 0, TLS_HELLO);
    seed("tls-alert", 0, 0, 0, b"\x15\x03\x01\x00\x02\x02\x46");
    seed("http-response", 5, 0, 0, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    seed("ssh-banner", 1, 0, 0, b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n");
    seed("pop3-greeting", 0, 0, 0, b"+OK Dovecot ready.\r\n");
    seed("imap-greeting", 0xc4, 0, 0, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n");
    seed("code-out-of-range", 0, 0, 0, b"220 ok\r\n199 no\r\n");
    seed("code-six-hundred", 1, 0, 0, b"600 x\r\n");
    seed("code-second-digit-nine", 2, 0, 0, b"220 ok\r\n290 x\r\n");
    seed("four-digit-code", 3, 0, 0, b"2502 x\r\n");
    seed("bare-code-line", 0, 0, 0, b"250-first\r\n250\r\n250-\r\n250 \r\n");
    seed(
        "enhanced-codes",
        6,
        0,
        0,
        b"550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in virtual mailbox table\r\n\
451 4.7.1 Greylisted, see http://postgrey.example/help.html\r\n250 2.0 not enhanced\r\n\
554 5.7.1000 not enhanced either\r\n",
    );
    // limits1 low bits 1: line length l1>>3, lines (l2&15)+1, buffer (l2>>4)*24.
    seed("line-too-long-small-limit", 0, 1 | (10 << 3), 0xff, b"220 this line is far too long\r\n");
    seed("line-too-long-partial", 1, 1 | (6 << 3), 0xff, b"220 xxxxxxxxxxxxxxxxxxxxxxxx");
    seed("too-many-lines", 0, 1 | (31 << 3), 0xf1, b"250-a\r\n250-b\r\n250 c\r\n");
    seed("buffer-full-small-buffer", 5, 1 | (31 << 3), 0x1f, b"250 one\r\n250 two\r\n250-three\r\n250 four\r\n");
    seed("unbounded-limits", 3, 4, 0, POSTFIX);
    seed("non-utf8-text", 0, 0, 0, b"220 caf\xe9 \xff\xfe\r\n250 \xc3\xa9t\xc3\xa9\r\n");
    seed("starttls-then-injection", 0, 0, 0, b"220 2.0.0 Ready to start TLS\r\n250-injected\r\n250 x\r\n");
    seed("empty", 0, 0, 0, b"");
    seed("nul-and-cr-inside", 2, 0, 0, b"220 a\0b\r\n250 a\rb\r\n250 c\r\r\n");
    seed(
        "pipelined-replies",
        0x90,
        0,
        0,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4XyZ\r\n221 2.0.0 Bye\r\n",
    );
    seed("partial-trailing-line", 7, 0, 0, b"220 mx\r\n250-mx\r\n250-SIZE 10");
    seed(
        "auth-login-challenges",
        1,
        0,
        0,
        b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n",
    );
    seed("short-lines", 1, 0, 0, b"2\r\n");
    seed("code-then-garbage-short", 1, 0, 0, b"6x\r\n");
    seed("line-length-equals-limit", 0, 3, 5, b"250 abcdef\r\n250 abcdefg\r\n");
    // Regressions (fixed in reply.rs): a cut line failed differently from the whole line.
    seed("regression-cr-after-code-then-more", 1, 6 | (3 << 3), 4, b"250\rxxxxxxxxxxxx\r\n");
    seed("regression-tiny-line-limit-bad-code", 1, 126, 0, b"600M");
}

fn reply_roundtrip() {
    // [code lo, code hi, flags, text...]; text lines split at LF; flags odd = no lines. The whole file is also
    // parsed as a raw stream.
    let seed = |name: &str, code: u16, flags: u8, text: &[u8]| {
        let mut bytes = code.to_le_bytes().to_vec();
        bytes.push(flags);
        bytes.extend_from_slice(text);
        write("reply_roundtrip", name, &bytes);
    };
    seed("ehlo-250-multiline", 250, 0, b"mx.example.com\nPIPELINING\nSIZE 10240000\nSTARTTLS\n8BITMIME");
    seed("greeting-220", 220, 0, b"mx.example.com ESMTP Postfix");
    seed("enhanced-550", 550, 0, b"5.1.1 <x@example.com>: Recipient address rejected");
    seed("enhanced-451-multiline", 451, 0, b"4.7.1 Greylisted\nplease retry in 5 minutes");
    seed("auth-334-empty", 334, 0, b"");
    seed("no-lines", 221, 1, b"");
    seed("empty-middle-lines", 250, 0, b"a\n\n\nb");
    seed("non-utf8", 554, 0, b"caf\xe9 \xff\xfe\x00");
    seed("cr-removed", 250, 0, b"a\rb\r\nc\r");
    seed("invalid-code-599", 599, 0, b"x");
    seed("invalid-code-199", 199, 0, b"x");
    seed("invalid-code-600", 600, 0, b"x");
    seed("invalid-code-099", 99, 0, b"x");
    seed("long-line", 250, 0, &[b'x'; 600]);
    seed("many-lines", 250, 0, &b"AUTH\n".repeat(40));
    // Raw streams: the first bytes double as a code.
    write("reply_roundtrip", "raw-postfix", POSTFIX);
    write("reply_roundtrip", "raw-exim", EXIM);
    write("reply_roundtrip", "raw-gmail", GMAIL);
    write("reply_roundtrip", "raw-bare-lf", b"220 mx ESMTP\n250-mx\n250 SIZE 1000\n");
    write("reply_roundtrip", "raw-bare-code-lines", b"250-first\r\n250\r\n354\n");
    write("reply_roundtrip", "raw-cr-in-text", b"250 a\rb\r\n250 c\r\r\n250 \r\n");
    write("reply_roundtrip", "raw-enhanced", b"550 5.7.1 Relaying denied\r\n250 2.0.0 Ok\r\n");
    write("reply_roundtrip", "raw-non-utf8", b"220 \xe9\xff\r\n250-\x00\r\n250 \x80\n");
}

/// A header with roomy timeouts: overall 10 s, phases 2 s, QUIT 500 ms, default limits.
fn header(h0: u8, h1: u8) -> [u8; SESSION_HEADER] {
    [h0, h1, 249, 99, 99, 99, 99, 50, 0, 0, 0]
}

// h0: TLS mode in bits 0-1 (0 none, 1 opportunistic, 2 required, 3 implicit), 4 AUTH, 8 envelope, 0x10 test
// message, 0x20 no transcript, 0x40 plaintext AUTH allowed, 0x80 late wake-ups.
const NONE: u8 = 0;
const OPPORTUNISTIC: u8 = 1;
const REQUIRED: u8 = 2;
const IMPLICIT: u8 = 3;
const AUTH: u8 = 4;
const ENVELOPE: u8 = 8;
const MESSAGE: u8 = 0x10;
const LATE: u8 = 0x80;

// Canned replies by index (see `CANNED`).
const GREETING: u8 = 0;
const EHLO_FULL: u8 = 1;
const OK: u8 = 2;
const TLS_READY: u8 = 3;
const AUTH_EMPTY: u8 = 4;
const AUTH_USER: u8 = 5;
const AUTH_PASS: u8 = 6;
const AUTH_OK: u8 = 7;
const DATA_GO: u8 = 8;
const BYE: u8 = 9;
const BUSY_421: u8 = 10;
const RCPT_550: u8 = 11;
const UNKNOWN_502: u8 = 12;
const AUTH_535: u8 = 13;
const EHLO_NO_TLS: u8 = 14;
const BLOCKED_554: u8 = 15;
const FORWARD_251: u8 = 16;
const HELO_OK: u8 = 17;
const LATER_451: u8 = 18;
const EHLO_TLS_SMALL: u8 = 19;
const EXIM_GREETING: u8 = 20;

fn probe_session() {
    use Action::*;
    let seed = |name: &str, header: [u8; SESSION_HEADER], actions: &[Action]| {
        write("probe_session", name, &encode_session(header, actions));
    };
    let c = Canned;
    seed("plain-up", header(NONE, 0), &[c(GREETING), c(EHLO_NO_TLS), c(BYE)]);
    seed(
        "opportunistic-starttls-up",
        header(OPPORTUNISTIC, 0x10),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(0x80 | 2), c(EHLO_FULL), c(BYE)],
    );
    seed(
        "required-auth-plain-rset",
        header(REQUIRED | AUTH | ENVELOPE, 0),
        &[
            c(GREETING),
            c(EHLO_FULL),
            c(TLS_READY),
            TlsOk(0xf8 | 4),
            c(EHLO_FULL),
            c(AUTH_OK),
            c(OK),
            c(OK),
            c(OK),
            c(BYE),
        ],
    );
    seed(
        "required-auth-login-message",
        header(REQUIRED | AUTH | ENVELOPE | MESSAGE, 0x03 | 0x08),
        &[
            c(EXIM_GREETING),
            c(EHLO_FULL),
            c(TLS_READY),
            TlsOk(0x60 | 2),
            c(EHLO_FULL),
            c(AUTH_USER),
            c(AUTH_PASS),
            c(AUTH_OK),
            c(OK),
            c(OK),
            c(FORWARD_251),
            c(OK),
            c(DATA_GO),
            c(OK),
            c(BYE),
        ],
    );
    seed(
        "plain-auth-plain-empty-challenge",
        header(NONE | AUTH | 0x40, 0x02),
        &[c(GREETING), c(EHLO_NO_TLS), c(AUTH_EMPTY), c(AUTH_OK), c(BYE)],
    );
    seed("implicit-up", header(IMPLICIT, 0), &[TlsOk(2), c(GREETING), c(EHLO_NO_TLS), c(BYE)]);
    seed("implicit-handshake-fails", header(IMPLICIT | AUTH, 0), &[Advance(300), TlsFail(1)]);
    seed("implicit-certificate-expired", header(IMPLICIT, 0), &[TlsFail(0)]);
    seed("required-but-not-offered", header(REQUIRED, 0), &[c(GREETING), c(EHLO_NO_TLS), c(BYE)]);
    seed("greeting-timeout", [0, 0, 20, 10, 10, 10, 10, 0, 0, 0, 0], &[Send(b"220-mx.fuzz.test\r\n".to_vec())]);
    seed("greeting-554", header(OPPORTUNISTIC, 0), &[c(BLOCKED_554), c(BYE)]);
    seed("greeting-421-then-close", header(OPPORTUNISTIC, 0), &[c(BUSY_421), Eof]);
    seed("ehlo-502-helo", header(OPPORTUNISTIC, 0), &[c(GREETING), c(UNKNOWN_502), c(HELO_OK), c(BYE)]);
    seed(
        "bare-lf-session",
        header(OPPORTUNISTIC, 0),
        &[CannedBareLf(GREETING), CannedBareLf(EHLO_NO_TLS), CannedBareLf(BYE)],
    );
    seed(
        "starttls-response-injection",
        header(OPPORTUNISTIC, 0),
        &[c(GREETING), c(EHLO_FULL), Send(b"220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n".to_vec()), TlsOk(0)],
    );
    seed(
        "plaintext-during-handshake",
        header(OPPORTUNISTIC, 0),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), Send(b"250 sneaky\r\n".to_vec()), TlsOk(0)],
    );
    seed("tls-port-spoken-plain", header(NONE, 0), &[Send(TLS_HELLO.to_vec())]);
    seed(
        "slow-server-thresholds",
        header(NONE, 0x40),
        &[Advance(150), c(GREETING), Advance(400), c(EHLO_NO_TLS), Advance(600), c(BYE)],
    );
    seed(
        "late-wakeups",
        [LATE | OPPORTUNISTIC, 0, 20, 10, 10, 10, 10, 5, 0, 0, 0],
        &[Advance(700), c(GREETING), Advance(4000), c(EHLO_FULL), c(TLS_READY), Advance(3000), TlsOk(0)],
    );
    seed(
        "unbounded-limits",
        [OPPORTUNISTIC, 0, 249, 99, 99, 99, 99, 50, 255, 0, 0],
        &[c(GREETING), Send(b"250-mx\r\n250-SIZE 1".to_vec()), Send(b"000\r\n250 8BITMIME\r\n".to_vec()), c(BYE)],
    );
    seed("tiny-limits-big-ehlo", [OPPORTUNISTIC, 0, 249, 99, 99, 99, 99, 50, 2, 1, 0], &[c(GREETING), c(EHLO_FULL)]);
    seed("eof-mid-reply", header(NONE, 0), &[c(GREETING), Send(b"250-mx.fuzz.test\r\n250-SIZ".to_vec()), Eof]);
    // h7 = 0: the shortest QUIT timeout a configuration accepts (1 ms).
    seed("quit-timeout-zero", [NONE, 0, 249, 99, 99, 99, 99, 0, 0, 0, 0], &[c(GREETING), c(HELO_OK)]);
    seed(
        "certificate-expiring",
        header(REQUIRED, 0x80),
        &[c(GREETING), c(EHLO_TLS_SMALL), c(TLS_READY), TlsOk(6 | (10 << 3)), c(EHLO_TLS_SMALL), c(BYE)],
    );
    seed(
        "recipient-rejected",
        header(NONE | ENVELOPE, 0x08),
        &[c(GREETING), c(EHLO_NO_TLS), c(OK), c(OK), c(RCPT_550), c(BYE)],
    );
    seed("mail-from-451", header(NONE | ENVELOPE, 0), &[c(GREETING), c(EHLO_NO_TLS), c(LATER_451), c(BYE)]);
    seed(
        "auth-535",
        header(OPPORTUNISTIC | AUTH, 0x01),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(2), c(EHLO_FULL), c(AUTH_USER), c(AUTH_535), c(BYE)],
    );
    seed("auth-without-tls-refused", header(OPPORTUNISTIC | AUTH, 0), &[c(GREETING), c(EHLO_NO_TLS), c(BYE)]);
    seed("stray-tls-result", header(NONE, 0), &[TlsOk(0), c(GREETING), TlsFail(2), c(EHLO_NO_TLS), c(BYE)]);
    seed(
        "ip-target-with-expectations",
        [OPPORTUNISTIC, 0x30, 249, 99, 99, 99, 99, 50, 0, 0, 5],
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(2), c(EHLO_FULL), c(BYE)],
    );
    // Trust: credentials only over TLS whose certificate verified, unless an override says otherwise (h10 bit 3
    // inspect-only); a published policy (h10 bits 4-5) judges the handshake by its mode.
    let with_h10 = |h0: u8, h1: u8, h10: u8| {
        let mut h = header(h0, h1);
        h[10] = h10;
        h
    };
    let unverified = 1 | 2; // an untrusted issuer, one certificate
    seed(
        "auth-over-unverified-tls-withheld",
        header(OPPORTUNISTIC | AUTH, 0),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(unverified), c(EHLO_FULL), c(BYE)],
    );
    seed(
        "auth-over-unverified-tls-inspect-only",
        with_h10(OPPORTUNISTIC | AUTH, 0, 8),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(unverified), c(EHLO_FULL), c(AUTH_OK), c(BYE)],
    );
    seed(
        "auth-over-unverified-tls-plaintext-allowed",
        header(OPPORTUNISTIC | AUTH | 0x40, 0),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(unverified), c(EHLO_FULL), c(AUTH_OK), c(BYE)],
    );
    seed(
        "policy-satisfied-unverified-required",
        with_h10(REQUIRED, 0, 0x10),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(unverified), c(EHLO_FULL), c(BYE)],
    );
    seed(
        "policy-enforce-fails",
        with_h10(OPPORTUNISTIC, 0, 0x20),
        &[c(GREETING), c(EHLO_FULL), c(TLS_READY), TlsOk(2), c(EHLO_FULL), c(BYE)],
    );
    seed("policy-testing-fails", with_h10(IMPLICIT, 0, 0x30), &[TlsOk(4), c(GREETING), c(EHLO_NO_TLS), c(BYE)]);
    // A server that echoes the PLAIN response, and the password, back: redacted in the report.
    seed(
        "auth-payload-echoed",
        header(OPPORTUNISTIC | AUTH, 0x02),
        &[
            c(GREETING),
            c(EHLO_FULL),
            c(TLS_READY),
            TlsOk(2),
            c(EHLO_FULL),
            Send(b"535-5.7.8 bad AGZ1enotdXNlcgBQYTU1LWZ1enotc2VjcmV0\r\n535 5.7.8 (Pa55-fuzz-secret)\r\n".to_vec()),
            c(BYE),
        ],
    );
    // Regression (fixed in probe.rs): the EHLO answered with garbage was missing from the steps.
    seed("garbage-reply-to-ehlo", header(NONE, 0), &[c(GREETING), Send(b"hello\r\n".to_vec())]);
    let mut pipelined = Vec::new();
    for i in [GREETING, EHLO_NO_TLS, OK, OK, OK, BYE] {
        pipelined.extend_from_slice(checks_canned(i));
    }
    seed("everything-in-one-segment", header(NONE | ENVELOPE, 0), &[Send(pipelined.clone())]);
    let bytewise: Vec<Action> = pipelined.chunks(3).map(|c| Send(c.to_vec())).collect();
    seed("three-bytes-at-a-time", header(NONE | ENVELOPE | 0x20, 0), &bytewise);
}

fn checks_canned(i: u8) -> &'static [u8] {
    CANNED[usize::from(i)].as_bytes()
}

fn mta_sts() {
    let seed = |name: &str, bytes: &[u8]| write("mta_sts", name, bytes);
    seed("record-rfc-example", b"v=STSv1; id=20160831085700Z;");
    seed("record-extension", b"v=STSv1;id=abc123; ext.name-1=value:with/chars");
    seed("record-spaces-around-equals", b"v=STSv1; id = 1");
    seed("record-id-too-long", b"v=STSv1; id=012345678901234567890123456789012");
    seed("rrset-two-records", b"v=STSv1; id=1\0v=STSv1; id=2\0v=spf1 -all");
    seed("rrset-one-among-others", b"google-site-verification=abc\0v=STSv1; id=7");
    seed(
        "policy-rfc-example",
        b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
    );
    seed("policy-crlf-testing", b"version: STSv1\r\nmode: testing\r\nmx: *.mail.test\r\nmax_age: 86400\r\n");
    seed("policy-none-no-mx", b"version: STSv1\nmode: none\nmax_age: 3600\n");
    seed("policy-max-age-too-large", b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n");
    seed(
        "policy-repeated-and-unknown",
        b"version: STSv1\nmode: enforce\nmode: none\nfoo_bar: x y z \nmx: a.test\nmax_age: 1\n",
    );
    seed("policy-html-error-page", b"<html><head><title>404 Not Found</title></head></html>\n");
    seed("policy-bad-mx", b"version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 86400\n");
    seed(
        "patterns-and-hosts",
        b"*.example.com\nmx.example.com\na.b.example.com\nexample.com\nMX.EXAMPLE.COM.\n.example.com\n",
    );
}

fn tlsa() {
    use smtp_probe_proto::policy::tlsa::association;
    use smtp_probe_proto::testing::fuzz::tlsa::{TlsaInput, encode_tlsa};

    let seed = |name: &str, bytes: &[u8]| write("tlsa", name, bytes);
    let mut rdata = vec![3, 1, 1];
    rdata.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    seed("rdata-3-1-1", &rdata);
    seed("presentation-2-0-1", b"2 0 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    seed("presentation-bad-hex", b"3 1 1 e3b0c44298fc1c149afbf4c8996fb9242");

    // A test CA and a server certificate for mx1.mail.test, and records for them. rcgen signs with fresh
    // randomness, so these seeds differ on every run of this generator; what they exercise does not.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "fuzz CA");
    ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let mut leaf_params = rcgen::CertificateParams::new(vec!["mx1.mail.test".to_owned()]).expect("params");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = rcgen::date_time_ymd(2025, 6, 1);
    leaf_params.not_after = rcgen::date_time_ymd(2027, 1, 1);
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
    let record = |usage: u8, selector: u8, matching: u8, der: &[u8]| {
        let mut r = vec![usage, selector, matching];
        r.extend(association(der, selector.into(), matching.into()).expect("association"));
        r
    };
    let chain = vec![leaf.der().to_vec(), ca.der().to_vec()];
    let base = TlsaInput {
        records: vec![record(3, 1, 1, leaf.der()), record(2, 0, 1, ca.der()), record(1, 1, 1, leaf.der())],
        chain: chain.clone(),
        names: vec!["mx1.mail.test".into(), "mail.test".into()],
        now: 1_780_272_000, // 2026-06-01
    };
    seed("chain-dane-ee-and-ta-match", &encode_tlsa(&base));
    let ta_only = TlsaInput { records: vec![record(2, 1, 2, ca.der())], ..base.clone() };
    seed("chain-dane-ta-spki-sha512", &encode_tlsa(&ta_only));
    let wrong_name = TlsaInput { names: vec!["mx2.mail.test".into()], ..ta_only.clone() };
    seed("chain-dane-ta-wrong-name", &encode_tlsa(&wrong_name));
    let expired = TlsaInput { now: 1_830_000_000, ..ta_only.clone() };
    seed("chain-dane-ta-expired-leaf", &encode_tlsa(&expired));
    let mismatch = TlsaInput { records: vec![record(3, 1, 1, ca.der())], ..base.clone() };
    seed("chain-dane-ee-mismatch", &encode_tlsa(&mismatch));
    let leaf_only = TlsaInput { chain: vec![chain[0].clone()], ..base.clone() };
    seed("chain-leaf-only", &encode_tlsa(&leaf_only));
    let garbage = TlsaInput { chain: vec![b"\x30\x82\x01".to_vec(), vec![0xff; 40]], ..base };
    seed("chain-garbage-der", &encode_tlsa(&garbage));
}

fn spf() {
    let seed = |name: &str, flags: u8, records: &[&str]| {
        let mut bytes = vec![flags];
        bytes.extend_from_slice(records.join("\n").as_bytes());
        write("spf", name, &bytes);
    };
    seed("include-mx-a", 0, &["v=spf1 include:n1.t mx a -all", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"]);
    seed("sender-v4-pass", 1, &["v=spf1 include:n1.t -all", "v=spf1 ip4:192.0.2.0/24 ~all"]);
    seed("sender-v6-a-cidr", 2, &["v=spf1 a:n6.t//64 mx/24//48 -all"]);
    seed(
        "eleven-lookups",
        0,
        &[
            "v=spf1 include:n1.t include:n2.t include:n3.t -all",
            "v=spf1 a mx a:n4.t ~all",
            "v=spf1 a:n2.t a:n4.t exists:n6.t ~all",
            "v=spf1 include:n4.t a:n8.t ~all",
            "v=spf1 a:n2.t ?all",
        ],
    );
    seed("loop-through-redirect", 0, &["v=spf1 include:n1.t -all", "v=spf1 redirect=n0.t"]);
    seed("macros-with-sender", 1, &["v=spf1 ptr exists:%{ir}.%{v}._spf.%{d2} include:%{l}.n1.t -all", "v=spf1 -all"]);
    seed("macros-without-sender", 0, &["v=spf1 exists:%{i}.n0.t include:%{d1r}.n1.t redirect=%{o}", ""]);
    seed("void-lookups", 0, &["v=spf1 a:n1.t mx:n4.t a:n7.t exists:n9.t -all"]);
    seed("mx-too-many-names", 1, &["v=spf1 mx:n3.t -all"]);
    seed("include-servfail", 0, &["v=spf1 include:n1.t -all", "#fail"]);
    seed("include-nodata", 0, &["v=spf1 include:n1.t -all", "#nodata"]);
    seed("include-two-records", 0, &["v=spf1 include:n1.t -all", "#2 v=spf1 -all"]);
    seed("syntax-errors", 0, &["v=spf1 ip4:300.1.1.1 include -all", "v=spf1 a/33"]);
    seed("pass-all-and-unknown-modifier", 3, &["v=spf1 +all moo=cow exp=explain.n0.t"]);
    seed(
        "tiny-query-bound",
        4,
        &[
            "v=spf1 include:n1.t include:n2.t include:n3.t -all",
            "v=spf1 a ~all",
            "v=spf1 mx ~all",
            "v=spf1 a:n5.t ~all",
        ],
    );
    seed("tiny-count-bound", 8, &[&format!("v=spf1{} -all", " include:n1.t".repeat(20)), "v=spf1 a:n2.t ~all"]);
    seed(
        "tiny-depth-bound",
        12,
        &["v=spf1 include:n1.t -all", "v=spf1 include:n2.t -all", "v=spf1 include:n3.t -all", "v=spf1 -all"],
    );
    seed("no-record", 0, &["not spf at all"]);
    seed("softfail-foreign-sender", 1, &["v=spf1 ip4:198.51.100.0/24 ~all"]);
}

fn dmarc() {
    let seed = |name: &str, bytes: &[u8]| write("dmarc", name, bytes);
    seed("rfc-none-rua", b"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
    seed(
        "rfc-quarantine-pct",
        b"v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; pct=25",
    );
    seed("reject-everything", b"v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; fo=1:d:s; rf=afrf; ri=3600; ruf=mailto:f@example.com!500k");
    seed("spaces-and-case", b"v = DMARC1 ; P = Reject ; RUA = mailto:a@example.com ;");
    seed(
        "invalid-values-ignored",
        b"v=DMARC1; p=reject; pct=150; adkim=x; fo=9; ri=-1; rua=mailto:ok@example.com,nope",
    );
    seed("no-policy-but-rua", b"v=DMARC1; p=block; rua=mailto:a@example.com");
    seed("no-policy", b"v=DMARC1; sp=none");
    seed("duplicate-tag", b"v=DMARC1; p=none; p=reject");
    seed("rrset-two", b"v=DMARC1; p=none\0v=DMARC1; p=reject\0other");
    seed("rrset-one", b"v=spf1 -all\0v=DMARC1; p=reject");
    seed("size-suffix-overflow", b"v=DMARC1; p=none; rua=mailto:a@example.com!99999999999999999999t");
}

fn tlsrpt() {
    let seed = |name: &str, bytes: &[u8]| write("tlsrpt", name, bytes);
    seed("rfc-mailto", b"v=TLSRPTv1;rua=mailto:reports@example.com");
    seed("rfc-https", b"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt");
    seed("both-and-extension", b"v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com:8443/x?y=1; ext=1;");
    seed("ipv6-literal-host", b"v=TLSRPTv1; rua=https://[2001:db8::1]/r");
    seed("no-rua", b"v=TLSRPTv1");
    seed("bad-uri", b"v=TLSRPTv1; rua=reports@example.com");
    seed("spaces-around-equals", b"v=TLSRPTv1; rua = mailto:a@example.com");
    seed("rrset-two", b"v=TLSRPTv1; rua=mailto:a@example.com\0v=TLSRPTv1; rua=mailto:b@example.com");
    seed("rrset-prefix-only", b"v=TLSRPTv10; rua=mailto:a@example.com\0v=TLSRPTv1;rua=mailto:b@example.com");
    seed("other-scheme", b"v=TLSRPTv1; rua=ftp://example.com/x");
}

fn imap_parser() {
    // [chunk, limits, stream...]: chunk 0 whole, else pieces of that size; limits 0 defaults, 1/5/9… small, 2 tiny,
    // 3 large.
    let seed = |name: &str, chunk: u8, limits: u8, stream: &[u8]| {
        let mut bytes = vec![chunk, limits];
        bytes.extend_from_slice(stream);
        write("imap_parser", name, &bytes);
    };
    let session = imap_session::seed_session(false).concat();
    seed("dovecot-session-whole", 0, 0, &session);
    seed("dovecot-session-bytewise", 1, 0, &session);
    seed("dovecot-session-7", 7, 0, &session);
    seed("dovecot-session-tiny-limits", 5, 2, &session);
    seed("dovecot-session-small-limits", 3, 0xf9, &session);
    seed("junk-session", 13, 3, &imap_session::seed_session(true).concat());
    seed("greeting-preauth", 0, 0, b"* PREAUTH [CAPABILITY IMAP4rev1] welcome back\r\n");
    seed("greeting-bye", 0, 0, b"* BYE [UNAVAILABLE] too many connections\r\n");
    seed("smtp-not-imap", 0, 0, b"220 mx.example.org ESMTP\r\n");
    seed("tls-record", 0, 0, b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
    seed("literal-plus-and-braces", 2, 0, b"* 1 FETCH (BODY[HEADER] {9+}\r\nx {3}\r\n\r\n UID 4)\r\na1 OK\r\n");
    seed("literal-too-large", 0, 2, b"* 1 FETCH (BODY[] {100000}\r\n");
    seed("literal-huge-number", 0, 0, b"* 1 FETCH (BODY[] {999999999999999999999999}\r\n");
    seed(
        "endless-line",
        4,
        2,
        &[b'*', b' ', b'O', b'K', b' '].iter().copied().chain(std::iter::repeat_n(b'a', 400)).collect::<Vec<u8>>(),
    );
    seed("untagged-flood", 16, 2, &b"* 1 EXISTS\r\n".repeat(20));
    seed("search-modseq", 0, 0, b"* SEARCH 1 2 3 (MODSEQ 917162500)\r\na1 OK\r\n");
    seed("continuation", 0, 0, b"+ \r\n+ VXNlcm5hbWU6\r\na1 NO [AUTHENTICATIONFAILED] no\r\n");
    seed("select-response", 3, 0, b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Flags permitted.\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 4] next\r\na3 OK [READ-WRITE] Select completed.\r\n");
    seed("other-untagged", 0, 0, b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n* STATUS Junk (MESSAGES 3)\r\n* ID (\"name\" \"Dovecot\")\r\n* ENABLED CONDSTORE\r\n");
    seed("malformed-after-greeting", 0, 0, b"* OK hi\r\n* 1 FETCH UID\r\n");
    seed("nested-lists", 0, 0, b"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 3 1)(\"text\" \"html\" NIL NIL NIL \"7bit\" 5 1) \"alternative\"))\r\n");
}

fn imap_session() {
    // [flags, seed, stream...]: see smtp_probe_proto::testing::fuzz::imap_session::check.
    let seed = |name: &str, flags: u8, rng: u8, stream: &[u8]| {
        let mut bytes = vec![flags, rng];
        bytes.extend_from_slice(stream);
        write("imap_session", name, &bytes);
    };
    // Segments separated by NUL: the greeting, then one answer per command.
    let session = imap_session::seed_session(false).join(&0);
    let junk = imap_session::seed_session(true).join(&0);
    seed("found-in-inbox", 0, 1, &session);
    seed("found-in-inbox-pieces", 0, 77, &session);
    seed("found-in-junk", 1, 3, &junk);
    seed("found-no-transcript", 0x80, 5, &session);
    seed("small-limits", 4, 9, &session);
    seed("closed-midway", 8, 11, &session[..session.len() / 2]);
    seed("wrong-password", 0, 21, b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n\0a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n\0* BYE\r\na2 OK\r\n");
    seed("abandoned", 0x40, 13, &session);
    seed("silent-after-greeting", 0, 0, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
    seed("greeting-bye", 0, 0, b"* BYE no\r\n");
    seed(
        "login-refused",
        2,
        0,
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n\0a1 NO [AUTHENTICATIONFAILED] no\r\n\0* BYE\r\na2 OK\r\n",
    );
    seed("logindisabled", 0, 0, b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n\0* BYE\r\na1 OK\r\n");
    seed("plain-with-continuation", 0, 2, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n\0+ \r\n\0a1 OK Logged in\r\n\0* CAPABILITY IMAP4rev1 UIDPLUS\r\na2 OK\r\n\0a3 OK [READ-WRITE] x\r\n");
    seed("starttls-verified", 0x10, 4, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n\0a1 OK go\r\n\0* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\na2 OK\r\n\0a3 OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n\0a4 OK [READ-WRITE] x\r\n");
    seed("starttls-unverified", 0x30, 4, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n\0a1 OK go\r\n\0* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\na2 OK\r\n\0a3 OK bye\r\n");
    seed(
        "starttls-injection",
        0x10,
        0,
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n\0a1 OK go\r\n* OK injected\r\n",
    );
    let mut wrong = session.clone();
    let at = wrong.windows(18).position(|w| w == b"X-Smtp-Probe-Token").unwrap();
    wrong[at] = b'Y';
    seed("search-hit-without-token", 0, 6, &wrong);
}

fn main() {
    reply_parser();
    reply_roundtrip();
    probe_session();
    mta_sts();
    tlsa();
    spf();
    dmarc();
    tlsrpt();
    imap_parser();
    imap_session();
}
