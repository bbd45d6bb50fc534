//! Load generator for the service API (docs/BENCHMARKS.md): login decisions
//! (allow, challenge) and challenge verification, from many concurrent
//! clients against one or more running `tollgate-server` instances.
//!
//! It runs a Twilio-shaped endpoint itself (the servers' `sms.twilio.base_url`
//! points at it) so that it can read the codes it must verify.
//!
//! ```sh
//! tollgate-bench --url http://127.0.0.1:8081[,http://127.0.0.1:8082] --token TOKEN \
//!     [--twilio 127.0.0.1:9099] [--clients 200] [--secs 10] [--users 1000] [--phases allow,challenge,verify] \
//!     [--rate 5000] [--mix-challenges 0.1] [--series]
//! ```
//!
//! Phases: `allow` (familiar IP and device), `challenge` (new ones),
//! `mix` (both, a share `--mix-challenges` of them new), `verify`.
//!
//! Without `--rate` every client sends as fast as it is answered (closed
//! loop: the maximum rate). With `--rate R` the allow, challenge and mix phases
//! send R requests per second in all (open loop) and latencies count from
//! when each request was due (or was sent, if that was earlier: see
//! `phase`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark driver: fail loudly

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

/// Codes received per phone number, in order.
type Inbox = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// SMS the Twilio-shaped endpoint has taken, all phones.
static SMS_TAKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The Twilio-shaped endpoint: `POST /2010-04-01/Accounts/{sid}/Messages.json`
/// with form fields `To` and `Body`; answers `201` and a message SID. The
/// servers' SMS client checks the rest (see the API tests' fake).
async fn twilio(inbox: Inbox, request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path();
    if request.method() != Method::POST
        || !(path.starts_with("/2010-04-01/Accounts/") && path.ends_with("/Messages.json"))
    {
        return Ok(answer(StatusCode::NOT_FOUND, r#"{"code":20404,"message":"not found"}"#));
    }
    let form = request.into_body().collect().await?.to_bytes();
    let (mut to, mut code) = (String::new(), String::new());
    for (name, value) in form_urlencoded::parse(&form) {
        match &*name {
            "To" => to = value.into_owned(),
            "Body" => {
                code =
                    value.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() >= 6).unwrap_or_default().to_owned()
            }
            _ => {}
        }
    }
    inbox.lock().unwrap().entry(to).or_default().push(code);
    SMS_TAKEN.fetch_add(1, Ordering::Relaxed);
    Ok(answer(StatusCode::CREATED, r#"{"sid":"SM0","status":"queued"}"#))
}

fn answer(status: StatusCode, json: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(json.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Serves the Twilio-shaped endpoint on `listener`, one task per connection.
async fn serve_twilio(listener: tokio::net::TcpListener, inbox: Inbox) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // An accept that fails (out of descriptors, say) is reported,
            // and the loop waits instead of spinning.
            Err(e) => {
                eprintln!("tollgate-bench: the SMS endpoint cannot accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let inbox = Arc::clone(&inbox);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| twilio(Arc::clone(&inbox), request));
            // A server that closes its connection mid-request is not this
            // endpoint's concern.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The part of a login's answer the phases check.
#[derive(serde::Deserialize)]
struct Decision<'a> {
    #[serde(borrow)]
    decision: &'a str,
}

/// One server instance: its address, and its idle keep-alive connections.
struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// The API client. The load generator shares the servers' cores, so its
/// own cost per request is kept small: each request takes an idle
/// HTTP/1 connection to its instance (or opens one), sends an
/// origin-form request with ready-made headers, and gives the connection
/// back — no URL parsing, redirect handling or connection pool per
/// request, which reqwest's client did (a quarter of this program's CPU at
/// 5,000 challenges a second, docs/BENCHMARKS.md).
#[derive(Clone)]
struct Api {
    targets: Arc<Vec<Target>>,
    authorization: HeaderValue,
}

impl Api {
    fn new(urls: &str, token: &str) -> Self {
        let targets = urls
            .split(',')
            .map(|url| {
                let host = url.strip_prefix("http://").unwrap_or_else(|| panic!("--url {url}: only http:// is driven"));
                let host = host.trim_end_matches('/');
                let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
                    .unwrap_or_else(|e| panic!("--url {url}: {e}"))
                    .next()
                    .unwrap_or_else(|| panic!("--url {url}: no address"));
                Target { addr, host: HeaderValue::from_str(host).unwrap(), idle: Mutex::new(Vec::new()) }
            })
            .collect();
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        Self { targets: Arc::new(targets), authorization }
    }

    fn instances(&self) -> usize {
        self.targets.len()
    }

    /// Opens connections until each instance has `n` idle ones, so that
    /// no phase times the opening of its clients' connections.
    async fn warm(&self, n: usize) {
        for target in self.targets.iter() {
            let missing = n.saturating_sub(target.idle.lock().unwrap().len());
            let mut opened = tokio::task::JoinSet::new();
            for _ in 0..missing {
                opened.spawn(connect(target.addr));
            }
            while let Some(conn) = opened.join_next().await {
                let conn = conn.unwrap().unwrap_or_else(|e| panic!("{}: {e}", target.addr));
                target.idle.lock().unwrap().push(conn);
            }
        }
    }

    /// Sends `body` (JSON) to instance `i` (modulo their number): the
    /// status, and the body as JSON (`Null` if it is not). Status 0: the
    /// request failed on the way (the body says why).
    async fn call(&self, i: usize, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let (status, bytes) = self.send(i, method, path, serde_json::to_vec(body).unwrap()).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `call` with a ready body, answering the raw one.
    async fn send(&self, i: usize, method: Method, path: &str, body: Vec<u8>) -> (u16, Bytes) {
        let target = &self.targets[i % self.targets.len()];
        let idle = target.idle.lock().unwrap().pop();
        let mut conn = match idle {
            Some(conn) if !conn.is_closed() => conn,
            _ => match connect(target.addr).await {
                Ok(conn) => conn,
                Err(e) => return failed(&e),
            },
        };
        if let Err(e) = conn.ready().await {
            return failed(&e);
        }
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        let headers = request.headers_mut();
        headers.insert(HOST, target.host.clone());
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = match conn.send_request(request).await {
            Ok(response) => response,
            Err(e) => return failed(&e),
        };
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return failed(&e),
        };
        target.idle.lock().unwrap().push(conn);
        (status, body)
    }

    /// `POST /v1/logins` of `body` (JSON), timed; a decision other than
    /// `expect` counts as status 600.
    async fn login(&self, i: usize, body: String, expect: &str) -> (u16, Duration) {
        let t = Instant::now();
        let (s, b) = self.send(i, Method::POST, "/v1/logins", body.into_bytes()).await;
        let decided = serde_json::from_slice::<Decision>(&b).is_ok_and(|d| d.decision == expect);
        (if (200..300).contains(&s) && !decided { 600 } else { s }, t.elapsed())
    }
}

/// Opens a keep-alive HTTP/1 connection; its driver runs as a task.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the connection closes; a request on it then fails.
        let _ = conn.await;
    });
    Ok(send)
}

fn failed(error: &dyn std::fmt::Display) -> (u16, Bytes) {
    (0, Bytes::from(json!({ "error": error.to_string() }).to_string()))
}

/// A login's JSON body. The bench's ids, addresses and devices are
/// letters, digits, dots and dashes: nothing to escape.
fn login_body(user: &str, ip: &str, device: &str) -> String {
    format!(r#"{{"user_id":"{user}","ip":"{ip}","device_id":"{device}"}}"#)
}

fn phone(i: usize) -> String {
    format!("+4474{:08}", 10_000_000 + i)
}

async fn wait_code(inbox: &Inbox, phone: &str, nth: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = inbox.lock().unwrap().get(phone).and_then(|codes| codes.get(nth - 1)).cloned() {
            return code;
        }
        assert!(Instant::now() < deadline, "no SMS #{nth} to {phone}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Report {
    name: String,
    /// All clients' tallies together.
    all: Tally,
    secs: f64,
}

/// What clients counted of a phase: one client's share, or all of it.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: HashMap<u16, u64>,
    /// Per answered request: when it was sent (or due), from the phase's
    /// start, and its latency.
    latencies: Vec<(Duration, Duration)>,
    /// Open loop: per answered request, how long after it was due the
    /// generator sent it (zero if early); part of its latency.
    lags: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
        self.latencies.extend(other.latencies);
        self.lags.extend(other.lags);
    }
}

/// The `p` quantile (0–1] of sorted latencies, in ms.
fn quantile(sorted: &[Duration], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// `--series`: the width of the windows whose p99 is printed.
const WINDOW: Duration = Duration::from_millis(250);

impl Report {
    fn print(&mut self, series: bool) {
        let mut sorted: Vec<Duration> = self.all.latencies.iter().map(|(_, took)| *took).collect();
        sorted.sort_unstable();
        let pct = |p: f64| quantile(&sorted, p);
        println!(
            "{:<10} {:>8} ok {:>9.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   errors {:?}",
            self.name,
            self.all.ok,
            self.all.ok as f64 / self.secs,
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.all.errors
        );
        if !self.all.lags.is_empty() {
            self.all.lags.sort_unstable();
            let lag = |p: f64| quantile(&self.all.lags, p);
            println!(
                "{:<10} sent late by p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms (counted in the latency above)",
                self.name,
                lag(0.50),
                lag(0.99),
                lag(1.0)
            );
        }
        if series {
            println!(
                "{:<10} p90 {:.2} ms   p95 {:.2} ms   p99.9 {:.2} ms",
                self.name,
                pct(0.90),
                pct(0.95),
                pct(0.999)
            );
            // p99 of the requests sent in each window, in order: a stall
            // shows as a run of high windows.
            self.all.latencies.sort_unstable();
            let windows: Vec<String> = self
                .all
                .latencies
                .chunk_by(|a, b| a.0.as_millis() / WINDOW.as_millis() == b.0.as_millis() / WINDOW.as_millis())
                .map(|window| {
                    let mut took: Vec<Duration> = window.iter().map(|(_, took)| *took).collect();
                    took.sort_unstable();
                    format!("{:.0}", quantile(&took, 0.99))
                })
                .collect();
            println!("{:<10} p99 per {} ms, ms: {}", self.name, WINDOW.as_millis(), windows.join(" "));
        }
    }
}

/// The resolution of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Runs `clients` loops of `step` for `secs`; `step` returns the status and
/// the latency of the request being measured.
///
/// Closed loop (`rate` = None): each client sends its next request as soon
/// as the previous one is answered, so the rate is whatever the server
/// gives and, by Little's law, the mean latency is `clients / rate`.
/// Open loop (`rate` = Some(r)): the clients together send `r` requests per
/// second on a fixed schedule (each client one every `clients / r`
/// seconds); a request's latency is counted from the time it was *due*, so
/// a server that falls behind is charged for the wait (no coordinated
/// omission). Tokio's timer fires on whole-millisecond ticks, so a client
/// asks to be woken one tick early: a request then goes out within about a
/// tick of its due time, either side, instead of 0-1 ms late every time.
/// One sent early is timed from when it was sent; one sent late from when
/// it was due, its lateness (the tick, the wait for a core) included and
/// reported (`sent late by`).
async fn phase<F, Fut>(name: &str, clients: usize, secs: u64, rate: Option<f64>, step: F) -> Report
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (u16, Duration)> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let step = Arc::new(step);
    let started = Instant::now();
    let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (stop, step) = (Arc::clone(&stop), Arc::clone(&step));
        tasks.spawn(async move {
            let mut out = Tally::default();
            let mut n = 0;
            // Clients start spread over one interval.
            let mut due = interval.map(|i| started + i.mul_f64(client as f64 / clients as f64));
            while !stop.load(Ordering::Relaxed) {
                // When the request was due (open loop) or sent (closed).
                let sent = due.unwrap_or_else(Instant::now);
                let lag = match (due, interval) {
                    (Some(at), Some(every)) => {
                        tokio::time::sleep_until(at.checked_sub(TIMER_TICK).unwrap_or(at).into()).await;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        due = Some(at + every);
                        // Zero when sent early.
                        at.elapsed()
                    }
                    _ => Duration::ZERO,
                };
                let (status, took) = step(client, n).await;
                let took = took + lag;
                n += 1;
                if (200..300).contains(&status) {
                    out.ok += 1;
                    out.latencies.push((sent.saturating_duration_since(started), took));
                    if interval.is_some() {
                        out.lags.push(lag);
                    }
                } else {
                    *out.errors.entry(status).or_default() += 1;
                }
            }
            out
        });
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        all.add(done.unwrap());
    }
    Report { name: name.to_owned(), all, secs: started.elapsed().as_secs_f64() }
}

const USAGE: &str = "\
usage: tollgate-bench --url http://127.0.0.1:8081[,http://127.0.0.1:8082] --token TOKEN
           [--twilio 127.0.0.1:9099] [--clients 200] [--secs 10] [--users 1000]
           [--phases allow,challenge,verify] [--rate 5000] [--mix-challenges 0.1] [--series]
--series also prints p90, p95, p99.9 and the p99 of each 250 ms window.
phases: allow, challenge, mix, verify; without --rate each client sends as fast as
it is answered. See docs/BENCHMARKS.md (scripts/bench.sh starts the servers).";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let token = arg("--token", "");
    if token.is_empty() {
        eprintln!("tollgate-bench: --token: a service token is required\n{USAGE}");
        return std::process::ExitCode::from(2);
    }
    let clients: usize = arg("--clients", "200").parse().unwrap();
    let secs: u64 = arg("--secs", "10").parse().unwrap();
    let users: usize = arg("--users", "1000").parse().unwrap();
    let phases = arg("--phases", "allow,challenge,verify");
    // Also print p90, p95, p99.9 and each 250 ms window's p99.
    let series = std::env::args().any(|a| a == "--series");
    // Open loop: the total request rate of the allow, challenge and mix phases.
    let rate: Option<f64> = match arg("--rate", "").as_str() {
        "" => None,
        r => Some(r.parse().unwrap()),
    };
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind(arg("--twilio", "127.0.0.1:9099")).await.unwrap();
    tokio::spawn(serve_twilio(listener, Arc::clone(&inbox)));

    let api = Api::new(&arg("--url", "http://127.0.0.1:8080"), &token);
    // Users 0..users for allow/challenge (picked at random); users+0 ..
    // users+clients each belong to one verify client (their SMS count is
    // known, whatever the other phases' outbox still delivers).
    let seed_users = users + clients;
    let run = format!("{:06x}", rand::thread_rng().gen::<u32>() & 0xff_ffff);

    // Users with 2FA on, enabled from 203.0.113.5 / d-home (so that is familiar).
    let seeded = Instant::now();
    let (status, body) = api.call(0, Method::PUT, &format!("/v1/contracts/B-{run}"), &json!({"name": "Bench"})).await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let mut tasks = tokio::task::JoinSet::new();
    for shard in 0..50 {
        let (api, inbox, run) = (api.clone(), Arc::clone(&inbox), run.clone());
        tasks.spawn(async move {
            for i in (shard..seed_users).step_by(50) {
                let uid = format!("b{run}-{i}");
                let user = json!({"contract_id": format!("B-{run}"), "email": format!("{uid}@bench.test"), "display_name": "Bench"});
                let (s, b) = api.call(i, Method::PUT, &format!("/v1/users/{uid}"), &user).await;
                assert!(s == 200 || s == 201, "{s} {b}");
                let before = inbox.lock().unwrap().get(&phone(i)).map_or(0, Vec::len);
                let enable = json!({"phone": phone(i), "ip": "203.0.113.5", "device_id": "d-home"});
                let (s, b) = api.call(i, Method::POST, &format!("/v1/users/{uid}/two-factor/enable"), &enable).await;
                assert_eq!(s, 202, "{b}");
                let flow = b["flow_id"].as_str().unwrap().to_owned();
                let code = wait_code(&inbox, &phone(i), before + 1).await;
                let confirm = json!({"code": code, "ip": "203.0.113.5", "device_id": "d-home"});
                let (s, b) = api.call(i, Method::POST, &format!("/v1/flows/{flow}/confirm"), &confirm).await;
                assert_eq!(s, 200, "{b}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    println!(
        "seeded {seed_users} users with 2FA in {:.1} s; {} instance(s), {clients} clients, {secs} s per phase",
        seeded.elapsed().as_secs_f64(),
        api.instances()
    );

    api.warm(clients).await;
    for name in phases.split(',') {
        let (api, run, inbox) = (api.clone(), run.clone(), Arc::clone(&inbox));
        let sms_before = SMS_TAKEN.load(Ordering::Relaxed);
        let mut report = match name {
            // A familiar IP and device: allowed (lookups + an audit event).
            "allow" => phase(name, clients, secs, rate, move |client, n| {
                let api = api.clone();
                let uid = format!("b{run}-{}", rand::thread_rng().gen_range(0..users));
                async move { api.login(client + n as usize, login_body(&uid, "203.0.113.5", "d-home"), "allow").await }
            })
            .await,
            // A new IP and device: a challenge, a code sent (an SMS queued).
            "challenge" => {
                phase(name, clients, secs, rate, move |client, n| {
                    let api = api.clone();
                    let uid = format!("b{run}-{}", rand::thread_rng().gen_range(0..users));
                    async move {
                        let (ip, device) = (format!("198.51.{}.{}", n % 250, client % 250), format!("d-{client}-{n}"));
                        api.login(client + n as usize, login_body(&uid, &ip, &device), "challenge").await
                    }
                })
                .await
            }
            // A mix of both, as logins come in: a share `--mix-challenges`
            // (default 0.1) from a new IP and device, the rest familiar.
            "mix" => {
                let share: f64 = arg("--mix-challenges", "0.1").parse().unwrap();
                assert!((0.0..=1.0).contains(&share), "--mix-challenges: a share from 0 to 1");
                phase(name, clients, secs, rate, move |client, n| {
                    let api = api.clone();
                    let uid = format!("b{run}-{}", rand::thread_rng().gen_range(0..users));
                    let challenge = rand::thread_rng().gen_bool(share);
                    async move {
                        let (ip, device, expect) = if challenge {
                            (format!("198.18.{}.{}", n % 250, client % 250), format!("m-{client}-{n}"), "challenge")
                        } else {
                            ("203.0.113.5".to_owned(), "d-home".to_owned(), "allow")
                        };
                        api.login(client + n as usize, login_body(&uid, &ip, &device), expect).await
                    }
                })
                .await
            }
            // Each client owns one user: challenge, read the SMS, verify
            // (the verification is what is timed).
            "verify" => {
                // Each verify user has had exactly its enable code so far.
                let sent: Arc<Mutex<HashMap<usize, usize>>> =
                    Arc::new(Mutex::new((0..clients).map(|c| (c, 1)).collect()));
                phase(name, clients, secs, None, move |client, n| {
                    let (api, inbox, sent) = (api.clone(), Arc::clone(&inbox), Arc::clone(&sent));
                    let uid = format!("b{run}-{}", users + client);
                    async move {
                        let ip = format!("192.0.{}.{}", n % 250, client % 250);
                        let body = json!({"user_id": uid, "ip": ip, "device_id": format!("v-{client}-{n}")});
                        let (s, b) = api.call(client, Method::POST, "/v1/logins", &body).await;
                        if s != 200 || b["decision"] != "challenge" {
                            return (if s == 200 { 600 } else { s }, Duration::ZERO);
                        }
                        let challenge = b["challenge_id"].as_str().unwrap().to_owned();
                        let nth = {
                            let mut s = sent.lock().unwrap();
                            let e = s.entry(client).or_default();
                            *e += 1;
                            *e
                        };
                        let code = wait_code(&inbox, &phone(users + client), nth).await;
                        let path = format!("/v1/challenges/{challenge}/verify");
                        let t = Instant::now();
                        let (s, _) = api.call(client + 1, Method::POST, &path, &json!({"code": code})).await;
                        (s, t.elapsed())
                    }
                })
                .await
            }
            other => panic!("unknown phase {other}"),
        };
        report.print(series);
        // What the outbox delivered meanwhile: a server that answers
        // challenges fast but queues their SMS is not keeping up.
        let sms = SMS_TAKEN.load(Ordering::Relaxed) - sms_before;
        println!("{:<10} {sms:>8} SMS delivered during the phase ({:.0}/s)", "", sms as f64 / report.secs);
    }
    std::process::ExitCode::SUCCESS
}
