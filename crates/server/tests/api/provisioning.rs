//! Provisioning, authentication and bad input: every failure is a clear
//! problem+json 4xx, never a 500.

use crate::support::TestApp;
use serde_json::json;

#[tokio::test]
async fn contracts_and_users_are_created_then_updated() {
    let app = TestApp::start().await;
    let created = app.put("/v1/contracts/C-10042", json!({"name": "Acme Ltd"})).await;
    assert_eq!(created.ok(201)["contract_id"], "C-10042");
    assert_eq!(created.body["name"], "Acme Ltd");
    let updated = app.put("/v1/contracts/C-10042", json!({"name": "Acme Group"})).await;
    assert_eq!(updated.ok(200)["name"], "Acme Group");

    let user = app
        .put("/v1/users/u-7781", json!({"contract_id": "C-10042", "email": "ann@acme.test", "display_name": "Ann"}))
        .await;
    let body = user.ok(201);
    assert_eq!(body["user_id"], "u-7781");
    assert_eq!(body["contract_id"], "C-10042");
    assert_eq!(
        body["two_factor"],
        json!({"enabled": false, "phone_masked": null, "enabled_at": null, "last_verified_at": null})
    );
    let again = app
        .put("/v1/users/u-7781", json!({"contract_id": "C-10042", "email": "ann@acme.test", "display_name": "Ann B"}))
        .await;
    assert_eq!(again.ok(200)["display_name"], "Ann B");

    let status = app.get("/v1/users/u-7781/two-factor").await;
    assert_eq!(status.ok(200)["enabled"], false);

    let actions: Vec<String> = app
        .sql_rows("SELECT action FROM audit_events ORDER BY seq")
        .await
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, 0))
        .collect();
    assert_eq!(actions, ["contract.created", "contract.updated", "user.created", "user.updated"]);
    let kinds = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE actor_kind = 'service'").await;
    assert_eq!(kinds, 4);
}

#[tokio::test]
async fn user_of_an_unknown_contract_is_not_found() {
    let app = TestApp::start().await;
    app.put("/v1/users/u-1", json!({"contract_id": "C-404", "email": "a@b.test", "display_name": "A"}))
        .await
        .problem(404, "not_found");
    app.get("/v1/users/u-nobody/two-factor").await.problem(404, "not_found");
    app.post("/v1/logins", json!({"user_id": "u-nobody", "ip": "203.0.113.1", "device_id": "d"}))
        .await
        .problem(404, "not_found");
    app.post("/v1/challenges/ch_unknown/verify", json!({"code": "123456"})).await.problem(404, "not_found");
    app.post("/v1/challenges/ch_unknown/resend", json!({})).await.problem(404, "not_found");
    app.post("/v1/flows/fl_unknown/confirm", json!({"code": "123456"})).await.problem(404, "not_found");
    app.post("/v1/flows/fl_unknown/new-phone", json!({"phone": "+447400123456"})).await.problem(404, "not_found");
    app.post("/v1/flows/fl_unknown/resend", json!({})).await.problem(404, "not_found");
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let app = TestApp::start().await;
    let body = Some(json!({"name": "Acme"}));
    app.call_as(None, "PUT", "/v1/contracts/C-1", body.clone()).await.problem(401, "unauthorized");
    app.call_as(Some("tgs_wrong"), "PUT", "/v1/contracts/C-1", body.clone()).await.problem(401, "unauthorized");
    app.call_as(Some("tgm_a-manager-token"), "GET", "/v1/users/u-1/two-factor", None)
        .await
        .problem(401, "unauthorized");
    // Health needs no token.
    assert_eq!(app.call_as(None, "GET", "/healthz", None).await.ok(200)["status"], "ok");
    assert_eq!(app.call_as(None, "GET", "/readyz", None).await.ok(200)["status"], "ready");
    // The token is stored hashed, never in clear.
    let stored =
        app.scalar_i64(&format!("SELECT COUNT(*) FROM service_tokens WHERE token_hash = '{}'", app.token)).await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let app = TestApp::start().await;
    app.user("u-1").await;
    // Bad ids.
    app.put("/v1/contracts/C%201", json!({"name": "x"})).await.problem(400, "invalid_request");
    let long = "a".repeat(65);
    app.put(&format!("/v1/contracts/{long}"), json!({"name": "x"})).await.problem(400, "invalid_request");
    app.get("/v1/users/u%2F1/two-factor").await.problem(400, "invalid_request");
    // Bad fields.
    app.put("/v1/contracts/C-2", json!({"name": ""})).await.problem(400, "invalid_request");
    app.put("/v1/contracts/C-2", json!({"name": "x", "colour": "red"})).await.problem(400, "invalid_request");
    app.put("/v1/contracts/C-2", json!({})).await.problem(400, "invalid_request");
    app.put("/v1/users/u-2", json!({"contract_id": "C-1", "email": "nope", "display_name": "A"}))
        .await
        .problem(400, "invalid_request");
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "999.1.1.1", "device_id": "d"}))
        .await
        .problem(400, "invalid_request");
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "203.0.113.1", "device_id": ""}))
        .await
        .problem(400, "invalid_request");
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "203.0.113.1"})).await.problem(400, "invalid_request");
    // Malformed JSON, wrong type, missing body, wrong content type.
    let raw = |body: &'static str, kind: &'static str| {
        app.http
            .post(format!("{}/v1/logins", app.url))
            .bearer_auth(&app.token)
            .header("content-type", kind)
            .body(body)
            .send()
    };
    for (body, kind, status) in [
        ("{\"user_id\": ", "application/json", 400),
        ("[1,2]", "application/json", 400),
        ("", "application/json", 400),
        ("user_id=u-1", "application/x-www-form-urlencoded", 415),
    ] {
        let res = raw(body, kind).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_request");
    }
    // Oversized body.
    let huge = json!({"name": "x".repeat(64 * 1024)});
    app.put("/v1/contracts/C-3", huge).await.problem(413, "invalid_request");
    // Unknown endpoint and method.
    app.get("/v1/nothing-here").await.problem(404, "not_found");
    app.call("DELETE", "/v1/logins", None).await.problem(405, "invalid_request");
    // Phones: not E.164, fixed line, premium rate.
    for phone in ["07400123456", "+44 7400 123456", "+442079460000", "+449098790000", "12345"] {
        app.post("/v1/users/u-1/two-factor/enable", json!({"phone": phone})).await.problem(422, "invalid_phone");
    }
    // Codes of the wrong length.
    app.post("/v1/challenges/ch_x/verify", json!({"code": "12345"})).await.problem(400, "invalid_request");
    app.post("/v1/flows/fl_x/confirm", json!({"code": "1234567"})).await.problem(400, "invalid_request");
    app.post("/v1/flows/fl_x/confirm", json!({"code": "12a456"})).await.problem(400, "invalid_request");
}
