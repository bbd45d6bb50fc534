//! Login decisions: familiar IP + device (+ country) pass; anything new
//! must enter the code sent by SMS, and the answer lists every signal.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const PHONE: &str = "+447400123456";

async fn login(app: &TestApp, ip: &str, device: &str) -> Value {
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": ip, "device_id": device, "user_agent": "Firefox/130"}))
        .await
        .ok(200)
        .clone()
}

#[tokio::test]
async fn users_without_2fa_pass_and_are_offered_the_setup() {
    let app = TestApp::start().await;
    app.user("u-1").await;
    let answer = login(&app, "198.51.100.1", "d-any").await;
    assert_eq!(answer["decision"], "allow");
    assert_eq!(answer["suggest_two_factor_setup"], true);
    assert_eq!(answer["reasons"], json!([]));
    assert!(answer["login_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(answer.get("challenge_id").is_none());
    assert!(app.twilio.sent().is_empty());
}

#[tokio::test]
async fn familiar_ip_and_device_pass_new_ones_are_challenged() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await; // from 203.0.113.5 / d-home
    let familiar = login(&app, "203.0.113.5", "d-home").await;
    assert_eq!(familiar["decision"], "allow");
    assert_eq!(familiar["suggest_two_factor_setup"], false);

    // Each challenge's SMS is awaited before the next login: the outbox
    // delivers concurrently and promises no order between queued messages.
    let new_ip = login(&app, "198.51.100.7", "d-home").await;
    assert_eq!(new_ip["decision"], "challenge");
    assert_eq!(new_ip["reasons"], json!(["new_ip"]));
    app.twilio.nth_to(PHONE, 2).await;
    let new_device = login(&app, "203.0.113.5", "d-laptop").await;
    assert_eq!(new_device["reasons"], json!(["new_device"]));
    app.twilio.nth_to(PHONE, 3).await;
    let stranger = login(&app, "198.51.100.8", "d-other").await;
    assert_eq!(stranger["reasons"], json!(["new_ip", "new_device"]));

    // Verifying the last challenge makes that IP and device familiar.
    let challenge = stranger["challenge_id"].as_str().unwrap();
    let code = app.twilio.code_after(PHONE, 3).await;
    assert!(app.twilio.nth_to(PHONE, 4).await.body.contains("sign-in code"));
    let verified = app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await;
    assert_eq!(verified.ok(200)["verified"], true);
    assert_eq!(login(&app, "198.51.100.8", "d-other").await["decision"], "allow");
    // The other, unverified challenges left nothing familiar behind.
    assert_eq!(login(&app, "198.51.100.7", "d-laptop").await["decision"], "challenge");

    let status = app.get("/v1/users/u-1/two-factor").await;
    assert!(status.ok(200)["last_verified_at"].is_string());
    let audit = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'login.challenged'").await;
    assert_eq!(audit, 4);
    let allowed = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'login.allowed'").await;
    assert_eq!(allowed, 2);
    let verified = app
        .scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'challenge.verified' AND ip = '198.51.100.8'")
        .await;
    assert_eq!(verified, 1);
}

#[tokio::test]
async fn an_ip_not_verified_within_familiar_days_is_new_again() {
    let app = TestApp::start_with(|c| c.risk.familiar_days = 30).await;
    app.user_with_2fa("u-1", PHONE).await;
    app.advance(time::Duration::days(30)).await;
    assert_eq!(login(&app, "203.0.113.5", "d-home").await["decision"], "allow");
    app.advance(time::Duration::days(1)).await;
    let stale = login(&app, "203.0.113.5", "d-home").await;
    assert_eq!(stale["decision"], "challenge");
    assert_eq!(stale["reasons"], json!(["new_ip"]));
}

/// Writes a tiny MaxMind-format country database.
fn geoip_db(path: &std::path::Path) {
    #[derive(serde::Serialize)]
    struct Country {
        iso_code: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Record {
        country: Country,
    }
    let mut writer = mmdb_writer::Writer::new("GeoLite2-Country");
    for (net, cc) in [("203.0.113.0/24", "GB"), ("198.51.100.0/24", "FR"), ("192.0.2.0/24", "GB")] {
        writer.insert(net.parse::<ipnet::IpNet>().unwrap(), &Record { country: Country { iso_code: cc } }).unwrap();
    }
    std::fs::write(path, writer.to_bytes().unwrap()).unwrap();
}

#[tokio::test]
async fn another_country_is_a_signal_when_geoip_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("country.mmdb");
    geoip_db(&db);
    let app = TestApp::start_with(|c| c.risk.geoip_db = db.display().to_string()).await;
    app.user_with_2fa("u-1", PHONE).await;
    // Enabling proved IP and device, but no country yet: one verified login from GB.
    let first = login(&app, "203.0.113.5", "d-home").await;
    assert_eq!(first["reasons"], json!(["new_country"]));
    let code = app.twilio.code_after(PHONE, 1).await;
    let challenge = first["challenge_id"].as_str().unwrap();
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await.ok(200);
    assert_eq!(login(&app, "203.0.113.5", "d-home").await["decision"], "allow");

    // Another GB network: only the IP is new.
    assert_eq!(login(&app, "192.0.2.44", "d-home").await["reasons"], json!(["new_ip"]));
    // France: IP and country.
    assert_eq!(login(&app, "198.51.100.3", "d-home").await["reasons"], json!(["new_ip", "new_country"]));
    // An IP the database does not know: no country signal.
    assert_eq!(login(&app, "100.64.0.1", "d-home").await["reasons"], json!(["new_ip"]));

    let countries: BTreeMap<String, i64> = app
        .sql_rows("SELECT value, last_verified_at FROM familiar WHERE kind = 'country'")
        .await
        .iter()
        .map(|r| (sqlx::Row::get::<String, _>(r, 0), sqlx::Row::get::<i64, _>(r, 1)))
        .collect();
    assert_eq!(countries.keys().collect::<Vec<_>>(), ["GB"]);
}

#[tokio::test]
async fn turning_2fa_off_ends_pending_challenges_even_once_it_is_on_again() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await; // SMS 1
    let old = login(&app, "198.51.100.7", "d-x").await["challenge_id"].as_str().unwrap().to_owned();
    let old_code = app.twilio.code_after(PHONE, 1).await; // SMS 2
    async fn verify(app: &TestApp, id: &str, code: &str) -> crate::support::Answer {
        let body = json!({"code": code, "ip": "198.51.100.7", "device_id": "d-x"});
        app.post(&format!("/v1/challenges/{id}/verify"), body).await
    }

    // Turned off, with a code to the phone.
    app.advance(time::Duration::minutes(1)).await;
    let started = app.call("POST", "/v1/users/u-1/two-factor/disable", None).await;
    let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
    let code = app.twilio.code_after(PHONE, 2).await; // SMS 3
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": code})).await.ok(200);
    let dead = verify(&app, &old, &old_code).await;
    assert_eq!(dead.problem(409, "flow_state").body["detail"], "this challenge is cancelled");
    app.post(&format!("/v1/challenges/{old}/resend"), json!({})).await.problem(409, "flow_state");

    // On again a minute later: the old challenge stays dead, a new one works.
    app.advance(time::Duration::minutes(1)).await;
    app.user_with_2fa("u-1", PHONE).await; // SMS 4
    verify(&app, &old, &old_code).await.problem(409, "flow_state");
    let new = login(&app, "198.51.100.7", "d-x").await["challenge_id"].as_str().unwrap().to_owned();
    let new_code = app.twilio.code_after(PHONE, 4).await; // SMS 5
    verify(&app, &new, &new_code).await.ok(200);
    verify(&app, &old, &old_code).await.problem(409, "flow_state");
    assert_eq!(app.twilio.sent_to(PHONE).len(), 5, "resending a dead challenge sent nothing");
}

#[tokio::test]
async fn a_challenge_works_once() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let answer = login(&app, "198.51.100.7", "d-home").await;
    let challenge = answer["challenge_id"].as_str().unwrap();
    let code = app.twilio.code_after(PHONE, 1).await;
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await.ok(200);
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await.problem(409, "flow_state");
    app.post(&format!("/v1/challenges/{challenge}/resend"), json!({})).await.problem(409, "flow_state");
    // The code is bound to its challenge: it does not open another one.
    let other = login(&app, "198.51.100.99", "d-home").await;
    let other_id = other["challenge_id"].as_str().unwrap();
    let other_code = app.twilio.code_after(PHONE, 2).await;
    if other_code != code {
        app.post(&format!("/v1/challenges/{other_id}/verify"), json!({"code": code}))
            .await
            .problem(422, "code_mismatch");
    }
}

/// Login decisions are written by group commit (store::writer): many at
/// once share transactions. Whatever the batching, each answer matches
/// what is stored — a refused challenge (send limit) leaves nothing behind
/// and takes nothing from the others — and the chain stays one chain.
#[tokio::test]
async fn concurrent_logins_are_each_written_exactly_as_answered() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await; // 1 of the number's 5 sends
    app.user_with_2fa("u-2", "+447400123457").await;
    app.user("u-3").await;
    let before = app.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    let mut calls = Vec::new();
    for i in 0..30 {
        calls.push(json!({"user_id": "u-1", "ip": format!("198.51.100.{i}"), "device_id": "d-home"}));
        calls.push(json!({"user_id": "u-2", "ip": "203.0.113.5", "device_id": "d-home"}));
        calls.push(json!({"user_id": "u-3", "ip": "198.51.100.1", "device_id": "d-any"}));
        calls.push(json!({"user_id": "nobody", "ip": "198.51.100.1", "device_id": "d-any"}));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for body in calls {
        let (http, url, token) = (app.http.clone(), app.url.clone(), app.token.clone());
        tasks.spawn(async move {
            let answer = crate::support::call_url(&http, &url, Some(&token), "POST", "/v1/logins", Some(body)).await;
            (answer.status, answer.body["decision"].as_str().or(answer.body["code"].as_str()).unwrap().to_owned())
        });
    }
    let mut tally: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for (status, what) in tasks.join_all().await {
        *tally.entry((status, what)).or_default() += 1;
    }
    let expected: BTreeMap<(u16, String), usize> =
        [((200, "allow"), 60), ((200, "challenge"), 4), ((404, "not_found"), 30), ((429, "rate_limited"), 26)]
            .into_iter()
            .map(|((s, w), n)| ((s, w.to_owned()), n))
            .collect();
    assert_eq!(tally, expected);

    let count = |sql: &'static str| app.scalar_i64(sql);
    assert_eq!(count("SELECT COUNT(*) FROM audit_events").await - before, 64);
    assert_eq!(count("SELECT COUNT(*) FROM audit_events WHERE action = 'login.challenged'").await, 4);
    assert_eq!(count("SELECT COUNT(*) FROM challenges WHERE user_id = 'u-1'").await, 4);
    assert_eq!(count("SELECT COUNT(*) FROM notifications WHERE user_id = 'u-1' AND channel = 'sms'").await, 5);
    assert_eq!(count("SELECT COUNT(*) FROM code_sends").await, 6);
    let verified = tollgate_server::cli::verify_chain(&app.server.app.store).await.unwrap();
    let (seq, _, checked) = verified.unwrap_or_else(|broken| panic!("{broken}"));
    assert_eq!(seq, count("SELECT COUNT(*) FROM audit_events").await);
    assert_eq!(i64::try_from(checked).unwrap(), seq);
}
