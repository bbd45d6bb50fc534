//! The test harness.

#![allow(dead_code)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tollgate_server::clock::{Clock, ManualClock};
use tollgate_server::config::{Config, EmailProvider, Secret, SmsProvider};
use tollgate_server::Server;

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-test-auth-token";
pub const FROM: &str = "+15005550006";
pub const HMAC_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXk=";

// ---------------------------------------------------------------- Twilio

#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
}

impl Sms {
    /// The only run of six digits in the body.
    pub fn code(&self) -> String {
        let runs: Vec<&str> = self.body.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() == 6).collect();
        assert_eq!(runs.len(), 1, "SMS body must hold exactly one 6-digit run: {}", self.body);
        runs[0].to_owned()
    }
}

#[derive(Default)]
struct TwilioState {
    accepted: Vec<Sms>,
    /// Requests whose shape was wrong: must stay empty.
    violations: Vec<String>,
    /// Answers to give instead of 201, in order.
    scripted: VecDeque<(u16, Value)>,
}

/// A Twilio-shaped Messages endpoint on loopback that checks path, auth,
/// content type and the exact form fields.
#[derive(Clone)]
pub struct FakeTwilio {
    pub url: String,
    state: Arc<Mutex<TwilioState>>,
}

async fn twilio_messages(
    State(state): State<Arc<Mutex<TwilioState>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> (StatusCode, Json<Value>) {
    let mut problems = Vec::new();
    if sid != SID {
        problems.push(format!("account sid in path: {sid}"));
    }
    let expected_auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{AUTH_TOKEN}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected_auth.as_str()) {
        problems.push("basic auth".to_owned());
    }
    let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !kind.starts_with("application/x-www-form-urlencoded") {
        problems.push(format!("content-type {kind}"));
    }
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if sorted != ["Body", "From", "To"] {
        problems.push(format!("form fields {names:?}"));
    }
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let sms = Sms { to: get("To"), from: get("From"), body: get("Body") };
    if sms.from != FROM {
        problems.push(format!("From {}", sms.from));
    }
    if !(sms.to.starts_with('+') && sms.to[1..].bytes().all(|b| b.is_ascii_digit())) {
        problems.push("To is not E.164".to_owned());
    }
    let mut st = state.lock().unwrap();
    if !problems.is_empty() {
        st.violations.push(problems.join("; "));
        return (StatusCode::BAD_REQUEST, Json(json!({"code": 21601, "message": "bad request shape"})));
    }
    if let Some((status, body)) = st.scripted.pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(body));
    }
    st.accepted.push(sms);
    let sid = format!("SM{:032}", st.accepted.len());
    (StatusCode::CREATED, Json(json!({"sid": sid, "status": "queued"})))
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(TwilioState::default()));
        let router = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio_messages))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url: format!("http://{addr}"), state }
    }

    /// The next answers will be these instead of `201`.
    pub fn script(&self, status: u16, body: Value) {
        self.state.lock().unwrap().scripted.push_back((status, body));
    }

    pub fn sent(&self) -> Vec<Sms> {
        let st = self.state.lock().unwrap();
        assert!(st.violations.is_empty(), "Twilio request shape violations: {:?}", st.violations);
        st.accepted.clone()
    }

    pub fn sent_to(&self, phone: &str) -> Vec<Sms> {
        self.sent().into_iter().filter(|s| s.to == phone).collect()
    }

    /// Waits for the `n`th (1-based) SMS to `phone`.
    pub async fn nth_to(&self, phone: &str, n: usize) -> Sms {
        wait_for(&format!("SMS #{n} to {phone}"), || self.sent_to(phone).get(n - 1).cloned()).await
    }

    /// Waits for the latest code sent to `phone`, given `before` earlier ones.
    pub async fn code_after(&self, phone: &str, before: usize) -> String {
        self.nth_to(phone, before + 1).await.code()
    }
}

// ---------------------------------------------------------------- SMTP

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Sender, recipients and raw data of the message being received.
type Envelope = (String, Vec<String>, Vec<u8>);

/// mailin clones the handler for each connection: the envelope being
/// received is per connection, the list of mails is shared.
#[derive(Clone, Default)]
struct SinkHandler {
    current: Envelope,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl mailin_embedded::Handler for SinkHandler {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> mailin_embedded::Response {
        self.current = (from.to_owned(), to.to_vec(), Vec::new());
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.2.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let (from, to, raw) = std::mem::take(&mut self.current);
        let (subject, body) = parse_mail(&String::from_utf8_lossy(&raw));
        self.mails.lock().unwrap().push(Mail { from, to, subject, body });
        mailin_embedded::response::OK
    }
}

/// Subject and decoded text body of a simple single-part message.
fn parse_mail(raw: &str) -> (String, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
            .map(|l| l[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let encoding = header("Content-Transfer-Encoding").to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => {
            let joined: String = body.lines().collect();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined.trim()).unwrap()).unwrap()
        }
        "quoted-printable" => decode_qp(body),
        _ => body.to_owned(),
    };
    (header("Subject"), body)
}

fn decode_qp(text: &str) -> String {
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A real SMTP server (mailin-embedded) on loopback.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve(listener)
    }

    /// Serves on a listener bound earlier (so a port can be held back).
    pub fn serve(listener: std::net::TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let handler = SinkHandler::default();
        let mails = Arc::clone(&handler.mails);
        let mut server = mailin_embedded::Server::new(handler);
        server.with_name("sink.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn to(&self, email: &str) -> Vec<Mail> {
        self.mails().into_iter().filter(|m| m.to.iter().any(|t| t == email)).collect()
    }

    /// Waits for a mail to `email` whose subject contains `subject`.
    pub async fn wait(&self, email: &str, subject: &str) -> Mail {
        wait_for(&format!("mail to {email} about {subject:?}"), || {
            self.to(email).into_iter().find(|m| m.subject.contains(subject))
        })
        .await
    }
}

// ---------------------------------------------------------------- the app

pub async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- databases

/// Set to a PostgreSQL cluster's URL without a database name (e.g.
/// `postgres://postgres@127.0.0.1:5433`) to run every test on PostgreSQL:
/// each test then gets a fresh database of its own on that cluster.
pub const POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES_URL";

pub fn postgres_cluster() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().map(|url| url.trim().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty())
}

/// A fresh, empty database: a new PostgreSQL database with a random name
/// when `TOLLGATE_TEST_POSTGRES_URL` is set, else an SQLite file in `dir`.
pub async fn fresh_database_url(dir: &TempDir) -> String {
    match postgres_cluster() {
        Some(cluster) => {
            use sqlx::{Connection, Executor};
            sqlx::any::install_default_drivers();
            let name = format!("tollgate_test_{:016x}", rand::random::<u64>());
            let mut admin = sqlx::AnyConnection::connect(&format!("{cluster}/postgres")).await.unwrap();
            admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
            admin.close().await.unwrap();
            format!("{cluster}/{name}")
        }
        None => format!("sqlite://{}", dir.path().join("tollgate.db").display()),
    }
}

pub struct TestApp {
    pub server: Server,
    pub url: String,
    pub token: String,
    pub clock: Arc<ManualClock>,
    pub twilio: FakeTwilio,
    pub smtp: SmtpSink,
    pub http: reqwest::Client,
    pub dir: TempDir,
    /// The configuration the server started with (its database included).
    pub config: Config,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
        let kind = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(kind, "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.body["detail"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(self.body["type"].as_str().is_some());
        self
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        &self.body
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.to_str().ok()?.parse().ok()
    }
}

pub fn test_config(dir: &TempDir, twilio: &FakeTwilio, smtp_port: u16) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.database.url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    config.codes.hmac_key = Secret::new(HMAC_KEY);
    config.sms.provider = SmsProvider::Twilio;
    config.sms.twilio.account_sid = SID.into();
    config.sms.twilio.auth_token = Secret::new(AUTH_TOKEN);
    config.sms.twilio.from = FROM.into();
    config.sms.twilio.base_url = twilio.url.clone();
    config.sms.twilio.timeout_secs = 2;
    config.email.provider = EmailProvider::Smtp;
    config.email.from = "security@tollgate.test".into();
    config.email.smtp.host = "127.0.0.1".into();
    config.email.smtp.port = smtp_port;
    config.email.smtp.timeout_secs = 2;
    config.outbox.poll_ms = 50;
    config.outbox.retry_base_ms = 200;
    config.outbox.lease_secs = 5;
    config
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let twilio = FakeTwilio::start().await;
        let smtp = SmtpSink::start();
        let mut config = test_config(&dir, &twilio, smtp.port);
        config.database.url = fresh_database_url(&dir).await;
        adjust(&mut config);
        config.validate().unwrap();
        let clock = Arc::new(ManualClock::default());
        let server = Server::start(config.clone(), Arc::clone(&clock) as Arc<dyn Clock>).await.unwrap();
        let token = tollgate_server::cli::issue_service_token(&server.app, "tests").await.unwrap();
        let url = server.url();
        Self { server, url, token, clock, twilio, smtp, http: reqwest::Client::new(), dir, config }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn call_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Answer {
        call_url(&self.http, &self.url, token, method, path, body).await
    }

    /// Another instance of the server on the same database, with the same
    /// configuration, clock and providers (its own pool and outbox worker).
    pub async fn another_instance(&self) -> Server {
        Server::start(self.config.clone(), Arc::clone(&self.clock) as Arc<dyn Clock>).await.unwrap()
    }
}

/// One API call against the server at `base`.
pub async fn call_url(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, body, headers }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub fn clock_now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Moves the test clock on by `by`, once every notification out for
    /// delivery has its result recorded. A jump past the outbox's lease
    /// (60 s) while a delivered SMS still awaited its record would make
    /// that row due again, and the SMS would go out twice (a race no real
    /// clock gives, and one that failed `a_code_expires_after_ten_minutes`
    /// on PostgreSQL once).
    pub async fn advance(&self, by: time::Duration) {
        let out_for_delivery =
            "SELECT COUNT(*) FROM notifications WHERE status = 'queued' AND claimed_until IS NOT NULL";
        self.wait_for_none(out_for_delivery, "notification(s) still out for delivery", 15).await;
        self.clock.advance(by);
    }

    /// A contract `C-1` with user `uid` (email `<uid>@example.com`).
    pub async fn user(&self, uid: &str) -> String {
        self.put("/v1/contracts/C-1", json!({"name": "Acme"})).await;
        let email = format!("{uid}@example.com");
        self.put(
            &format!("/v1/users/{uid}"),
            json!({"contract_id": "C-1", "email": email, "display_name": "Ann Smith"}),
        )
        .await
        .ok_or_created();
        email
    }

    /// A user with 2FA on `phone`, enabled from ip 203.0.113.5 / device d-home.
    pub async fn user_with_2fa(&self, uid: &str, phone: &str) -> String {
        let email = self.user(uid).await;
        let before = self.twilio.sent_to(phone).len();
        let started = self
            .post(
                &format!("/v1/users/{uid}/two-factor/enable"),
                json!({"phone": phone, "ip": "203.0.113.5", "device_id": "d-home", "user_agent": "Firefox/130"}),
            )
            .await;
        let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
        let code = self.twilio.code_after(phone, before).await;
        self.post(
            &format!("/v1/flows/{flow}/confirm"),
            json!({"code": code, "ip": "203.0.113.5", "device_id": "d-home"}),
        )
        .await
        .ok(200);
        email
    }

    /// A manager assigned to `contracts`: `(manager_id, token)`.
    pub async fn manager(&self, contracts: &[&str]) -> (String, String) {
        let app = &self.server.app;
        let (id, token) = tollgate_server::managers::create(app, "Dana Whitfield", "dana@tollgate.test").await.unwrap();
        for contract in contracts {
            tollgate_server::managers::assign(app, &id, contract).await.unwrap();
        }
        (id, token)
    }

    pub async fn sql_rows(&self, sql: &str) -> Vec<sqlx::any::AnyRow> {
        sqlx::query(sql).fetch_all(self.server.app.store.pool()).await.unwrap()
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.server.app.store.pool()).await.unwrap();
        n
    }

    /// Waits until no notification is queued, moving the clock a second
    /// per poll so that retries fall due.
    pub async fn drain_outbox_as_time_passes(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let queued = self.scalar_i64("SELECT COUNT(*) FROM notifications WHERE status = 'queued'").await;
            if queued == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "outbox did not drain ({queued} queued)");
            self.advance(time::Duration::seconds(1)).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no notification is queued.
    pub async fn drain_outbox(&self) {
        let queued = "SELECT COUNT(*) FROM notifications WHERE status = 'queued'";
        self.wait_for_none(queued, "queued: the outbox did not drain", 15).await;
    }

    /// Waits until the count `sql` is 0; fails after `secs` with the last
    /// count and `what`.
    async fn wait_for_none(&self, sql: &str, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let n = self.scalar_i64(sql).await;
            if n == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{n} {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("tollgate.db")
    }

    pub fn db_url(&self) -> &str {
        &self.config.database.url
    }

    pub fn on_postgres(&self) -> bool {
        self.server.app.store.engine() == tollgate_server::store::Engine::Postgres
    }
}

pub trait OkOrCreated {
    fn ok_or_created(&self) -> &Value;
}

impl OkOrCreated for Answer {
    #[track_caller]
    fn ok_or_created(&self) -> &Value {
        assert!(self.status == 200 || self.status == 201, "{} {}", self.status, self.body);
        &self.body
    }
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}
