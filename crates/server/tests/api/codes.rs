//! Code rules: tries per code, expiry, resend, the per-number send limit,
//! and the per-account lockout.

use crate::support::TestApp;
use serde_json::{json, Value};

const PHONE: &str = "+447400123456";

async fn challenge(app: &TestApp) -> String {
    challenge_from(app, "198.51.100.7").await
}

async fn challenge_from(app: &TestApp, ip: &str) -> String {
    let answer = app.post("/v1/logins", json!({"user_id": "u-1", "ip": ip, "device_id": "d-x"})).await;
    answer.ok(200)["challenge_id"].as_str().unwrap().to_owned()
}

fn wrong(code: &str) -> String {
    if code == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

async fn verify(app: &TestApp, challenge: &str, code: &str) -> crate::support::Answer {
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": code})).await
}

#[tokio::test]
async fn five_wrong_tries_kill_the_code_even_for_the_right_one() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let ch = challenge(&app).await;
    let code = app.twilio.code_after(PHONE, 1).await;
    for left in [4, 3, 2, 1, 0] {
        let answer = verify(&app, &ch, &wrong(&code)).await;
        answer.problem(422, "code_mismatch");
        assert_eq!(answer.body["attempts_left"], left);
    }
    verify(&app, &ch, &code).await.problem(429, "too_many_attempts");
    verify(&app, &ch, &wrong(&code)).await.problem(429, "too_many_attempts");
    let locked = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'code.locked'").await;
    assert_eq!(locked, 1);
    let rejected = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'code.rejected'").await;
    assert_eq!(rejected, 5);

    // Resend gives a new code that works.
    let resent = app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await;
    assert_eq!(resent.ok(202)["sent_to"], "+44•••••••456");
    let fresh = app.twilio.code_after(PHONE, 2).await;
    verify(&app, &ch, &fresh).await.ok(200);
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let ch = challenge(&app).await;
    let code = app.twilio.code_after(PHONE, 1).await;
    app.advance(time::Duration::seconds(599)).await;
    let ch2 = ch.clone();
    // Still valid one second before; check with a wrong code so it stays live.
    verify(&app, &ch2, &wrong(&code)).await.problem(422, "code_mismatch");
    app.advance(time::Duration::seconds(1)).await;
    verify(&app, &ch, &code).await.problem(410, "code_expired");
    // A resend revives the challenge with a new code.
    app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
    let fresh = app.twilio.code_after(PHONE, 2).await;
    verify(&app, &ch, &fresh).await.ok(200);
}

#[tokio::test]
async fn resend_kills_the_old_code() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let ch = challenge(&app).await;
    let old = app.twilio.code_after(PHONE, 1).await;
    app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
    let new = app.twilio.code_after(PHONE, 2).await;
    if new != old {
        verify(&app, &ch, &old).await.problem(422, "code_mismatch");
    }
    verify(&app, &ch, &new).await.ok(200);
}

#[tokio::test]
async fn the_sixth_code_to_one_number_in_ten_minutes_is_refused() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await; // send 1
    let ch = challenge(&app).await; // send 2
    for _ in 0..3 {
        app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
        // sends 3..5
    }
    app.twilio.nth_to(PHONE, 5).await;
    let refused = app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await;
    refused.problem(429, "rate_limited");
    let wait = refused.retry_after().expect("Retry-After");
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(refused.body["retry_after"], wait);
    // A login that needs a code and a new flow are refused too; nothing is sent.
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.8", "device_id": "d-y"}))
        .await
        .problem(429, "rate_limited");
    app.call("POST", "/v1/users/u-1/two-factor/disable", None).await.problem(429, "rate_limited");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.twilio.sent_to(PHONE).len(), 5);
    // Another number is not affected.
    app.user("u-2").await;
    app.post("/v1/users/u-2/two-factor/enable", json!({"phone": "+447812000001"})).await.ok(202);

    app.advance(time::Duration::seconds(i64::try_from(wait).unwrap())).await;
    app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
    app.twilio.nth_to(PHONE, 6).await;
}

#[tokio::test]
async fn sends_past_the_limits_window_are_deleted_and_the_limit_counts_the_rest() {
    let app = TestApp::start().await;
    let sends = "SELECT COUNT(*) FROM code_sends";
    app.user_with_2fa("u-1", PHONE).await; // send 1
    for _ in 0..3 {
        challenge(&app).await; // sends 2..4
    }
    assert_eq!(app.scalar_i64(sends).await, 4);
    // Nothing is past the 10-minute window yet.
    assert_eq!(app.server.app.prune_code_sends(2).await.unwrap(), 0);
    assert_eq!(app.scalar_i64(sends).await, 4);

    // Ten minutes on, the first four no longer count; send 5 is the only
    // one in the window. Two rows per transaction: 2 + 2, then a short
    // one that ends the run.
    app.advance(time::Duration::minutes(10)).await;
    challenge(&app).await;
    assert_eq!(app.server.app.prune_code_sends(2).await.unwrap(), 4);
    assert_eq!(app.scalar_i64(sends).await, 1);

    // The limit counts what is left: four more codes, then a refusal.
    for _ in 0..4 {
        challenge(&app).await;
    }
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.9", "device_id": "d-z"}))
        .await
        .problem(429, "rate_limited");
    app.twilio.nth_to(PHONE, 9).await;
    assert_eq!(app.server.app.prune_code_sends(1_000).await.unwrap(), 0);
    assert_eq!(app.scalar_i64(sends).await, 5);
}

#[tokio::test]
async fn twenty_consecutive_wrong_codes_lock_the_account_for_fifteen_minutes() {
    let app = TestApp::start().await;
    let email = app.user_with_2fa("u-1", PHONE).await;
    let ch = challenge(&app).await;
    let mut sent = 2;
    let mut last: Option<crate::support::Answer> = None;
    // Four codes, five wrong tries each: a new code does not reset the count.
    for round in 0..4 {
        if round > 0 {
            app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
            sent += 1;
        }
        let code = app.twilio.code_after(PHONE, sent - 1).await;
        for _ in 0..5 {
            last = Some(verify(&app, &ch, &wrong(&code)).await);
        }
    }
    let locked = last.unwrap();
    locked.problem(429, "account_locked");
    assert_eq!(locked.retry_after(), Some(900));

    let mail = app.smtp.wait(&email, "locked").await;
    assert!(mail.body.contains("198.51.100.7"), "{}", mail.body);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'account.locked'").await, 1);

    // While locked: logins that need a code, code checks, new flows.
    app.advance(time::Duration::minutes(5)).await;
    let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.9", "device_id": "d-z"})).await;
    login.problem(429, "account_locked");
    assert_eq!(login.retry_after(), Some(600));
    verify(&app, &ch, "123456").await.problem(429, "account_locked");
    app.call("POST", "/v1/users/u-1/two-factor/disable", None).await.problem(429, "account_locked");
    app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.problem(429, "account_locked");
    // A familiar login needs no code and still passes.
    let familiar = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "203.0.113.5", "device_id": "d-home"})).await;
    assert_eq!(familiar.ok(200)["decision"], "allow");

    // The lock ends by itself and the count starts again from zero.
    app.advance(time::Duration::minutes(10)).await;
    app.call("POST", &format!("/v1/challenges/{ch}/resend"), None).await.ok(202);
    let code = app.twilio.code_after(PHONE, sent).await;
    let again = verify(&app, &ch, &wrong(&code)).await;
    again.problem(422, "code_mismatch");
    let failures = app.scalar_i64("SELECT failed_codes FROM users WHERE id = 'u-1'").await;
    assert_eq!(failures, 1);
    verify(&app, &ch, &code).await.ok(200);
    assert_eq!(app.scalar_i64("SELECT failed_codes FROM users WHERE id = 'u-1'").await, 0);
}

#[tokio::test]
async fn a_right_code_resets_the_account_count() {
    let app = TestApp::start_with(|c| c.codes.lock_after_failures = 6).await;
    app.user_with_2fa("u-1", PHONE).await;
    let ch = challenge(&app).await;
    let code = app.twilio.code_after(PHONE, 1).await;
    for _ in 0..4 {
        verify(&app, &ch, &wrong(&code)).await.problem(422, "code_mismatch");
    }
    verify(&app, &ch, &code).await.ok(200);
    let ch = challenge_from(&app, "198.51.100.8").await;
    let code = app.twilio.code_after(PHONE, 2).await;
    for _ in 0..5 {
        verify(&app, &ch, &wrong(&code)).await.problem(422, "code_mismatch");
    }
    // 5 since the reset: below 6, not locked.
    let status: Value = app.get("/v1/users/u-1/two-factor").await.ok(200).clone();
    assert_eq!(status["enabled"], true);
    assert_eq!(app.scalar_i64("SELECT failed_codes FROM users WHERE id = 'u-1'").await, 5);
}
