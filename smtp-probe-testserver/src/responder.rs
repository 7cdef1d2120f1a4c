//! Responsive mode: a small, realistic ESMTP server (Postfix-like replies).
//!
//! Commands are answered strictly in order, one reply per command, so
//! pipelining clients work. Defaults (change them with the builder methods):
//!
//! | setting | default |
//! | --- | --- |
//! | hostname | `mx.test` |
//! | greeting | `220 <hostname> ESMTP smtp-probe test server` |
//! | EHLO keywords | `PIPELINING`, `SIZE 10240000`, `STARTTLS`, `ENHANCEDSTATUSCODES`, `8BITMIME`, `SMTPUTF8`, `AUTH PLAIN LOGIN` |
//! | accepted domains | `mx.test`, `example.test` |
//! | mailboxes | `postmaster`, `probe`, `test`, `user` (`postmaster` is always accepted) |
//! | users | none |
//!
//! `STARTTLS` is only advertised (and only works) when a certificate is set
//! and the session is not in TLS yet; `AUTH ...` keywords only inside TLS
//! unless [`auth_before_tls`](Responder::auth_before_tls).
//!
//! ```
//! use smtp_probe_testserver::{Responder, certs::TestPki};
//!
//! let pki = TestPki::new()?;
//! let server = Responder::new()
//!     .cert(&pki.default_cert()?)
//!     .user("alice", "secret")
//!     .require_tls_for_mail(true)
//!     .start()?;
//! # drop(server);
//! # Ok::<(), smtp_probe_testserver::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::Error;
use crate::certs::TestCert;
use crate::conn::Conn;
use crate::server::{ReceivedMessage, ServerBuilder, TestServer};

const MAX_RECIPIENTS: usize = 100;

/// Configuration of the responsive ESMTP server. Cheap to clone; build with
/// the chained methods, then [`start`](Self::start) it or hand it to
/// [`ServerBuilder`].
#[derive(Clone, Debug)]
pub struct Responder {
    hostname: String,
    greeting: Option<String>,
    ehlo_keywords: Vec<String>,
    cert: Option<TestCert>,
    implicit_tls: bool,
    users: BTreeMap<String, String>,
    auth_before_tls: bool,
    require_tls_for_mail: bool,
    require_auth_for_mail: bool,
    accepted_domains: BTreeSet<String>,
    mailboxes: BTreeSet<String>,
    greylist: bool,
    helo_only: bool,
    reply_delay: Duration,
    greeting_delay: Duration,
    max_message_size: usize,
}

impl Default for Responder {
    fn default() -> Self {
        Responder {
            hostname: "mx.test".into(),
            greeting: None,
            ehlo_keywords: [
                "PIPELINING",
                "SIZE 10240000",
                "STARTTLS",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "SMTPUTF8",
                "AUTH PLAIN LOGIN",
            ]
            .map(String::from)
            .to_vec(),
            cert: None,
            implicit_tls: false,
            users: BTreeMap::new(),
            auth_before_tls: false,
            require_tls_for_mail: false,
            require_auth_for_mail: false,
            accepted_domains: ["mx.test", "example.test"].map(String::from).into(),
            mailboxes: ["postmaster", "probe", "test", "user"].map(String::from).into(),
            greylist: false,
            helo_only: false,
            reply_delay: Duration::ZERO,
            greeting_delay: Duration::ZERO,
            max_message_size: 10_240_000,
        }
    }
}

impl Responder {
    /// The default configuration (see the module docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Host name used in the default greeting, the first EHLO line and HELO reply.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// The whole greeting reply, code included; lines separated by `\n` are
    /// each sent with CRLF, verbatim (so write `220-a\n220 b` for multi-line).
    /// A greeting not starting with `2` makes the server answer everything but
    /// QUIT with `503 5.5.1 Error: no service`, as RFC 5321 §3.1 requires.
    pub fn greeting(mut self, greeting: impl Into<String>) -> Self {
        self.greeting = Some(greeting.into());
        self
    }

    /// Replaces the EHLO keyword lines (after the hostname line). A `STARTTLS`
    /// entry is shown only when STARTTLS is possible, entries starting with
    /// `AUTH` only when AUTH is allowed (see the module docs).
    pub fn ehlo_keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ehlo_keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Certificate for STARTTLS (and implicit TLS).
    pub fn cert(mut self, cert: &TestCert) -> Self {
        self.cert = Some(cert.clone());
        self
    }

    /// Implicit TLS (SMTPS): handshake before the greeting. Needs [`cert`](Self::cert).
    pub fn implicit_tls(mut self, on: bool) -> Self {
        self.implicit_tls = on;
        self
    }

    /// Adds a user for AUTH PLAIN / AUTH LOGIN.
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }

    /// Allow (and advertise) AUTH outside TLS. Default false.
    pub fn auth_before_tls(mut self, on: bool) -> Self {
        self.auth_before_tls = on;
        self
    }

    /// Answer MAIL/RCPT outside TLS with `530 5.7.0 Must issue a STARTTLS command first`.
    pub fn require_tls_for_mail(mut self, on: bool) -> Self {
        self.require_tls_for_mail = on;
        self
    }

    /// Answer MAIL without prior AUTH with `530 5.7.0 Authentication required`
    /// (a submission server).
    pub fn require_auth_for_mail(mut self, on: bool) -> Self {
        self.require_auth_for_mail = on;
        self
    }

    /// Replaces the domains whose recipients are delivered locally (case-insensitive).
    pub fn accepted_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.accepted_domains = domains.into_iter().map(|d| d.into().to_ascii_lowercase()).collect();
        self
    }

    /// Replaces the known local parts (case-insensitive). Recipients in an
    /// accepted domain with another local part get `550 5.1.1 ... User unknown`.
    pub fn mailboxes<I, S>(mut self, local_parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mailboxes = local_parts.into_iter().map(|d| d.into().to_ascii_lowercase()).collect();
        self
    }

    /// Adds a known local part.
    pub fn mailbox(mut self, local_part: impl Into<String>) -> Self {
        self.mailboxes.insert(local_part.into().to_ascii_lowercase());
        self
    }

    /// Answer every otherwise acceptable RCPT with `450 4.7.1 ... Greylisted`.
    pub fn greylist(mut self, on: bool) -> Self {
        self.greylist = on;
        self
    }

    /// Act as an RFC 821 server: EHLO gets `502 5.5.2 Error: command not recognized`.
    pub fn helo_only(mut self, on: bool) -> Self {
        self.helo_only = on;
        self
    }

    /// Wait this long before every reply, the greeting included.
    pub fn reply_delay(mut self, delay: Duration) -> Self {
        self.reply_delay = delay;
        self
    }

    /// Wait this long (in addition to the reply delay) before the greeting.
    pub fn greeting_delay(mut self, delay: Duration) -> Self {
        self.greeting_delay = delay;
        self
    }

    /// Largest accepted message, enforced on `MAIL ... SIZE=` and after DATA.
    /// Also rewrites a `SIZE ...` EHLO keyword. Default 10240000.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        for kw in &mut self.ehlo_keywords {
            if kw.eq_ignore_ascii_case("SIZE") || kw.to_ascii_uppercase().starts_with("SIZE ") {
                *kw = format!("SIZE {bytes}");
            }
        }
        self
    }

    /// Starts a server on `127.0.0.1:0` with this configuration.
    pub fn start(self) -> Result<TestServer, Error> {
        ServerBuilder::new(self).start()
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.implicit_tls && self.cert.is_none() {
            return Err(Error::Config("implicit TLS needs a certificate (Responder::cert)".into()));
        }
        Ok(())
    }

    fn greeting_text(&self) -> String {
        self.greeting.clone().unwrap_or_else(|| format!("220 {} ESMTP smtp-probe test server", self.hostname))
    }
}

/// Formats a reply; `lines` are the texts after the code.
fn multiline(code: u16, lines: &[String]) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{line}\r\n"));
    }
    out
}

#[derive(Default)]
struct Session {
    helo: Option<String>,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
}

impl Session {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }
}

enum Next {
    Continue,
    Quit,
    /// The connection is unusable (failed TLS handshake, EOF inside a command).
    Drop,
}

struct Ctx<'a> {
    conn: Conn,
    cfg: &'a Responder,
    s: Session,
}

impl Ctx<'_> {
    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        if !self.cfg.reply_delay.is_zero() {
            tokio::time::sleep(self.cfg.reply_delay).await;
        }
        let mut out = text.to_owned();
        if !out.ends_with("\r\n") {
            out.push_str("\r\n");
        }
        self.conn.send(out.as_bytes()).await
    }

    fn auth_allowed(&self) -> bool {
        self.conn.is_tls() || self.cfg.auth_before_tls
    }

    fn starttls_possible(&self) -> bool {
        self.cfg.cert.is_some() && !self.conn.is_tls()
    }
}

pub(crate) async fn run(mut conn: Conn, cfg: &Responder) {
    if cfg.implicit_tls {
        let Some(cert) = &cfg.cert else { return };
        if conn.start_tls(cert.server_config()).await.is_err() {
            return;
        }
    }
    let mut ctx = Ctx { conn, cfg, s: Session::default() };
    match session(&mut ctx).await {
        Ok(Next::Quit | Next::Continue) => ctx.conn.close().await,
        Ok(Next::Drop) => {}
        Err(e) => {
            // Client vanished, reset, sent an oversized line...: just record it.
            ctx.conn.rec.error(format!("I/O error: {e}"));
        }
    }
}

async fn session(ctx: &mut Ctx<'_>) -> std::io::Result<Next> {
    if !ctx.cfg.greeting_delay.is_zero() {
        tokio::time::sleep(ctx.cfg.greeting_delay).await;
    }
    let greeting = ctx.cfg.greeting_text();
    let no_service = !greeting.starts_with('2');
    let greeting = greeting.lines().map(|l| format!("{l}\r\n")).collect::<String>();
    ctx.reply(&greeting).await?;
    loop {
        let Some(line) = ctx.conn.read_line().await? else {
            return Ok(Next::Continue);
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, args) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        if no_service && verb != "QUIT" {
            ctx.reply("503 5.5.1 Error: no service").await?;
            continue;
        }
        match command(ctx, &verb, args).await? {
            Next::Continue => {}
            other => return Ok(other),
        }
    }
}

async fn command(ctx: &mut Ctx<'_>, verb: &str, args: &str) -> std::io::Result<Next> {
    match verb {
        "EHLO" if ctx.cfg.helo_only => ctx.reply("502 5.5.2 Error: command not recognized").await?,
        "EHLO" | "HELO" if args.is_empty() => {
            ctx.reply(&format!("501 5.5.4 Syntax: {verb} hostname")).await?;
        }
        "EHLO" => {
            ctx.s.reset_transaction();
            ctx.s.helo = Some(args.to_owned());
            let mut lines = vec![ctx.cfg.hostname.clone()];
            for kw in &ctx.cfg.ehlo_keywords {
                let upper = kw.to_ascii_uppercase();
                if upper == "STARTTLS" && !ctx.starttls_possible() {
                    continue;
                }
                if upper.starts_with("AUTH") && !ctx.auth_allowed() {
                    continue;
                }
                lines.push(kw.clone());
            }
            ctx.reply(&multiline(250, &lines)).await?;
        }
        "HELO" => {
            ctx.s.reset_transaction();
            ctx.s.helo = Some(args.to_owned());
            let reply = format!("250 {}", ctx.cfg.hostname);
            ctx.reply(&reply).await?;
        }
        "STARTTLS" => return starttls(ctx, args).await,
        "AUTH" => return auth(ctx, args).await,
        "MAIL" => mail(ctx, args).await?,
        "RCPT" => rcpt(ctx, args).await?,
        "DATA" => return data(ctx, args).await,
        "RSET" => {
            ctx.s.reset_transaction();
            ctx.reply("250 2.0.0 Ok").await?;
        }
        "NOOP" => ctx.reply("250 2.0.0 Ok").await?,
        "QUIT" => {
            ctx.reply("221 2.0.0 Bye").await?;
            return Ok(Next::Quit);
        }
        "VRFY" => ctx.reply("502 5.5.1 VRFY command is disabled").await?,
        "" => ctx.reply("500 5.5.2 Error: bad syntax").await?,
        _ => ctx.reply("502 5.5.2 Error: command not recognized").await?,
    }
    Ok(Next::Continue)
}

async fn starttls(ctx: &mut Ctx<'_>, args: &str) -> std::io::Result<Next> {
    if !args.is_empty() {
        ctx.reply("501 5.5.4 Syntax: STARTTLS").await?;
        return Ok(Next::Continue);
    }
    if ctx.conn.is_tls() {
        ctx.reply("554 5.5.1 Error: TLS already active").await?;
        return Ok(Next::Continue);
    }
    let Some(cert) = ctx.cfg.cert.clone() else {
        ctx.reply("454 4.7.0 TLS not available due to local problem").await?;
        return Ok(Next::Continue);
    };
    ctx.reply("220 2.0.0 Ready to start TLS").await?;
    if ctx.conn.start_tls(cert.server_config()).await.is_err() {
        return Ok(Next::Drop);
    }
    // RFC 3207 §4.2: forget everything learned before TLS.
    ctx.s = Session::default();
    Ok(Next::Continue)
}

enum AuthStep {
    Value(String),
    Aborted,
    BadEncoding,
    Eof,
}

/// Decodes a SASL response; `=` is the empty response.
fn decode(b64: &str) -> Option<Vec<u8>> {
    if b64 == "=" {
        return Some(Vec::new());
    }
    B64.decode(b64.trim()).ok()
}

async fn challenge(ctx: &mut Ctx<'_>, prompt: &str) -> std::io::Result<AuthStep> {
    ctx.reply(&format!("334 {prompt}")).await?;
    let Some(line) = ctx.conn.read_line().await? else {
        return Ok(AuthStep::Eof);
    };
    let line = String::from_utf8_lossy(&line);
    let line = line.trim_end_matches(['\r', '\n']);
    if line == "*" {
        return Ok(AuthStep::Aborted);
    }
    Ok(AuthStep::Value(line.to_owned()))
}

async fn auth(ctx: &mut Ctx<'_>, args: &str) -> std::io::Result<Next> {
    let mut parts = args.split_whitespace();
    let mechanism = parts.next().unwrap_or("").to_ascii_uppercase();
    let initial = parts.next().map(str::to_owned);
    let error = if ctx.s.helo.is_none() {
        Some("503 5.5.1 Error: send HELO/EHLO first")
    } else if !ctx.auth_allowed() {
        Some("503 5.5.1 Error: authentication not enabled")
    } else if ctx.s.auth_user.is_some() {
        Some("503 5.5.1 Error: already authenticated")
    } else if ctx.s.mail_from.is_some() {
        Some("503 5.5.1 Error: MAIL transaction in progress")
    } else if mechanism.is_empty() {
        Some("501 5.5.4 Syntax: AUTH mechanism")
    } else {
        None
    };
    if let Some(error) = error {
        ctx.reply(error).await?;
        return Ok(Next::Continue);
    }

    let credentials = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(r) => AuthStep::Value(r),
                None => challenge(ctx, "").await?,
            };
            match response {
                AuthStep::Value(r) => match decode(&r) {
                    Some(bytes) => {
                        let fields: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
                        match fields.as_slice() {
                            [_authzid, user, pass] => AuthStep::Value(format!(
                                "{}\0{}",
                                String::from_utf8_lossy(user),
                                String::from_utf8_lossy(pass)
                            )),
                            _ => AuthStep::BadEncoding,
                        }
                    }
                    None => AuthStep::BadEncoding,
                },
                other => other,
            }
        }
        "LOGIN" => {
            let user = match initial {
                Some(r) => AuthStep::Value(r),
                None => challenge(ctx, "VXNlcm5hbWU6").await?,
            };
            match user {
                AuthStep::Value(u) => match decode(&u) {
                    Some(user) => match challenge(ctx, "UGFzc3dvcmQ6").await? {
                        AuthStep::Value(p) => match decode(&p) {
                            Some(pass) => AuthStep::Value(format!(
                                "{}\0{}",
                                String::from_utf8_lossy(&user),
                                String::from_utf8_lossy(&pass)
                            )),
                            None => AuthStep::BadEncoding,
                        },
                        other => other,
                    },
                    None => AuthStep::BadEncoding,
                },
                other => other,
            }
        }
        _ => {
            ctx.reply("504 5.5.4 Unrecognized authentication type").await?;
            return Ok(Next::Continue);
        }
    };
    match credentials {
        AuthStep::Value(pair) => {
            let (user, pass) = pair.split_once('\0').unwrap_or((&pair, ""));
            if ctx.cfg.users.get(user).is_some_and(|p| p == pass) {
                ctx.s.auth_user = Some(user.to_owned());
                ctx.reply("235 2.7.0 Authentication successful").await?;
            } else {
                let reply = format!("535 5.7.8 Error: authentication failed: {mechanism} authentication failed");
                ctx.reply(&reply).await?;
            }
        }
        AuthStep::Aborted => ctx.reply("501 5.7.0 Authentication aborted").await?,
        AuthStep::BadEncoding => ctx.reply("501 5.5.2 Cannot decode response").await?,
        AuthStep::Eof => return Ok(Next::Drop),
    }
    Ok(Next::Continue)
}

/// Parses `FROM:<addr> params` / `TO:<addr> params` (keyword case-insensitive,
/// spaces after the colon tolerated). Returns the address and the parameters.
fn parse_path<'a>(args: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    if !crate::server::starts_with_ignore_case(args, keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

async fn mail(ctx: &mut Ctx<'_>, args: &str) -> std::io::Result<()> {
    let reply = if ctx.s.helo.is_none() {
        "503 5.5.1 Error: send HELO/EHLO first".to_owned()
    } else if ctx.cfg.require_tls_for_mail && !ctx.conn.is_tls() {
        "530 5.7.0 Must issue a STARTTLS command first".to_owned()
    } else if ctx.cfg.require_auth_for_mail && ctx.s.auth_user.is_none() {
        "530 5.7.0 Authentication required".to_owned()
    } else if ctx.s.mail_from.is_some() {
        "503 5.5.1 Error: nested MAIL command".to_owned()
    } else {
        match parse_path(args, "FROM:") {
            None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned(),
            Some((addr, params)) => {
                let size = params.split_whitespace().find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.eq_ignore_ascii_case("SIZE").then(|| v.parse::<u64>().ok())?
                });
                if size.is_some_and(|s| s > ctx.cfg.max_message_size as u64) {
                    "552 5.3.4 Message size exceeds fixed limit".to_owned()
                } else {
                    ctx.s.mail_from = Some(addr.to_owned());
                    "250 2.1.0 Ok".to_owned()
                }
            }
        }
    };
    ctx.reply(&reply).await
}

async fn rcpt(ctx: &mut Ctx<'_>, args: &str) -> std::io::Result<()> {
    let reply = if ctx.cfg.require_tls_for_mail && !ctx.conn.is_tls() {
        "530 5.7.0 Must issue a STARTTLS command first".to_owned()
    } else if ctx.s.mail_from.is_none() {
        "503 5.5.1 Error: need MAIL command".to_owned()
    } else if ctx.s.rcpts.len() >= MAX_RECIPIENTS {
        "452 4.5.3 Error: too many recipients".to_owned()
    } else {
        match parse_path(args, "TO:") {
            None => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
            Some(("", _)) => "501 5.1.3 Bad recipient address syntax".to_owned(),
            Some((addr, _params)) => rcpt_decision(ctx, addr),
        }
    };
    ctx.reply(&reply).await
}

fn rcpt_decision(ctx: &mut Ctx<'_>, addr: &str) -> String {
    let (local, domain) = match addr.rsplit_once('@') {
        Some((l, d)) => (l.to_ascii_lowercase(), Some(d.to_ascii_lowercase())),
        None => (addr.to_ascii_lowercase(), None),
    };
    let accept = match domain {
        None if local == "postmaster" => true,
        None => return "501 5.1.3 Bad recipient address syntax".to_owned(),
        Some(d) if ctx.cfg.accepted_domains.contains(&d) => {
            if local == "postmaster" || ctx.cfg.mailboxes.contains(&local) {
                true
            } else {
                return format!("550 5.1.1 <{addr}>: Recipient address rejected: User unknown");
            }
        }
        Some(_) => ctx.s.auth_user.is_some(),
    };
    if !accept {
        return format!("554 5.7.1 <{addr}>: Relay access denied");
    }
    if ctx.cfg.greylist {
        return format!("450 4.7.1 <{addr}>: Recipient address rejected: Greylisted, try again later");
    }
    ctx.s.rcpts.push(addr.to_owned());
    "250 2.1.5 Ok".to_owned()
}

async fn data(ctx: &mut Ctx<'_>, args: &str) -> std::io::Result<Next> {
    let error = if !args.is_empty() {
        Some("501 5.5.4 Syntax: DATA")
    } else if ctx.s.mail_from.is_none() {
        Some("503 5.5.1 Error: need RCPT command")
    } else if ctx.s.rcpts.is_empty() {
        Some("554 5.5.1 Error: no valid recipients")
    } else {
        None
    };
    if let Some(error) = error {
        ctx.reply(error).await?;
        return Ok(Next::Continue);
    }
    ctx.reply("354 End data with <CR><LF>.<CR><LF>").await?;
    let Some((raw, too_big)) = ctx.conn.read_data_body(ctx.cfg.max_message_size).await? else {
        return Ok(Next::Drop);
    };
    if too_big {
        ctx.s.reset_transaction();
        ctx.reply("552 5.3.4 Message size exceeds fixed limit").await?;
        return Ok(Next::Continue);
    }
    let data = unstuff(&raw);
    let shared = ctx.conn.rec.shared().clone();
    let queue_id = shared.next_queue_id();
    shared.push_message(ReceivedMessage {
        connection: ctx.conn.rec.index(),
        helo: ctx.s.helo.clone().unwrap_or_default(),
        mail_from: ctx.s.mail_from.take().unwrap_or_default(),
        rcpt_to: std::mem::take(&mut ctx.s.rcpts),
        data,
        tls: ctx.conn.is_tls(),
        authenticated_as: ctx.s.auth_user.clone(),
        queue_id: queue_id.clone(),
    });
    ctx.reply(&format!("250 2.0.0 Ok: queued as {queue_id}")).await?;
    Ok(Next::Continue)
}

/// Removes the leading dot of dot-stuffed lines (RFC 5321 §4.5.2).
fn unstuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}
