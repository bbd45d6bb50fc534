//! Operations: start-up against a database that is not there (retry with
//! backoff, then a clear error), a URL of no known engine, and `/metrics`.

use crate::support::{test_config, FakeTwilio, TestApp};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_server::clock::{Clock, ManualClock};
use tollgate_server::store::{Store, StoreError};
use tollgate_server::Server;

const PHONE: &str = "+447400123456";

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_database_is_retried_with_backoff_then_named() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = FakeTwilio::start().await;
    let mut config = test_config(&dir, &twilio, closed_port());
    config.database.url = format!("postgres://tollgate:s3cret@127.0.0.1:{}/tollgate", closed_port());
    config.database.connect_retry_secs = 1;
    config.validate().unwrap();
    let started = Instant::now();
    let Err(error) = Server::start(config, Arc::new(ManualClock::default()) as Arc<dyn Clock>).await else {
        panic!("started without a database");
    };
    let took = started.elapsed();
    let message = error.to_string();
    assert!(message.contains("cannot reach the database at postgres://tollgate:***@127.0.0.1:"), "{message}");
    assert!(message.contains("database.connect_retry_secs"), "{message}");
    assert!(!message.contains("s3cret"), "the password must not be shown: {message}");
    // 250 ms, then 500 ms between attempts; the next wait would pass 1 s.
    assert!(message.contains("gave up after 3 attempts"), "{message}");
    assert!(took >= Duration::from_millis(700) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn serve_logs_each_attempt_and_exits_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .arg("serve")
        .env_remove("TOLLGATE_CONFIG")
        .env("RUST_LOG", "info")
        .env("TOLLGATE_SERVER__LISTEN", "127.0.0.1:0")
        .env("TOLLGATE_DATABASE__URL", format!("postgres://tollgate:s3cret@127.0.0.1:{}/tollgate", closed_port()))
        .env("TOLLGATE_DATABASE__CONNECT_RETRY_SECS", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let retries = stderr.lines().filter(|l| l.contains("cannot reach the database") && l.contains("retrying")).count();
    assert!(retries >= 2, "each attempt is logged: {stderr}");
    assert!(stderr.contains("error: cannot reach the database at postgres://"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[tokio::test]
async fn a_url_of_no_known_engine_is_refused_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .arg("serve")
        .env_remove("TOLLGATE_CONFIG")
        .env("TOLLGATE_DATABASE__URL", "mysql://root@127.0.0.1/tollgate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("database.url") && stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );
    // The store says the same, naming what it got, without retrying.
    let started = Instant::now();
    let error =
        Store::connect_with_retry("mysql://root@127.0.0.1/tollgate", 1, Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(error, StoreError::Scheme(_)), "{error}");
    assert!(error.to_string().contains("\"mysql:\""), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn metrics_count_requests_by_route_time_them_and_report_the_outbox() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-x"})).await.ok(200);
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "203.0.113.5", "device_id": "d-home"})).await.ok(200);
    app.call_as(None, "GET", "/v1/nowhere", None).await;
    app.twilio.nth_to(PHONE, 2).await;
    app.drain_outbox().await;
    let answer = app.http.get(format!("{}/metrics", app.url)).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = answer.text().await.unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has("tollgate_http_requests_total{method=\"POST\",route=\"/v1/logins\",status=\"200\"} 2"), "{text}");
    assert!(has(
        "tollgate_http_requests_total{method=\"POST\",route=\"/v1/flows/{flow_id}/confirm\",status=\"200\"} 1"
    ));
    assert!(has("tollgate_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"), "{text}");
    assert!(!text.contains("fl_") && !text.contains("u-1"), "ids stay out of labels: {text}");
    assert!(has("# TYPE tollgate_http_request_duration_seconds histogram"));
    assert!(has("tollgate_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/logins\",le=\"+Inf\"} 2"));
    assert!(has("tollgate_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/logins\"} 2"));
    // enable code, login code; the "turned on" email.
    assert!(has("tollgate_outbox_notifications{status=\"queued\"} 0"), "{text}");
    assert!(has("tollgate_outbox_notifications{status=\"sent\"} 3"), "{text}");
    assert!(has("tollgate_deliveries_total{channel=\"sms\",outcome=\"sent\"} 2"), "{text}");
    assert!(has("tollgate_deliveries_total{channel=\"email\",outcome=\"sent\"} 1"), "{text}");
    // The group-commit writer's batches: every write above went through
    // it (two logins' events, the enable flow, the outbox's claims).
    let value = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("{name}: {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let batches = value("tollgate_writer_batch_jobs_count");
    assert!(batches >= 2.0, "{text}");
    assert!(value("tollgate_writer_batch_jobs_sum") >= batches, "{text}");
    assert_eq!(value("tollgate_writer_batch_duration_seconds_count"), batches, "{text}");
    assert_eq!(value("tollgate_writer_queue_wait_seconds_bucket{le=\"+Inf\"}"), batches, "{text}");
    assert!(value("tollgate_writer_batch_duration_seconds_sum") > 0.0, "{text}");
    assert!(has("# TYPE tollgate_writer_batch_duration_seconds histogram"), "{text}");
    // An SQLite file's WAL: the background syncs of the database file and
    // the writer's WAL restarts; PostgreSQL has neither.
    let sqlite_file = app.db_url().starts_with("sqlite:");
    assert_eq!(has("# TYPE tollgate_sqlite_database_sync_seconds histogram"), sqlite_file, "{text}");
    assert_eq!(has("# TYPE tollgate_sqlite_wal_restart_seconds histogram"), sqlite_file, "{text}");
}

/// `tollgate-server service-token …` on the test app's database.
fn token_cli(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .arg("service-token")
        .args(args)
        .env("TOLLGATE_DATABASE__URL", app.db_url())
        .env_remove("TOLLGATE_CONFIG")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// api.md: every call but `GET /healthz` carries a token. `/metrics`
/// takes a service token or a metrics-only one (for a scraper), and a
/// metrics-only token opens nothing else; tokens are listed and revoked
/// from the command line.
#[tokio::test]
async fn metrics_need_a_token_and_a_metrics_only_token_opens_nothing_else() {
    let app = TestApp::start().await;
    let (_, manager_token) = app.manager(&[]).await;
    let metrics = |token: Option<String>| {
        let (http, url) = (app.http.clone(), format!("{}/metrics", app.url));
        async move {
            let request = http.get(url);
            let request = match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap())
        }
    };
    let (status, body) = metrics(None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    assert_eq!(metrics(Some(manager_token.clone())).await.0, 401);
    assert_eq!(metrics(Some("tgm_not-a-token".into())).await.0, 401);
    assert_eq!(metrics(Some(app.token.clone())).await.0, 200);

    let (code, stdout, stderr) = token_cli(&app, &["create", "--name", "prometheus", "--metrics-only"]);
    assert_eq!(code, Some(0), "{stderr}");
    let scraper = stdout.trim().strip_prefix("token: tgm_").map(|t| format!("tgm_{t}")).expect(&stdout);
    let (status, body) = metrics(Some(scraper.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tollgate_http_requests_total"), "{body}");
    // Nothing else opens for it: the service API, the admin API.
    let login = json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-x"});
    app.call_as(Some(&scraper), "POST", "/v1/logins", Some(login)).await.problem(401, "unauthorized");
    app.call_as(Some(&scraper), "GET", "/v1/admin/me", None).await.problem(401, "unauthorized");

    // Listed (never the token itself), then revoked: at once for a
    // metrics-only token.
    let (code, listed, stderr) = token_cli(&app, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!listed.contains(&scraper) && !listed.contains(&app.token), "{listed}");
    let line = listed.lines().find(|l| l.contains("\tprometheus\t")).expect(&listed);
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(id.starts_with("mt_") && line.contains("\tmetrics\t") && line.ends_with("\tlive"), "{listed}");
    assert!(listed.lines().any(|l| l.contains("\tservice\ttests\tlive")), "{listed}");
    let (code, _, stderr) = token_cli(&app, &["revoke", "--id", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(metrics(Some(scraper)).await.0, 401);
    assert!(token_cli(&app, &["list"]).1.contains(&format!("{id}\tmetrics\tprometheus\trevoked")));
    let (code, _, stderr) = token_cli(&app, &["revoke", "--id", &id]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no live token has the id"), "{stderr}");
}

#[tokio::test]
async fn an_older_release_still_starts_after_a_newer_one_migrated() {
    // A rolling upgrade: a newer instance applied a migration this binary
    // does not know; this one (restarting) must still start and serve.
    let app = TestApp::start().await;
    let checksum = if app.on_postgres() { "decode('00', 'hex')" } else { "X'00'" };
    sqlx::query(&format!(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer release', CURRENT_TIMESTAMP, TRUE, {checksum}, 1)"
    ))
    .execute(app.server.app.store.pool())
    .await
    .unwrap();
    let again = app.another_instance().await;
    let ready = reqwest::get(format!("{}/readyz", again.url())).await.unwrap();
    assert_eq!(ready.status(), 200);
    again.stop().await;
}

#[tokio::test]
async fn readiness_answers_503_while_the_database_does_not_answer() {
    let app = TestApp::start().await;
    let url = format!("{}/readyz", app.server.url());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    app.server.app.store.close().await; // as when the database goes away
    let answer = reqwest::get(&url).await.unwrap();
    assert_eq!(answer.status(), 503);
    let problem: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(problem["code"], "internal");
    assert_eq!(problem["detail"], "the database does not answer");
    let live = reqwest::get(format!("{}/healthz", app.server.url())).await.unwrap();
    assert_eq!(live.status(), 200, "liveness does not depend on the database");
}
