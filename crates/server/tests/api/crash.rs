//! The real binary as a separate process: a crash after a change commits
//! loses no email and sends it once; SIGTERM stops gracefully; bad
//! configuration is refused with the key's name.

use crate::support::{fresh_database_url, test_config, FakeTwilio, SmtpSink};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-server");
const PHONE: &str = "+447400123456";

fn command(config: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).env_remove("TOLLGATE_CONFIG").env("RUST_LOG", "info");
    cmd
}

/// A server process, killed if a test fails while it runs.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve`; returns the process and its URL once it listens.
fn serve(config: &Path) -> (Proc, String, mpsc::Receiver<String>) {
    let mut child = Proc(command(config).arg("serve").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("server printed nothing");
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on ".len()..];
            let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return (child, url, rx);
        }
        assert!(std::time::Instant::now() < deadline, "server did not start");
    }
}

fn write_config(dir: &Path, config: &tollgate_server::Config) -> std::path::PathBuf {
    let path = dir.join("tollgate.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    path
}

fn service_token(config: &Path) -> String {
    let out = command(config).args(["service-token", "create", "--name", "crash-test"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim().strip_prefix("token: ").expect("token: line").to_owned();
    assert!(token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&token), "the token must not be logged");
    token
}

/// A fresh database and its configuration (SMS to `twilio`, email to
/// port `smtp_port`), written to `dir`; its path; a service token.
async fn set_up(
    dir: &tempfile::TempDir,
    twilio: &FakeTwilio,
    smtp_port: u16,
) -> (tollgate_server::Config, std::path::PathBuf, String) {
    let mut config = test_config(dir, twilio, smtp_port);
    config.database.url = fresh_database_url(dir).await;
    let path = write_config(dir.path(), &config);
    let token = service_token(&path);
    (config, path, token)
}

/// Contract C-1 and user u-1 (ann@example.com), and 2FA turned on for her
/// on `PHONE` from 203.0.113.5 / d-home, the code read from `twilio`: a
/// committed change.
async fn ann_with_2fa(url: &str, token: &str, twilio: &FakeTwilio) {
    let (put, post) = (reqwest::Method::PUT, reqwest::Method::POST);
    assert_eq!(call(url, token, put.clone(), "/v1/contracts/C-1", json!({"name": "Acme"})).await.0, 201);
    let user = json!({"contract_id": "C-1", "email": "ann@example.com", "display_name": "Ann"});
    assert_eq!(call(url, token, put, "/v1/users/u-1", user).await.0, 201);
    let enable = json!({"phone": PHONE, "ip": "203.0.113.5", "device_id": "d-home"});
    let (status, flow) = call(url, token, post.clone(), "/v1/users/u-1/two-factor/enable", enable).await;
    assert_eq!(status, 202);
    let code = twilio.code_after(PHONE, 0).await;
    let confirm = format!("/v1/flows/{}/confirm", flow["flow_id"].as_str().unwrap());
    assert_eq!(call(url, token, post, &confirm, json!({"code": code})).await.0, 200, "the change is committed");
}

async fn call(url: &str, token: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_crash_after_commit_loses_no_email_and_sends_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    // Hold the SMTP server back: the port listens but nobody answers yet.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (_, path, token) = set_up(&dir, &twilio, held.local_addr().unwrap().port()).await;

    let (mut first, url, _log) = serve(&path);
    ann_with_2fa(&url, &token, &twilio).await;
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();

    let smtp = SmtpSink::serve(held);
    assert!(smtp.to("ann@example.com").is_empty(), "nothing was delivered before the crash");
    let (second, _, _log2) = serve(&path);
    let mail = smtp.wait("ann@example.com", "turned on").await;
    assert!(mail.body.contains("+44•••••••456"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.to("ann@example.com").len(), 1, "the email goes out exactly once");
    drop(second);
}

/// A login code's SMS is queued leased to the instance that wrote it, which
/// sends it itself (its hand-over). That instance killed while the SMS is
/// on its way (the provider holding the request): the next one sends it
/// once its lease has run out, exactly once, and the code verifies.
#[tokio::test]
async fn a_crash_while_a_login_code_is_on_its_way_loses_no_sms() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let smtp = SmtpSink::start();
    let (mut config, path, token) = set_up(&dir, &twilio, smtp.port).await;
    let (mut first, url, _log) = serve(&path);
    ann_with_2fa(&url, &token, &twilio).await;
    let post = reqwest::Method::POST;
    smtp.wait("ann@example.com", "turned on").await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    // An instance whose SMS provider takes the request and never answers.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.sms.twilio.base_url = format!("http://{}", held.local_addr().unwrap());
    let path = write_config(dir.path(), &config);
    let (mut second, url, _log2) = serve(&path);
    let (taken, connected) = mpsc::channel();
    std::thread::spawn(move || {
        // The connection is kept open, unanswered, until the test ends.
        if let Ok((stream, _)) = held.accept() {
            let _ = taken.send(stream);
        }
    });
    let login = json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-new"});
    let (status, answer) = call(&url, &token, post.clone(), "/v1/logins", login).await;
    assert_eq!((status, answer["decision"].as_str()), (200, Some("challenge")), "{answer}");
    let _on_its_way = connected.recv_timeout(Duration::from_secs(5)).expect("the SMS went out to the provider");
    second.0.kill().unwrap();
    second.0.wait().unwrap();

    let later = FakeTwilio::start().await;
    config.sms.twilio.base_url = later.url.clone();
    let path = write_config(dir.path(), &config);
    let (third, url, _log3) = serve(&path);
    let code = later.code_after(PHONE, 0).await;
    let verify = format!("/v1/challenges/{}/verify", answer["challenge_id"].as_str().unwrap());
    assert_eq!(call(&url, &token, post, &verify, json!({"code": code})).await.0, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(later.sent_to(PHONE).len(), 1, "the code goes out exactly once");
    drop(third);
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let smtp = SmtpSink::start();
    let mut config = test_config(&dir, &twilio, smtp.port);
    config.database.url = fresh_database_url(&dir).await;
    let path = write_config(dir.path(), &config);
    let (mut child, url, log) = serve(&path);
    assert_eq!(reqwest::get(format!("{url}/healthz")).await.unwrap().status(), 200);
    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // Everything the server wrote: its stderr's reader forwards lines
    // until the pipe's end, which may come a moment after the exit.
    let mut lines = Vec::new();
    while let Ok(line) = log.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    assert!(lines.iter().any(|l| l.contains("stopped")), "{lines:?}");
}

#[tokio::test]
async fn bad_configuration_is_refused_naming_the_key() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_remove("TOLLGATE_CONFIG")
        .env("TOLLGATE_CODES__LOCK_AFTER_FAILURES", "150")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("codes.lock_after_failures"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[sms]\nprovider = \"carrier-pigeon\"\n").unwrap();
    let out = command(&path).arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("carrier-pigeon") || stderr.contains("provider"), "{stderr}");
}

fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = command(config).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test]
async fn managers_are_created_assigned_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let smtp = SmtpSink::start();
    let (_, path, service) = set_up(&dir, &twilio, smtp.port).await;
    let (_server, url, _log) = serve(&path);
    assert_eq!(call(&url, &service, reqwest::Method::PUT, "/v1/contracts/C-1", json!({"name": "Acme"})).await.0, 201);

    let (ok, stdout, stderr) = run(&path, &["manager", "create", "--name", "Dana", "--email", "dana@x.test"]);
    assert!(ok, "{stderr}");
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
    let (id, token) = (field("manager_id:"), field("token:"));
    assert!(!stderr.contains(&token), "the token must not be logged");
    let (ok, _, stderr) = run(&path, &["manager", "assign", "--manager", &id, "--contract", "C-1"]);
    assert!(ok && stderr.contains("assigned"), "{stderr}");
    let (ok, _, stderr) = run(&path, &["manager", "assign", "--manager", &id, "--contract", "C-404"]);
    assert!(!ok && stderr.contains("no contract C-404"), "{stderr}");
    let (ok, stdout, _) = run(&path, &["manager", "list"]);
    assert!(ok && stdout.contains(&id) && stdout.contains("1 contracts") && stdout.contains("active"), "{stdout}");

    let me = reqwest::Client::new().get(format!("{url}/v1/admin/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let (ok, _, stderr) = run(&path, &["manager", "revoke", "--manager", &id]);
    assert!(ok && stderr.contains("revoked"), "{stderr}");
    let me = reqwest::Client::new().get(format!("{url}/v1/admin/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 401, "a revoked token stops working at once");
    let (_, stdout, _) = run(&path, &["manager", "list"]);
    assert!(stdout.contains("revoked"), "{stdout}");
}
