//! Notifications: recorded with channel, purpose, masked recipient, status,
//! attempts and last error; retried with backoff; never holding a code or a
//! whole phone number at rest.

use crate::support::TestApp;
use serde_json::json;
use sqlx::Row;

const PHONE: &str = "+447400123456";

#[tokio::test]
async fn every_notification_is_recorded_and_erased_once_sent() {
    let app = TestApp::start().await;
    let email = app.user_with_2fa("u-1", PHONE).await;
    app.smtp.wait(&email, "turned on").await;
    app.drain_outbox().await;
    let rows = app
        .sql_rows(
            "SELECT channel, purpose, recipient_masked, status, attempts, last_error, payload_sealed, sent_at, provider_id \
             FROM notifications WHERE user_id = 'u-1' ORDER BY created_at, channel DESC",
        )
        .await;
    let summary: Vec<(String, String, String, String, i64)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
    assert_eq!(
        summary,
        vec![
            ("sms".into(), "enable_code".into(), "+44•••••••456".into(), "sent".into(), 1),
            ("email".into(), "two_factor_enabled".into(), "u•••@example.com".into(), "sent".into(), 1),
        ]
    );
    for row in &rows {
        assert_eq!(row.get::<Option<String>, _>(5), None);
        assert_eq!(row.get::<Option<String>, _>(6), None, "sealed text must be erased once sent");
        assert!(row.get::<Option<i64>, _>(7).is_some());
    }
    assert!(rows[0].get::<Option<String>, _>(8).unwrap().starts_with("SM"));
}

#[tokio::test]
async fn no_code_or_whole_phone_number_is_stored_in_clear() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let answer = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-x"})).await;
    answer.ok(200);
    let code = app.twilio.code_after(PHONE, 1).await;
    let enable_code = app.twilio.nth_to(PHONE, 1).await.code();
    let text = if app.on_postgres() {
        // Every row of every table, each whole row rendered as text (all
        // columns, whatever their type).
        let pool = app.server.app.store.pool();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
                .fetch_all(pool)
                .await
                .unwrap();
        assert!(tables.iter().any(|t| t == "notifications") && tables.len() >= 10, "{tables:?}");
        let mut text = String::new();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM {table} AS t")).fetch_all(pool).await.unwrap();
            assert!(table != "users" || !rows.is_empty());
            text.push_str(&rows.join("\n"));
        }
        text
    } else {
        // Checkpoint the WAL so the main file holds everything, then scan every byte.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(app.server.app.store.pool()).await.unwrap();
        let mut bytes = std::fs::read(app.db_path()).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", app.db_path().display())) {
            bytes.extend(wal);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    assert!(text.contains("+44•••••••456"), "the scan sees the stored rows");
    assert!(!text.contains("7400123456"), "a whole phone number is stored in clear");
    assert!(!text.contains(&code), "a live code is stored in clear");
    assert!(!text.contains(&enable_code), "a used code is stored in clear");
    assert!(!text.contains(&app.token), "a token is stored in clear");
}

#[tokio::test]
async fn transient_failures_are_retried_permanent_ones_fail() {
    let app = TestApp::start().await;
    app.user("u-1").await;
    // First attempt: Twilio is down (500); the retry goes through.
    app.twilio.script(500, json!({"code": 20500, "message": "Internal Server Error"}));
    app.post("/v1/users/u-1/two-factor/enable", json!({"phone": PHONE})).await.ok(202);
    app.drain_outbox_as_time_passes().await;
    let sms = app.twilio.nth_to(PHONE, 1).await;
    assert_eq!(sms.from, crate::support::FROM);
    let row = &app.sql_rows("SELECT status, attempts, last_error FROM notifications").await[0];
    assert_eq!(row.get::<String, _>(0), "sent");
    assert_eq!(row.get::<i64, _>(1), 2);
    assert_eq!(row.get::<Option<String>, _>(2), None);

    // A number Twilio refuses for good: failed at once, error kept, number scrubbed.
    app.user("u-2").await;
    app.twilio.script(400, json!({"code": 21211, "message": "The 'To' number +447812000777 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}));
    app.post("/v1/users/u-2/two-factor/enable", json!({"phone": "+447812000777"})).await.ok(202);
    app.drain_outbox().await;
    let row = &app
        .sql_rows("SELECT status, attempts, last_error, payload_sealed FROM notifications WHERE user_id = 'u-2'")
        .await[0];
    assert_eq!(row.get::<String, _>(0), "failed");
    assert_eq!(row.get::<i64, _>(1), 1);
    let error: String = row.get(2);
    assert!(error.contains("21211"), "{error}");
    assert!(!error.contains("7812000777"), "{error}");
    assert_eq!(row.get::<Option<String>, _>(3), None);
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_retried_then_given_up() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::start_with(|c| {
        c.email.smtp.port = port;
        c.outbox.max_attempts = 3;
        c.outbox.retry_base_ms = 10;
    })
    .await;
    app.user_with_2fa("u-1", PHONE).await;
    app.drain_outbox_as_time_passes().await;
    let row = &app.sql_rows("SELECT status, attempts, last_error FROM notifications WHERE channel = 'email'").await[0];
    assert_eq!(row.get::<String, _>(0), "failed");
    assert_eq!(row.get::<i64, _>(1), 3);
    assert!(row.get::<Option<String>, _>(2).unwrap().contains("smtp"));
}

/// A worker whose server is gone without a clean stop (its shutdown
/// sender dropped) ends, instead of spinning on the closed channel.
#[tokio::test]
async fn the_worker_ends_when_its_server_is_gone() {
    use std::sync::Arc;
    use tollgate_server::notify::{run_worker, Deliverers};
    let app = TestApp::start().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shared = Arc::clone(&app.server.app);
    let deliverers = Arc::new(Deliverers::from_config(&shared).unwrap());
    let worker = tokio::spawn(run_worker(shared, deliverers, stopped));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!worker.is_finished(), "the worker runs while its server is there");
    drop(stop);
    tokio::time::timeout(std::time::Duration::from_secs(5), worker)
        .await
        .expect("the worker ended within 5 s of its server going away")
        .unwrap();
}

/// What one login code came to, with the worker's poll an hour away and
/// the clock standing still (no lease ever ends): its row's status,
/// attempts, sealed text and lease once drained, and the hand-overs
/// deferred, from `/metrics`. The code is verified, and it was the one
/// SMS of its challenge. `before_login` runs just before the login.
async fn one_login_code(before_login: impl FnOnce(&TestApp)) -> ((String, i64, Option<String>, Option<i64>), String) {
    let app = TestApp::start_with(|c| c.outbox.poll_ms = 3_600_000).await;
    app.user_with_2fa("u-1", PHONE).await;
    app.drain_outbox().await;
    before_login(&app);
    let before = app.twilio.sent_to(PHONE).len();
    let login = json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-new", "user_agent": "Firefox/130"});
    let answer = app.post("/v1/logins", login).await;
    assert_eq!(answer.ok(200)["decision"], "challenge");
    let code = app.twilio.code_after(PHONE, before).await;
    app.drain_outbox().await;
    let rows = app
        .sql_rows(
            "SELECT status, attempts, payload_sealed, claimed_until FROM notifications \
             WHERE purpose = 'login_code'",
        )
        .await;
    assert_eq!(rows.len(), 1);
    let row = (rows[0].get(0), rows[0].get(1), rows[0].get(2), rows[0].get(3));
    let challenge = answer.ok(200)["challenge_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await.ok(200);
    let metrics = app.http.get(format!("{}/metrics", app.url)).bearer_auth(&app.token).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let deferred = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tollgate_outbox_hand_overs_deferred_total "))
        .expect("the counter is at /metrics")
        .to_owned();
    assert_eq!(app.twilio.sent_to(PHONE).len(), before + 1, "one SMS for one challenge");
    (row, deferred)
}

/// A login code goes out on its hand-over: queued leased to this instance
/// and given to its worker with its text once committed, not claimed. With
/// no poll and no lease ending, the SMS can only come that way; it is
/// recorded sent on the first attempt, erased, its lease cleared.
#[tokio::test]
async fn a_login_code_is_handed_to_the_worker_and_sent_without_a_claim() {
    let (row, deferred) = one_login_code(|_| {}).await;
    assert_eq!(row, ("sent".to_owned(), 1, None, None), "sent, erased, the lease ended with the record");
    assert_eq!(deferred, "0");
}

/// A login code the worker cannot take (here: it takes no more
/// hand-overs, as when stopping) gives its lease back at once: a claim
/// sends it, without waiting for the lease to end, and the metric counts
/// it.
#[tokio::test]
async fn a_login_code_the_worker_cannot_take_is_given_back_and_sent_by_a_claim() {
    let (row, deferred) = one_login_code(|app| app.server.app.outbox_hand_over.close()).await;
    assert_eq!(row, ("sent".to_owned(), 1, None, None));
    assert_eq!(deferred, "1");
}
