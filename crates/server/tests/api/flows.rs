//! The help page's flows: enable, change phone (old then new), disable —
//! each announced by email with what, when, IP and device.

use crate::support::TestApp;
use serde_json::json;

const PHONE: &str = "+447400123456";
const NEW_PHONE: &str = "+447812654123";

#[tokio::test]
async fn enable_sends_a_code_to_the_new_phone_and_emails_the_change() {
    let app = TestApp::start().await;
    let email = app.user("u-1").await;
    let started = app
        .post(
            "/v1/users/u-1/two-factor/enable",
            json!({"phone": PHONE, "ip": "203.0.113.5", "device_id": "d-home", "user_agent": "Firefox/130"}),
        )
        .await;
    let body = started.ok(202).clone();
    assert_eq!(body["step"], "confirm_new_phone");
    assert_eq!(body["sent_to"], "+44•••••••456");
    let flow = body["flow_id"].as_str().unwrap();
    let sms = app.twilio.nth_to(PHONE, 1).await;
    assert!(sms.body.contains("turn on two-factor"), "{}", sms.body);

    // Still off until confirmed.
    assert_eq!(app.get("/v1/users/u-1/two-factor").await.ok(200)["enabled"], false);
    let wrong = if sms.code() == "000000" { "111111" } else { "000000" };
    let mismatch = app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": wrong})).await;
    mismatch.problem(422, "code_mismatch");
    assert_eq!(mismatch.body["attempts_left"], 4);

    let done = app
        .post(
            &format!("/v1/flows/{flow}/confirm"),
            json!({"code": sms.code(), "ip": "203.0.113.5", "device_id": "d-home"}),
        )
        .await;
    let body = done.ok(200);
    assert_eq!(body["step"], "done");
    assert_eq!(body["two_factor"]["enabled"], true);
    assert_eq!(body["two_factor"]["phone_masked"], "+44•••••••456");
    assert!(body["two_factor"]["enabled_at"].is_string());

    let status = app.get("/v1/users/u-1/two-factor").await;
    assert_eq!(status.ok(200)["enabled"], true);

    let mail = app.smtp.wait(&email, "turned on").await;
    assert_eq!(mail.from, "security@tollgate.test");
    assert!(mail.body.contains("+44•••••••456"), "{}", mail.body);
    assert!(mail.body.contains("203.0.113.5"), "{}", mail.body);
    assert!(mail.body.contains("d-home"), "{}", mail.body);
    assert!(mail.body.contains("When:"), "{}", mail.body);
    assert!(mail.body.contains("If it was not you"), "{}", mail.body);
    assert!(!mail.body.contains("7400123456"), "the whole number must not be emailed");

    // Enabling again is a conflict; the used code is spent.
    app.post("/v1/users/u-1/two-factor/enable", json!({"phone": PHONE}))
        .await
        .problem(409, "two_factor_already_enabled");
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": sms.code()})).await.problem(409, "flow_state");
    app.post(&format!("/v1/flows/{flow}/resend"), json!({})).await.problem(409, "flow_state");

    let actions = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'two_factor.enabled' AND user_id = 'u-1' AND ip = '203.0.113.5'").await;
    assert_eq!(actions, 1);
}

#[tokio::test]
async fn phone_change_needs_the_old_phone_then_the_new_one() {
    let app = TestApp::start().await;
    let email = app.user_with_2fa("u-1", PHONE).await;
    let started =
        app.post("/v1/users/u-1/two-factor/phone-change", json!({"ip": "203.0.113.5", "device_id": "d-home"})).await;
    let body = started.ok(202).clone();
    assert_eq!(body["step"], "confirm_current_phone");
    assert_eq!(body["sent_to"], "+44•••••••456");
    let flow = body["flow_id"].as_str().unwrap();

    // New phone before the old one is proven: out of order.
    app.post(&format!("/v1/flows/{flow}/new-phone"), json!({"phone": NEW_PHONE})).await.problem(409, "flow_state");

    let old_code = app.twilio.code_after(PHONE, 1).await;
    let step = app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": old_code})).await;
    assert_eq!(step.ok(200)["step"], "new_phone_required");
    assert_eq!(step.body["two_factor"]["phone_masked"], "+44•••••••456");
    // A code now is out of order; so is resend (no code is due).
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": old_code})).await.problem(409, "flow_state");
    app.post(&format!("/v1/flows/{flow}/resend"), json!({})).await.problem(409, "flow_state");
    // The same number again is a conflict; a landline is refused.
    app.post(&format!("/v1/flows/{flow}/new-phone"), json!({"phone": PHONE})).await.problem(409, "conflict");
    app.post(&format!("/v1/flows/{flow}/new-phone"), json!({"phone": "+442079460000"}))
        .await
        .problem(422, "invalid_phone");

    let sent = app.post(&format!("/v1/flows/{flow}/new-phone"), json!({"phone": NEW_PHONE})).await;
    assert_eq!(sent.ok(202)["step"], "confirm_new_phone");
    assert_eq!(sent.body["sent_to"], "+44•••••••123");
    let new_code = app.twilio.code_after(NEW_PHONE, 0).await;
    assert!(app.twilio.nth_to(NEW_PHONE, 1).await.body.contains("new two-factor phone"));
    let done = app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": new_code, "ip": "203.0.113.5"})).await;
    assert_eq!(done.ok(200)["step"], "done");
    assert_eq!(done.body["two_factor"]["phone_masked"], "+44•••••••123");

    let mail = app.smtp.wait(&email, "phone number was changed").await;
    assert!(mail.body.contains("+44•••••••456") && mail.body.contains("+44•••••••123"), "{}", mail.body);
    // Codes now go to the new phone.
    let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.9", "device_id": "d-new"})).await;
    assert_eq!(login.ok(200)["decision"], "challenge");
    app.twilio.nth_to(NEW_PHONE, 2).await;
    assert_eq!(app.twilio.sent_to(PHONE).len(), 2, "the old phone gets nothing more");
}

#[tokio::test]
async fn disable_needs_a_code_to_the_current_phone() {
    let app = TestApp::start().await;
    let email = app.user_with_2fa("u-1", PHONE).await;
    let started = app.call("POST", "/v1/users/u-1/two-factor/disable", None).await;
    let body = started.ok(202).clone();
    assert_eq!(body["step"], "confirm_current_phone");
    let flow = body["flow_id"].as_str().unwrap();
    let code = app.twilio.code_after(PHONE, 1).await;
    assert!(app.twilio.nth_to(PHONE, 2).await.body.contains("turn off"));
    let done = app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": code})).await;
    assert_eq!(done.ok(200)["step"], "done");
    assert_eq!(done.body["two_factor"]["enabled"], false);
    assert_eq!(done.body["two_factor"]["phone_masked"], serde_json::Value::Null);
    let mail = app.smtp.wait(&email, "turned off").await;
    assert!(mail.body.contains("an unknown address"), "no IP was given: {}", mail.body);

    app.call("POST", "/v1/users/u-1/two-factor/disable", None).await.problem(409, "two_factor_not_enabled");
    app.call("POST", "/v1/users/u-1/two-factor/phone-change", None).await.problem(409, "two_factor_not_enabled");
    // Logins pass again, with the set-up banner.
    let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.9", "device_id": "d-new"})).await;
    assert_eq!(login.ok(200)["decision"], "allow");
    assert_eq!(login.body["suggest_two_factor_setup"], true);
}

#[tokio::test]
async fn a_new_flow_cancels_the_open_one_and_flows_expire_with_their_code() {
    let app = TestApp::start().await;
    app.user("u-1").await;
    let first = app.post("/v1/users/u-1/two-factor/enable", json!({"phone": PHONE})).await;
    let first_flow = first.ok(202)["flow_id"].as_str().unwrap().to_owned();
    let first_code = app.twilio.code_after(PHONE, 0).await;
    let second = app.post("/v1/users/u-1/two-factor/enable", json!({"phone": NEW_PHONE})).await;
    let second_flow = second.ok(202)["flow_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/flows/{first_flow}/confirm"), json!({"code": first_code})).await.problem(409, "flow_state");

    app.twilio.code_after(NEW_PHONE, 0).await;
    app.advance(time::Duration::minutes(10)).await;
    app.post(&format!("/v1/flows/{second_flow}/confirm"), json!({"code": "123456"})).await.problem(410, "code_expired");
    app.post(&format!("/v1/flows/{second_flow}/resend"), json!({})).await.problem(410, "code_expired");
    assert_eq!(app.get("/v1/users/u-1/two-factor").await.ok(200)["enabled"], false);
}

#[tokio::test]
async fn flow_resend_sends_a_new_code_and_kills_the_old_one() {
    let app = TestApp::start().await;
    app.user("u-1").await;
    let started = app.post("/v1/users/u-1/two-factor/enable", json!({"phone": PHONE})).await;
    let flow = started.ok(202)["flow_id"].as_str().unwrap().to_owned();
    let old = app.twilio.code_after(PHONE, 0).await;
    let resent = app.call("POST", &format!("/v1/flows/{flow}/resend"), None).await;
    assert_eq!(resent.ok(202)["sent_to"], "+44•••••••456");
    let new = app.twilio.code_after(PHONE, 1).await;
    if old != new {
        app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": old})).await.problem(422, "code_mismatch");
    }
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": new})).await.ok(200);
}
