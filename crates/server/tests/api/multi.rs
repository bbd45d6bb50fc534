//! Several instances on one PostgreSQL database: two `Server`s in this
//! process share the database, the clock and the providers; requests race
//! across both. Needs `TOLLGATE_TEST_POSTGRES_URL` (scripts/test.sh always
//! sets it); without it each test says so and returns.

use crate::support::{call_url, fresh_database_url, postgres_cluster, Answer, TestApp, POSTGRES_ENV};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinSet;
use tollgate_server::store::{outbox, Store};
use tollgate_server::Server;

const PHONE: &str = "+447400123456";

fn needs_postgres(test: &str) -> bool {
    if postgres_cluster().is_some() {
        return true;
    }
    eprintln!("note: multi::{test} runs on PostgreSQL only; set {POSTGRES_ENV} (scripts/test.sh does)");
    false
}

/// Two instances: the test app's server and another one on its database.
async fn pair(adjust: impl FnOnce(&mut tollgate_server::Config)) -> (TestApp, Server) {
    let app = TestApp::start_with(adjust).await;
    let other = app.another_instance().await;
    (app, other)
}

/// Sends every `(path, body)` at once, alternating between the two
/// instances; answers in the order given.
async fn race(app: &TestApp, other: &Server, calls: Vec<(String, Value)>) -> Vec<Answer> {
    let bases = [app.url.clone(), other.url()];
    let mut tasks = JoinSet::new();
    for (i, (path, body)) in calls.into_iter().enumerate() {
        let (http, base, token) = (app.http.clone(), bases[i % 2].clone(), app.token.clone());
        tasks.spawn(async move { (i, call_url(&http, &base, Some(&token), "POST", &path, Some(body)).await) });
    }
    let mut answers: Vec<(usize, Answer)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap());
    }
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// How many answers had each (status, code).
fn tally(answers: &[Answer]) -> BTreeMap<(u16, String), usize> {
    let mut out = BTreeMap::new();
    for a in answers {
        *out.entry((a.status, a.code().to_owned())).or_default() += 1;
    }
    out
}

fn expect(pairs: &[((u16, &str), usize)]) -> BTreeMap<(u16, String), usize> {
    pairs.iter().map(|((s, c), n)| ((*s, (*c).to_owned()), *n)).collect()
}

#[tokio::test]
async fn one_code_verified_concurrently_on_two_instances_succeeds_once() {
    if !needs_postgres("one_code_verified_concurrently_on_two_instances_succeeds_once") {
        return;
    }
    let (app, other) = pair(|c| c.codes.max_sends = 50).await;
    app.user_with_2fa("u-1", PHONE).await;
    for round in 0..5 {
        // A new IP and device each round (a verified one becomes familiar).
        let (ip, device) = (format!("198.51.100.{round}"), format!("d-{round}"));
        let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": ip, "device_id": device})).await;
        let challenge = login.ok(200)["challenge_id"].as_str().unwrap().to_owned();
        let code = app.twilio.code_after(PHONE, 1 + round).await;
        let path = format!("/v1/challenges/{challenge}/verify");
        let answers = race(&app, &other, vec![(path, json!({"code": code})); 8]).await;
        assert_eq!(tally(&answers), expect(&[((200, ""), 1), ((409, "flow_state"), 7)]), "round {round}");
    }
    let verified = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'challenge.verified'").await;
    assert_eq!(verified, 5);

    // A flow step cannot be confirmed twice either: one enable, one email.
    let email = app.user("u-2").await;
    let started = app.post("/v1/users/u-2/two-factor/enable", json!({"phone": "+447400999888"})).await;
    let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
    let code = app.twilio.code_after("+447400999888", 0).await;
    let answers = race(&app, &other, vec![(format!("/v1/flows/{flow}/confirm"), json!({"code": code})); 8]).await;
    assert_eq!(tally(&answers), expect(&[((200, ""), 1), ((409, "flow_state"), 7)]));
    let enabled = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'two_factor.enabled'").await;
    assert_eq!(enabled, 2, "u-1 and u-2, once each");
    app.smtp.wait(&email, "turned on").await;
    app.drain_outbox().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.smtp.to(&email).len(), 1, "the change is announced once");
    other.stop().await;
}

#[tokio::test]
async fn wrong_codes_on_two_instances_are_all_counted() {
    if !needs_postgres("wrong_codes_on_two_instances_are_all_counted") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    app.user_with_2fa("u-1", PHONE).await;
    let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-x"})).await;
    let challenge = login.ok(200)["challenge_id"].as_str().unwrap().to_owned();
    let code = app.twilio.code_after(PHONE, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let path = format!("/v1/challenges/{challenge}/verify");
    let answers = race(&app, &other, vec![(path, json!({"code": wrong})); 12]).await;
    // Five tries per code (codes.max_attempts), whichever instance counts them.
    assert_eq!(tally(&answers), expect(&[((422, "code_mismatch"), 5), ((429, "too_many_attempts"), 7)]));
    let mut left: Vec<i64> = answers.iter().filter_map(|a| a.body["attempts_left"].as_i64()).collect();
    left.sort_unstable();
    assert_eq!(left, vec![0, 1, 2, 3, 4], "each try saw the one before it");
    assert_eq!(app.scalar_i64(&format!("SELECT code_wrong FROM challenges WHERE id = '{challenge}'")).await, 5);
    assert_eq!(app.scalar_i64("SELECT failed_codes FROM users WHERE id = 'u-1'").await, 5);
    let rejected = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'code.rejected'").await;
    assert_eq!(rejected, 5);
    other.stop().await;
}

#[tokio::test]
async fn concurrent_sends_to_one_number_stop_at_the_limit() {
    if !needs_postgres("concurrent_sends_to_one_number_stop_at_the_limit") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    // Twelve users ask for a code to the same number at once, on both
    // instances: the per-number limit (5 in 10 minutes) holds.
    let mut calls = Vec::new();
    for i in 0..12 {
        app.user(&format!("u-{i}")).await;
        calls.push((format!("/v1/users/u-{i}/two-factor/enable"), json!({"phone": PHONE})));
    }
    let answers = race(&app, &other, calls).await;
    assert_eq!(tally(&answers), expect(&[((202, ""), 5), ((429, "rate_limited"), 7)]));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM code_sends").await, 5);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM flows").await, 5);
    app.drain_outbox().await;
    assert_eq!(app.twilio.sent_to(PHONE).len(), 5);
    other.stop().await;
}

/// Logins of several users sharing one number, racing on two instances:
/// the number's limit holds across both (each instance's writer gathers
/// its challenges into one job), each answer matches what is stored, and
/// the chain stays one chain.
#[tokio::test]
async fn logins_racing_on_two_instances_to_one_number_stop_at_the_limit() {
    if !needs_postgres("logins_racing_on_two_instances_to_one_number_stop_at_the_limit") {
        return;
    }
    let (app, other) = pair(|c| c.codes.max_sends = 10).await;
    for u in 0..4 {
        app.user_with_2fa(&format!("u-{u}"), PHONE).await; // 4 of the number's 10 sends
    }
    let mut calls = Vec::new();
    for i in 0..24 {
        let body = json!({"user_id": format!("u-{}", i % 4), "ip": format!("198.51.100.{i}"), "device_id": "d-new"});
        calls.push(("/v1/logins".to_owned(), body));
    }
    let answers = race(&app, &other, calls).await;
    assert_eq!(tally(&answers), expect(&[((200, ""), 6), ((429, "rate_limited"), 18)]));
    let challenged: Vec<&str> = answers.iter().filter_map(|a| a.body["challenge_id"].as_str()).collect();
    assert_eq!(challenged.len(), 6);
    for id in &challenged {
        let sql = format!("SELECT COUNT(*) FROM challenges WHERE id = '{id}' AND status = 'pending'");
        assert_eq!(app.scalar_i64(&sql).await, 1, "{id}");
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM challenges").await, 6);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM code_sends").await, 10);
    let sms = "SELECT COUNT(*) FROM notifications WHERE channel = 'sms' AND purpose = 'login_code'";
    assert_eq!(app.scalar_i64(sms).await, 6);
    let events = "SELECT COUNT(*) FROM audit_events WHERE action = 'login.challenged'";
    assert_eq!(app.scalar_i64(events).await, 6);
    let verified = tollgate_server::cli::verify_chain(&app.server.app.store).await.unwrap();
    let (seq, _, checked) = verified.unwrap_or_else(|broken| panic!("{broken}"));
    assert_eq!(seq, app.scalar_i64("SELECT COUNT(*) FROM audit_events").await);
    assert_eq!(i64::try_from(checked).unwrap(), seq);
    app.drain_outbox().await;
    assert_eq!(app.twilio.sent_to(PHONE).len(), 10);
    other.stop().await;
}

/// The one-statement challenge writes on PostgreSQL: each prepared
/// challenge writes its send, SMS and challenge, or — when the user's row
/// no longer holds the snapshot, or the number is at its limit (counting
/// the earlier challenges of the same call, also of another user with the
/// same number) — nothing at all.
#[tokio::test]
async fn prepared_challenges_on_postgres_are_each_written_whole_or_not_at_all() {
    use tollgate_server::store::codes::{insert_challenges_if_current_pg, NewChallenge, PreparedChallenge};
    use tollgate_server::store::outbox::NewNotification;
    use tollgate_server::store::users::{find_user, UserRow};
    if !needs_postgres("prepared_challenges_on_postgres_are_each_written_whole_or_not_at_all") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&fresh_database_url(&dir).await, 2).await.unwrap();
    store.migrate().await.unwrap();
    let exec = |sql: String| {
        let store = store.clone();
        async move { sqlx::query(&sql).execute(store.pool()).await.unwrap() }
    };
    exec("INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ('c-1', 'C', 'c', 1, 1)".into())
        .await;
    // u-5 and u-6 share a number (one digest).
    for (k, digest) in [(1, "d-1"), (2, "d-2"), (3, "d-3"), (4, "d-4"), (5, "d-shared"), (6, "d-shared")] {
        exec(format!(
            "INSERT INTO users (id, contract_id, email, display_name, phone_sealed, phone_masked, phone_digest, \
             enabled_at, failed_codes, created_at, updated_at) \
             VALUES ('u-{k}', 'c-1', 'u{k}@x.test', 'U', 'sealed-{k}', '+44•••5{k}', '{digest}', 1, 0, 1, 1)"
        ))
        .await;
    }
    let mut c = store.pool().acquire().await.unwrap();
    let mut users: Vec<UserRow> = Vec::new();
    for k in 1..=6 {
        users.push(find_user(&mut c, &format!("u-{k}")).await.unwrap().unwrap());
    }
    drop(c);
    let write = |batch: Vec<(usize, usize, i64)>| {
        // (challenge number, user index, now); a limit of 5 sends after 0.
        let store = store.clone();
        let users = users.clone();
        async move {
            let ids: Vec<(String, String)> =
                batch.iter().map(|(i, _, _)| (format!("ch-{i}"), format!("n-{i}"))).collect();
            let all: Vec<PreparedChallenge<'_>> = batch
                .iter()
                .zip(&ids)
                .map(|((_, u, now), (ch, nid))| {
                    let user = &users[*u];
                    PreparedChallenge {
                        user,
                        since: 0,
                        max_sends: 5,
                        lease_until: now + 60_000,
                        notification: NewNotification {
                            id: nid,
                            user_id: &user.id,
                            contract_id: &user.contract_id,
                            channel: "sms",
                            purpose: "login_code",
                            recipient_masked: "+44•••56",
                            payload_sealed: "sealed-sms",
                            now: *now,
                        },
                        challenge: NewChallenge {
                            id: ch,
                            login_id: "lg-1",
                            user_id: &user.id,
                            ip: "198.51.100.1",
                            device_id: "d-1",
                            user_agent: None,
                            country: None,
                            code_hash: "hash",
                            code_expires_at: now + 600_000,
                            now: *now,
                        },
                    }
                })
                .collect();
            let mut tx = store.begin().await.unwrap();
            let done = insert_challenges_if_current_pg(&mut tx, &all).await.unwrap();
            tx.commit().await.unwrap();
            done
        }
    };
    let count = |sql: &'static str| {
        let store = store.clone();
        async move { sqlx::query_as::<_, (i64,)>(sql).fetch_one(store.pool()).await.unwrap().0 }
    };
    let rows = || async {
        (
            count("SELECT COUNT(*) FROM code_sends").await,
            count("SELECT COUNT(*) FROM notifications").await,
            count("SELECT COUNT(*) FROM challenges").await,
        )
    };
    assert_eq!(write(vec![(1, 0, 10)]).await, vec![true]);
    assert_eq!(rows().await, (1, 1, 1));
    // Queued leased to the instance that wrote it (its hand-over).
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM notifications WHERE id = 'n-1' AND status = 'queued' \
             AND claimed_until = 60010 AND next_attempt_at = 60010"
        )
        .await,
        1
    );

    // A stale snapshot (each column the path relies on): nothing.
    for (n, change) in [
        "UPDATE users SET enabled_at = NULL WHERE id = 'u-1'",
        "UPDATE users SET phone_sealed = 'other' WHERE id = 'u-1'",
        "UPDATE users SET phone_digest = 'other' WHERE id = 'u-1'",
        "UPDATE users SET phone_masked = 'other' WHERE id = 'u-1'",
        "UPDATE users SET locked_until = 99 WHERE id = 'u-1'",
        "UPDATE users SET contract_id = 'c-2' WHERE id = 'u-1'",
    ]
    .into_iter()
    .enumerate()
    {
        if change.contains("c-2") {
            exec(
                "INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ('c-2', 'D', 'd', 1, 1)"
                    .into(),
            )
            .await;
        }
        exec(change.into()).await;
        assert_eq!(write(vec![(10 + n, 0, 20)]).await, vec![false], "{change}");
        assert_eq!(rows().await, (1, 1, 1), "{change}");
        exec(
            "UPDATE users SET enabled_at = 1, phone_sealed = 'sealed-1', phone_digest = 'd-1', \
             phone_masked = '+44•••51', locked_until = NULL, contract_id = 'c-1' WHERE id = 'u-1'"
                .into(),
        )
        .await;
    }

    // One call of 40: u-1 has 4 sends left, u-2 and u-3 5 each, u-4's
    // snapshot is stale (its phone changed since), and u-5 and u-6 share 5.
    exec("UPDATE users SET phone_sealed = 'newer' WHERE id = 'u-4'".into()).await;
    let batch: Vec<(usize, usize, i64)> = (0..40).map(|i| (100 + i, i % 6, 30)).collect();
    let done = write(batch.clone()).await;
    let written = |u: usize| batch.iter().zip(&done).filter(|((_, user, _), d)| *user == u && **d).count();
    assert_eq!([written(0), written(1), written(2), written(3)], [4, 5, 5, 0]);
    assert_eq!(written(4) + written(5), 5);
    // Per user, the first ones in the call's order.
    for u in 0..6 {
        let mine: Vec<bool> = batch.iter().zip(&done).filter(|((_, user, _), _)| *user == u).map(|(_, d)| *d).collect();
        assert!(mine.windows(2).all(|w| w[0] || !w[1]), "u-{}: {mine:?}", u + 1);
    }
    assert_eq!(rows().await, (20, 20, 20));
    for ((i, _, _), d) in batch.iter().zip(&done) {
        let sql =
            format!("SELECT COUNT(*) FROM challenges c JOIN notifications n ON n.id = 'n-{i}' WHERE c.id = 'ch-{i}'");
        let found = sqlx::query_as::<_, (i64,)>(&sql).fetch_one(store.pool()).await.unwrap().0;
        assert_eq!(found, i64::from(*d), "challenge {i}");
    }
    store.close().await;
}

#[tokio::test]
async fn two_workers_drain_one_outbox_delivering_each_notification_once() {
    if !needs_postgres("two_workers_drain_one_outbox_delivering_each_notification_once") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    let users = 16;
    let phone = |i: usize| format!("+4474001234{i:02}");
    let mut calls = Vec::new();
    for i in 0..users {
        app.user(&format!("u-{i}")).await;
        calls.push((format!("/v1/users/u-{i}/two-factor/enable"), json!({"phone": phone(i)})));
    }
    let started = race(&app, &other, calls).await;
    let mut confirms = Vec::new();
    for (i, answer) in started.iter().enumerate() {
        let flow = answer.ok(202)["flow_id"].as_str().unwrap();
        let code = app.twilio.code_after(&phone(i), 0).await;
        confirms.push((format!("/v1/flows/{flow}/confirm"), json!({"code": code})));
    }
    for answer in race(&app, &other, confirms).await {
        answer.ok(200);
    }
    app.drain_outbox().await;
    tokio::time::sleep(Duration::from_millis(500)).await; // a duplicate would show up by now
    assert_eq!(app.twilio.sent().len(), users, "one SMS per enable");
    for i in 0..users {
        assert_eq!(app.twilio.sent_to(&phone(i)).len(), 1, "{}", phone(i));
        assert_eq!(app.smtp.to(&format!("u-{i}@example.com")).len(), 1, "u-{i}");
    }
    assert_eq!(app.smtp.mails().len(), users, "one email per enable");
    let sent = app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE status = 'sent' AND attempts = 1").await;
    assert_eq!(sent, 2 * i64::try_from(users).unwrap());
    // Both workers' counts add up to the deliveries (each counts its own).
    let delivered = |server: &Server| {
        let text = server.app.metrics.render(&[], server.app.writer.stats(), server.app.store.sqlite_stats());
        text.lines()
            .filter(|l| l.starts_with("tollgate_deliveries_total{") && l.contains("outcome=\"sent\""))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
            .sum::<usize>()
    };
    let (mine, theirs) = (delivered(&app.server), delivered(&other));
    eprintln!("deliveries: instance A {mine}, instance B {theirs}");
    assert_eq!(mine + theirs, 2 * users);
    other.stop().await;
}

#[tokio::test]
async fn claims_skip_rows_another_worker_holds() {
    if !needs_postgres("claims_skip_rows_another_worker_holds") {
        return;
    }
    // Two stores (two instances' pools) on one database, no workers running:
    // a claim in flight holds its rows; a concurrent claim takes others at
    // once instead of waiting or taking the same.
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(&dir).await;
    let a = Store::connect(&url, 2).await.unwrap();
    a.migrate().await.unwrap();
    let b = Store::connect(&url, 2).await.unwrap();
    let mut conn = a.pool().acquire().await.unwrap();
    for i in 0..10 {
        let n = outbox::NewNotification {
            id: &format!("n_{i}"),
            user_id: "u-1",
            contract_id: "C-1",
            channel: "sms",
            purpose: "login_code",
            recipient_masked: "+44•••••••456",
            payload_sealed: "sealed",
            now: 1_000,
        };
        outbox::enqueue(&mut conn, a.engine(), n).await.unwrap();
    }
    drop(conn);
    let mut first = a.begin().await.unwrap();
    let held = outbox::claim_due(&mut first, a.engine(), 2_000, 62_000, 6).await.unwrap();
    assert_eq!(held.len(), 6);
    let mut second = b.begin().await.unwrap();
    let others =
        tokio::time::timeout(Duration::from_secs(5), outbox::claim_due(&mut second, b.engine(), 2_000, 62_000, 6))
            .await
            .expect("a claim must not wait for another worker's rows")
            .unwrap();
    assert_eq!(others.len(), 4, "the four rows nobody holds");
    assert!(others.iter().all(|o| held.iter().all(|h| h.id != o.id)), "no row claimed twice");
    first.commit().await.unwrap();
    second.commit().await.unwrap();
    let mut third = a.begin().await.unwrap();
    assert!(outbox::claim_due(&mut third, a.engine(), 3_000, 63_000, 32).await.unwrap().is_empty(), "leased");
    third.commit().await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn concurrent_audit_writers_on_two_instances_keep_one_chain() {
    if !needs_postgres("concurrent_audit_writers_on_two_instances_keep_one_chain") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    for i in 0..10 {
        app.user(&format!("u-{i}")).await;
    }
    let before = app.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    let mut calls = Vec::new();
    for round in 0..6 {
        for i in 0..10 {
            let ip = format!("198.51.100.{}", round * 10 + i);
            calls.push(("/v1/logins".to_owned(), json!({"user_id": format!("u-{i}"), "ip": ip, "device_id": "d"})));
        }
    }
    for answer in race(&app, &other, calls).await {
        assert_eq!(answer.ok(200)["decision"], "allow");
    }
    let events = app.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    assert_eq!(events, before + 60);
    assert_eq!(app.scalar_i64("SELECT MAX(seq) FROM audit_events").await, events, "no gaps, no duplicates");
    let verified = tollgate_server::cli::verify_chain(&app.server.app.store).await.unwrap();
    let (seq, _, checked) = verified.unwrap_or_else(|broken| panic!("{broken}"));
    assert_eq!((seq, checked), (events, u64::try_from(events).unwrap()));
    // And the operator's command agrees.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .args(["audit", "verify"])
        .env("TOLLGATE_DATABASE__URL", app.db_url())
        .env_remove("TOLLGATE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("ok: {events} events verified")), "{stdout}");
    other.stop().await;
}

#[tokio::test]
async fn racing_creates_of_one_contract_and_user_make_one_each() {
    if !needs_postgres("racing_creates_of_one_contract_and_user_make_one_each") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    let bases = [app.url.clone(), other.url()];
    let put_all = |path: &'static str, body: Value| {
        let mut tasks = JoinSet::new();
        for i in 0..8 {
            let (http, base, token, body) = (app.http.clone(), bases[i % 2].clone(), app.token.clone(), body.clone());
            tasks.spawn(async move { call_url(&http, &base, Some(&token), "PUT", path, Some(body)).await.status });
        }
        tasks
    };
    for (path, body, table, action) in [
        ("/v1/contracts/C-7", json!({"name": "Acme"}), "contracts", "contract.created"),
        (
            "/v1/users/u-7",
            json!({"contract_id": "C-7", "email": "ann@example.com", "display_name": "Ann"}),
            "users",
            "user.created",
        ),
    ] {
        let mut statuses = put_all(path, body).join_all().await;
        statuses.sort_unstable();
        assert_eq!(statuses, vec![200, 200, 200, 200, 200, 200, 200, 201], "{path}: one creates, the rest see it");
        assert_eq!(app.scalar_i64(&format!("SELECT COUNT(*) FROM {table}")).await, 1);
        let created = app.scalar_i64(&format!("SELECT COUNT(*) FROM audit_events WHERE action = '{action}'")).await;
        assert_eq!(created, 1, "{action}");
    }
    other.stop().await;
}

#[tokio::test]
async fn puts_and_confirms_in_one_contract_do_not_deadlock() {
    if !needs_postgres("puts_and_confirms_in_one_contract_do_not_deadlock") {
        return;
    }
    // Confirming an enable touches the contract and appends to the audit
    // chain; so does creating a user of the contract. Racing both on two
    // instances must never make PostgreSQL abort one as a deadlock (a 500).
    let (app, other) = pair(|_| {}).await;
    let mut confirms = Vec::new();
    for i in 0..12 {
        app.user(&format!("u-{i}")).await;
        let phone = format!("+4474005550{i:02}");
        let started = app.post(&format!("/v1/users/u-{i}/two-factor/enable"), json!({"phone": phone})).await;
        let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
        let code = app.twilio.code_after(&phone, 0).await;
        confirms.push((format!("/v1/flows/{flow}/confirm"), json!({"code": code})));
    }
    let bases = [app.url.clone(), other.url()];
    let mut tasks = JoinSet::new();
    for (i, (path, body)) in confirms.into_iter().enumerate() {
        let (http, token) = (app.http.clone(), app.token.clone());
        let (a, b) = (bases[i % 2].clone(), bases[(i + 1) % 2].clone());
        tasks.spawn(async move {
            let user = json!({"contract_id": "C-1", "email": format!("new-{i}@example.com"), "display_name": "New"});
            let put_path = format!("/v1/users/n-{i}");
            let put = call_url(&http, &b, Some(&token), "PUT", &put_path, Some(user));
            let confirm = call_url(&http, &a, Some(&token), "POST", &path, Some(body));
            let (put, confirm) = tokio::join!(put, confirm);
            (put.status, confirm.status)
        });
    }
    let mut outcomes = tasks.join_all().await;
    outcomes.sort_unstable();
    assert_eq!(outcomes, vec![(201, 200); 12]);
    let verified = tollgate_server::cli::verify_chain(&app.server.app.store).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    other.stop().await;
}

#[tokio::test]
async fn a_whole_contract_disable_racing_enables_on_two_instances_changes_exactly_the_enabled_users() {
    if !needs_postgres("a_whole_contract_disable_racing_enables_on_two_instances_changes_exactly_the_enabled_users") {
        return;
    }
    // A manager turns 2FA off for a whole contract on one instance while,
    // on the other, users of the contract confirm turning it on. Each
    // confirmation either commits first (and the disable turns that user
    // off) or finds its flow cancelled by the disable: never an error, and
    // the disable's count, its audit events and its emails are exactly the
    // users it changed.
    let (app, other) = pair(|_| {}).await;
    app.user("u-without-2fa").await; // creates C-1
    let (_, manager) = app.manager(&["C-1"]).await;
    let mut disabled_total = 0;
    for round in 0..4 {
        let mut confirms = Vec::new();
        for i in 0..8 {
            let uid = format!("u-{round}-{i}");
            app.user(&uid).await;
            let phone = format!("+4474006{round:02}{i:03}");
            let started = app.post(&format!("/v1/users/{uid}/two-factor/enable"), json!({"phone": phone})).await;
            let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
            let code = app.twilio.code_after(&phone, 0).await;
            confirms.push((format!("/v1/flows/{flow}/confirm"), json!({"code": code})));
        }
        let mut tasks = JoinSet::new();
        for (path, body) in confirms {
            let (http, base, token) = (app.http.clone(), other.url(), app.token.clone());
            tasks.spawn(async move { call_url(&http, &base, Some(&token), "POST", &path, Some(body)).await });
        }
        let reason = json!({"reason": format!("race round {round}")});
        let disable = call_url(
            &app.http,
            &app.url,
            Some(&manager),
            "POST",
            "/v1/admin/contracts/C-1/two-factor/disable",
            Some(reason),
        )
        .await;
        let answers = tasks.join_all().await;
        assert_eq!(disable.status, 200, "round {round}: {:?}", disable.body);
        let confirmed = answers.iter().filter(|a| a.status == 200).count();
        for a in &answers {
            assert!(a.status == 200 || (a.status == 409 && a.code() == "flow_state"), "round {round}: {:?}", a.body);
        }
        assert_eq!(disable.body["disabled"], json!(confirmed), "round {round}: {confirmed} confirmed");
        let on =
            app.scalar_i64("SELECT COUNT(*) FROM users WHERE contract_id = 'C-1' AND enabled_at IS NOT NULL").await;
        assert_eq!(on, 0, "round {round}: a user enabled before the disable kept 2FA");
        disabled_total += confirmed as i64;
    }
    let events =
        app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'two_factor.disabled_by_manager'").await;
    assert_eq!(events, disabled_total);
    let mails =
        app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE purpose = 'two_factor_disabled_by_manager'").await;
    assert_eq!(mails, disabled_total);
    let verified = tollgate_server::cli::verify_chain(&app.server.app.store).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    other.stop().await;
}

#[tokio::test]
async fn two_instances_pruning_old_sends_at_once_delete_each_row_once() {
    if !needs_postgres("two_instances_pruning_old_sends_at_once_delete_each_row_once") {
        return;
    }
    let (app, other) = pair(|_| {}).await;
    let now = app.server.app.now_ms();
    // 3,000 sends an hour old on 300 numbers, and 10 within the window.
    let old: Vec<String> = (0..3_000).map(|i| format!("('digest-{}', {})", i % 300, now - 3_600_000 + i)).collect();
    let pool = app.server.app.store.pool();
    sqlx::query(&format!("INSERT INTO code_sends (phone_digest, sent_at) VALUES {}", old.join(", ")))
        .execute(pool)
        .await
        .unwrap();
    let recent: Vec<String> = (0..10).map(|i| format!("('digest-{i}', {})", now - 1_000)).collect();
    sqlx::query(&format!("INSERT INTO code_sends (phone_digest, sent_at) VALUES {}", recent.join(", ")))
        .execute(pool)
        .await
        .unwrap();

    let (a, b) = tokio::join!(app.server.app.prune_code_sends(100), other.app.prune_code_sends(100));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, 3_000, "{a} + {b}");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM code_sends").await, 10);
    assert_eq!(app.scalar_i64(&format!("SELECT COUNT(*) FROM code_sends WHERE sent_at = {}", now - 1_000)).await, 10);
    other.stop().await;
}
