//! The admin API: scope (another manager's contract is 404, a revoked token
//! 401), lookups, notification history, disabling 2FA for a user or a whole
//! contract (atomic), and the audit export (CSV and NDJSON).

use crate::support::{Answer, TestApp};
use serde_json::{json, Value};
use sqlx::Row;
use tollgate_proto::admin::AuditRecord;

const PHONE: &str = "+447400123456";

async fn get(app: &TestApp, token: &str, path: &str) -> Answer {
    app.call_as(Some(token), "GET", path, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    app.call_as(Some(token), "POST", path, Some(body)).await
}

/// Two contracts, each with a 2FA user and a plain user; manager A has C-1.
async fn two_contracts(app: &TestApp) -> (String, String) {
    app.user_with_2fa("u-1", PHONE).await; // in C-1
    app.user("u-2").await;
    app.put("/v1/contracts/C-2", json!({"name": "Globex"})).await.ok(201);
    for (uid, email) in [("u-3", "u3@globex.test"), ("u-4", "u4@globex.test")] {
        app.put(&format!("/v1/users/{uid}"), json!({"contract_id": "C-2", "email": email, "display_name": "Bo Lee"}))
            .await
            .ok(201);
    }
    app.post("/v1/users/u-3/two-factor/enable", json!({"phone": "+447812000001"})).await.ok(202);
    let code = app.twilio.code_after("+447812000001", 0).await;
    let flow = app.sql_rows("SELECT id FROM flows WHERE user_id = 'u-3'").await[0].get::<String, _>(0);
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": code})).await.ok(200);
    let (_, a) = app.manager(&["C-1"]).await;
    let (_, b) = app.manager(&["C-2"]).await;
    (a, b)
}

#[tokio::test]
async fn a_manager_sees_only_assigned_contracts_everything_else_is_404() {
    let app = TestApp::start().await;
    let (a, b) = two_contracts(&app).await;
    let reason = json!({"reason": "customer asked"});
    // Every admin endpoint, aimed at the other manager's contract or user.
    for path in [
        "/v1/admin/contracts/C-2",
        "/v1/admin/contracts/C-2/users",
        "/v1/admin/users/u-3",
        "/v1/admin/users/u-3/notifications",
        "/v1/admin/audit?contract_id=C-2",
        "/v1/admin/audit?user_id=u-3",
        // Unknown ones look the same.
        "/v1/admin/contracts/C-404",
        "/v1/admin/users/u-404",
    ] {
        let answer = get(&app, &a, path).await;
        answer.problem(404, "not_found");
        assert!(!answer.body.to_string().contains("Globex"), "{path}");
    }
    post(&app, &a, "/v1/admin/users/u-3/two-factor/disable", reason.clone()).await.problem(404, "not_found");
    post(&app, &a, "/v1/admin/contracts/C-2/two-factor/disable", reason.clone()).await.problem(404, "not_found");
    // Lists and exports never show the other contract.
    let contracts = get(&app, &a, "/v1/admin/contracts").await;
    let ids: Vec<&str> =
        contracts.ok(200)["items"].as_array().unwrap().iter().map(|c| c["contract_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["C-1"]);
    let users = get(&app, &a, "/v1/admin/users?q=u-").await;
    let ids: Vec<&str> =
        users.ok(200)["items"].as_array().unwrap().iter().map(|u| u["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u-1", "u-2"]);
    let export =
        app.http.get(format!("{}/v1/admin/audit", app.url)).bearer_auth(&a).send().await.unwrap().text().await.unwrap();
    assert!(export.contains("u-1") && !export.contains("C-2") && !export.contains("u-3"), "{export}");
    // B still has it: nothing was changed by A's attempts.
    assert_eq!(get(&app, &b, "/v1/admin/users/u-3").await.ok(200)["two_factor"]["enabled"], true);

    // Tokens: none, a service token, a revoked manager token: 401 everywhere.
    let (m, revoked) = app.manager(&["C-1"]).await;
    assert_eq!(get(&app, &revoked, "/v1/admin/me").await.ok(200)["contracts"], 1);
    tollgate_server::managers::revoke(&app.server.app, &m).await.unwrap();
    for path in [
        "/v1/admin/me",
        "/v1/admin/contracts",
        "/v1/admin/contracts/C-1",
        "/v1/admin/contracts/C-1/users",
        "/v1/admin/users",
        "/v1/admin/users/u-1",
        "/v1/admin/users/u-1/notifications",
        "/v1/admin/audit",
    ] {
        get(&app, &revoked, path).await.problem(401, "unauthorized");
        get(&app, &app.token, path).await.problem(401, "unauthorized");
        app.call_as(None, "GET", path, None).await.problem(401, "unauthorized");
    }
    post(&app, &revoked, "/v1/admin/users/u-1/two-factor/disable", reason.clone()).await.problem(401, "unauthorized");
    post(&app, &revoked, "/v1/admin/contracts/C-1/two-factor/disable", reason).await.problem(401, "unauthorized");
    // A manager token is no service token.
    app.call_as(Some(&a), "GET", "/v1/users/u-1/two-factor", None).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn lookups_search_and_pages() {
    let app = TestApp::start().await;
    let (a, _) = two_contracts(&app).await;
    let me = get(&app, &a, "/v1/admin/me").await;
    assert_eq!(me.ok(200)["name"], "Dana Whitfield");
    assert_eq!(me.body["contracts"], 1);
    let contract = get(&app, &a, "/v1/admin/contracts/C-1").await;
    let body = contract.ok(200);
    assert_eq!(
        (body["name"].as_str(), body["users"].as_u64(), body["users_with_two_factor"].as_u64()),
        (Some("Acme"), Some(2), Some(1))
    );

    // q: id or name, case-insensitive substring; LIKE wildcards are literal.
    for (q, found) in [("acm", 1), ("ACME", 1), ("c-1", 1), ("zzz", 0), ("%", 0), ("_", 0)] {
        let page = get(&app, &a, &format!("/v1/admin/contracts?q={}", urlencode(q))).await;
        assert_eq!(page.ok(200)["items"].as_array().unwrap().len(), found, "q={q}");
    }
    // updated_since: the contract moved when u-1 enabled 2FA.
    let updated = body["updated_at"].as_str().unwrap().to_owned();
    let since = get(&app, &a, &format!("/v1/admin/contracts?updated_since={}", urlencode(&updated))).await;
    assert_eq!(since.ok(200)["items"].as_array().unwrap().len(), 1);
    app.advance(time::Duration::seconds(1)).await;
    let later = (app.clock_now()).format(&time::format_description::well_known::Rfc3339).unwrap();
    let none = get(&app, &a, &format!("/v1/admin/contracts?updated_since={}", urlencode(&later))).await;
    assert_eq!(none.ok(200)["items"], json!([]));
    get(&app, &a, "/v1/admin/contracts?updated_since=yesterday").await.problem(400, "invalid_request");
    get(&app, &a, "/v1/admin/contracts?limit=501").await.problem(400, "invalid_request");
    get(&app, &a, "/v1/admin/contracts?cursor=%21%21").await.problem(400, "invalid_request");
    get(&app, &a, "/v1/admin/contracts?colour=red").await.problem(400, "invalid_request");

    // Users of a contract, one per page, following the cursor.
    let mut seen = Vec::new();
    let mut path = "/v1/admin/contracts/C-1/users?limit=1".to_owned();
    loop {
        let page = get(&app, &a, &path).await;
        let body = page.ok(200).clone();
        for u in body["items"].as_array().unwrap() {
            seen.push((u["user_id"].as_str().unwrap().to_owned(), u["two_factor"]["enabled"].as_bool().unwrap()));
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/admin/contracts/C-1/users?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [("u-1".to_owned(), true), ("u-2".to_owned(), false)]);
    let filtered = get(&app, &a, "/v1/admin/contracts/C-1/users?q=U-2%40EXAMPLE").await;
    assert_eq!(filtered.ok(200)["items"][0]["user_id"], "u-2");
    let user = get(&app, &a, "/v1/admin/users/u-1").await;
    assert_eq!(user.ok(200)["contract_id"], "C-1");
    assert_eq!(user.body["two_factor"]["phone_masked"], "+44•••••••456");
    let by_email = get(&app, &a, "/v1/admin/users?q=u-1@EXAMPLE.com").await;
    assert_eq!(by_email.ok(200)["items"][0]["user_id"], "u-1");
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn notification_history_shows_queued_sent_and_failed_deliveries() {
    let app = TestApp::start().await;
    let email = app.user("u-1").await;
    let flow = app.post("/v1/users/u-1/two-factor/enable", json!({"phone": PHONE})).await.ok(202)["flow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.twilio.code_after(PHONE, 0).await;
    app.advance(time::Duration::seconds(1)).await;
    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": code})).await.ok(200);
    app.smtp.wait(&email, "turned on").await;
    app.drain_outbox().await;
    app.advance(time::Duration::seconds(1)).await;
    // A login code Twilio refuses for good, then one it cannot take now.
    app.twilio
        .script(400, json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient +447400123456"}));
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.1", "device_id": "d-1"})).await.ok(200);
    app.drain_outbox().await;
    app.advance(time::Duration::seconds(1)).await;
    app.twilio.script(503, json!({"code": 20503, "message": "Service Unavailable"}));
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.2", "device_id": "d-2"})).await.ok(200);
    let mut waited = 0;
    while app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE attempts = 1 AND status = 'queued'").await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 500, "the 503 attempt was not recorded");
    }
    let (_, token) = app.manager(&["C-1"]).await;
    let history = get(&app, &token, "/v1/admin/users/u-1/notifications").await;
    let items = history.ok(200)["items"].as_array().unwrap().clone();
    let summary: Vec<(&str, &str, &str, u64)> = items
        .iter()
        .map(|n| {
            (
                n["channel"].as_str().unwrap(),
                n["purpose"].as_str().unwrap(),
                n["status"].as_str().unwrap(),
                n["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("sms", "login_code", "queued", 1),
            ("sms", "login_code", "failed", 1),
            ("email", "two_factor_enabled", "sent", 1),
            ("sms", "enable_code", "sent", 1),
        ]
    );
    assert!(items[0]["last_error"].as_str().unwrap().contains("20503"));
    assert!(items[1]["last_error"].as_str().unwrap().contains("21610"));
    assert_eq!(items[2]["recipient_masked"], "u•••@example.com");
    assert_eq!(items[3]["recipient_masked"], "+44•••••••456");
    assert!(items[2]["sent_at"].is_string() && items[0]["sent_at"].is_null());
    let text = history.body.to_string();
    assert!(!text.contains("7400123456"), "a whole phone number leaked: {text}");
    for sms in app.twilio.sent() {
        assert!(!text.contains(&sms.code()), "a code leaked");
    }
    // Pages: two at a time, newest first, nothing lost or repeated.
    let first = get(&app, &token, "/v1/admin/users/u-1/notifications?limit=2").await;
    let cursor = first.ok(200)["next_cursor"].as_str().unwrap().to_owned();
    let second = get(&app, &token, &format!("/v1/admin/users/u-1/notifications?limit=2&cursor={cursor}")).await;
    let ids: Vec<Value> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.ok(200)["items"].as_array().unwrap())
        .map(|n| n["notification_id"].clone())
        .collect();
    assert_eq!(ids, items.iter().map(|n| n["notification_id"].clone()).collect::<Vec<_>>());
    assert_eq!(second.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn disabling_one_user_emails_audits_cancels_and_is_idempotent() {
    let app = TestApp::start().await;
    let email = app.user_with_2fa("u-1", PHONE).await;
    let (manager_id, token) = app.manager(&["C-1"]).await;
    // Pending work of the user: a phone-change flow and a login challenge.
    let flow = app.call("POST", "/v1/users/u-1/two-factor/phone-change", None).await.ok(202)["flow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let flow_code = app.twilio.code_after(PHONE, 1).await;
    let challenge =
        app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.1", "device_id": "d"})).await.ok(200)
            ["challenge_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let challenge_code = app.twilio.code_after(PHONE, 2).await;

    post(&app, &token, "/v1/admin/users/u-1/two-factor/disable", json!({"reason": ""}))
        .await
        .problem(400, "invalid_request");
    post(&app, &token, "/v1/admin/users/u-1/two-factor/disable", json!({"reason": "x".repeat(501)}))
        .await
        .problem(400, "invalid_request");
    post(&app, &token, "/v1/admin/users/u-1/two-factor/disable", json!({})).await.problem(400, "invalid_request");
    let reason = "Lost phone; confirmed by ticket #4411";
    let done = post(&app, &token, "/v1/admin/users/u-1/two-factor/disable", json!({"reason": reason})).await;
    assert_eq!(done.ok(200)["changed"], true);
    assert_eq!(done.body["two_factor"]["enabled"], false);
    assert_eq!(app.get("/v1/users/u-1/two-factor").await.ok(200)["enabled"], false);

    let mail = app.smtp.wait(&email, "by your account manager").await;
    assert!(mail.body.contains("your account manager"), "{}", mail.body);
    assert!(!mail.body.contains("4411"), "the reason is not sent to the user");
    let event = &app
        .sql_rows(
            "SELECT actor_kind, actor_id, detail FROM audit_events WHERE action = 'two_factor.disabled_by_manager'",
        )
        .await;
    assert_eq!(event.len(), 1);
    assert_eq!(event[0].get::<String, _>(0), "manager");
    assert_eq!(event[0].get::<String, _>(1), manager_id);
    let detail: Value = serde_json::from_str(&event[0].get::<String, _>(2)).unwrap();
    assert_eq!(detail["reason"], reason);

    app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": flow_code})).await.problem(409, "flow_state");
    app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": challenge_code}))
        .await
        .problem(409, "flow_state");

    let again = post(&app, &token, "/v1/admin/users/u-1/two-factor/disable", json!({"reason": reason})).await;
    assert_eq!(again.ok(200)["changed"], false);
    app.drain_outbox().await;
    assert_eq!(app.smtp.to(&email).iter().filter(|m| m.subject.contains("account manager")).count(), 1);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'two_factor.disabled_by_manager'").await,
        1
    );
}

async fn contract_of_three(app: &TestApp) -> String {
    app.put("/v1/contracts/C-9", json!({"name": "Initech"})).await.ok(201);
    for (i, phone) in ["+447812000011", "+447812000012", "+447812000013"].iter().enumerate() {
        let uid = format!("u-9{i}");
        app.put(
            &format!("/v1/users/{uid}"),
            json!({"contract_id": "C-9", "email": format!("{uid}@initech.test"), "display_name": "P"}),
        )
        .await
        .ok(201);
        let flow = app.post(&format!("/v1/users/{uid}/two-factor/enable"), json!({"phone": phone})).await.ok(202)
            ["flow_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let code = app.twilio.code_after(phone, 0).await;
        app.post(&format!("/v1/flows/{flow}/confirm"), json!({"code": code})).await.ok(200);
    }
    app.put("/v1/users/u-99", json!({"contract_id": "C-9", "email": "u-99@initech.test", "display_name": "No 2FA"}))
        .await
        .ok(201);
    app.drain_outbox().await;
    app.manager(&["C-9"]).await.1
}

#[tokio::test]
async fn disabling_a_whole_contract_changes_everyone_once() {
    let app = TestApp::start().await;
    let token = contract_of_three(&app).await;
    let before = get(&app, &token, "/v1/admin/contracts/C-9").await.ok(200).clone();
    assert_eq!(before["users_with_two_factor"], 3);
    // A login of u-91's waits for its code.
    let login = app.post("/v1/logins", json!({"user_id": "u-91", "ip": "198.51.100.7", "device_id": "d-x"})).await;
    let challenge = login.ok(200)["challenge_id"].as_str().unwrap().to_owned();
    let challenge_code = app.twilio.code_after("+447812000012", 1).await;
    app.advance(time::Duration::seconds(5)).await;
    let bad = post(&app, &token, "/v1/admin/contracts/C-9/two-factor/disable", json!({"reason": "  "})).await;
    bad.problem(400, "invalid_request");
    let done =
        post(&app, &token, "/v1/admin/contracts/C-9/two-factor/disable", json!({"reason": "company-wide migration"}))
            .await;
    assert_eq!(done.ok(200), &json!({"contract_id": "C-9", "disabled": 3}));
    let after = get(&app, &token, "/v1/admin/contracts/C-9").await.ok(200).clone();
    assert_eq!(after["users_with_two_factor"], 0);
    assert!(after["updated_at"].as_str() > before["updated_at"].as_str());
    for i in 0..3 {
        app.smtp.wait(&format!("u-9{i}@initech.test"), "by your account manager").await;
    }
    assert!(app.smtp.to("u-99@initech.test").is_empty());
    assert_eq!(
        app.scalar_i64(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'two_factor.disabled_by_manager' AND contract_id = 'C-9'"
        )
        .await,
        3
    );
    let again = post(&app, &token, "/v1/admin/contracts/C-9/two-factor/disable", json!({"reason": "again"})).await;
    assert_eq!(again.ok(200)["disabled"], 0);
    // Its code no longer opens anything.
    let late = app.post(&format!("/v1/challenges/{challenge}/verify"), json!({"code": challenge_code})).await;
    assert_eq!(late.problem(409, "flow_state").body["detail"], "this challenge is cancelled");
}

#[tokio::test]
async fn a_whole_contract_disable_is_all_or_nothing() {
    let app = TestApp::start().await;
    let token = contract_of_three(&app).await;
    let events = app.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    let mails = app.scalar_i64("SELECT COUNT(*) FROM notifications").await;
    // Inject a failure midway: the second user's email cannot be queued.
    let pool = app.server.app.store.pool();
    let inject: &[&str] = if app.on_postgres() {
        &[
            "CREATE FUNCTION fail_midway() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            "CREATE TRIGGER fail_midway BEFORE INSERT ON notifications FOR EACH ROW \
             WHEN (NEW.user_id = 'u-91') EXECUTE FUNCTION fail_midway()",
        ]
    } else {
        &["CREATE TRIGGER fail_midway BEFORE INSERT ON notifications WHEN NEW.user_id = 'u-91' \
           BEGIN SELECT RAISE(ABORT, 'injected failure'); END"]
    };
    for sql in inject {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let failed = post(&app, &token, "/v1/admin/contracts/C-9/two-factor/disable", json!({"reason": "migration"})).await;
    failed.problem(500, "internal");
    assert!(!failed.body.to_string().contains("injected"), "database details must not leak");
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM users WHERE contract_id = 'C-9' AND enabled_at IS NOT NULL").await,
        3
    );
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM audit_events").await, events);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications").await, mails);
    // Without the fault it goes through.
    let drop = if app.on_postgres() { "DROP TRIGGER fail_midway ON notifications" } else { "DROP TRIGGER fail_midway" };
    sqlx::query(drop).execute(pool).await.unwrap();
    let done = post(&app, &token, "/v1/admin/contracts/C-9/two-factor/disable", json!({"reason": "migration"})).await;
    assert_eq!(done.ok(200)["disabled"], 3);
}

#[test]
fn csv_export_golden_with_formula_injection_cells() {
    use tollgate_server::routes::admin::audit::{encode, Format};
    use tollgate_server::store::audit::EventRow;
    let row = |seq: i64, actor_id: &str, action: &str, user: &str, detail: &str| EventRow {
        seq,
        at: 1_795_000_000_000 + seq * 1000,
        actor_kind: "user".into(),
        actor_id: actor_id.into(),
        action: action.into(),
        contract_id: Some("C-1".into()),
        user_id: Some(user.into()),
        ip: Some("203.0.113.5".into()),
        detail: detail.into(),
        prev_hash: "a".repeat(64),
        hash: "b".repeat(64),
    };
    let rows = [
        row(1, "=HYPERLINK(\"http://x\")", "login.allowed", "u-1", "{}"),
        row(2, "+1", "two_factor.enabled", "-2+3", r#"{"phone_masked":"+44•••••••456"}"#),
        row(3, "@SUM(A1)", "code.rejected", "\tu", "{\"a\":1}"),
        row(4, "\rcmd", "login.challenged", "u, \"quoted\"", "plain"),
    ];
    let csv = String::from_utf8(encode(&rows, Format::Csv, true).unwrap()).unwrap();
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    let expected = format!(
        "seq,at,actor_kind,actor_id,action,contract_id,user_id,ip,detail,prev_hash,hash\n\
         1,2026-11-18T11:06:41Z,user,\"'=HYPERLINK(\"\"http://x\"\")\",login.allowed,C-1,u-1,203.0.113.5,{{}},{a},{b}\n\
         2,2026-11-18T11:06:42Z,user,'+1,two_factor.enabled,C-1,'-2+3,203.0.113.5,\"{{\"\"phone_masked\"\":\"\"+44•••••••456\"\"}}\",{a},{b}\n\
         3,2026-11-18T11:06:43Z,user,'@SUM(A1),code.rejected,C-1,'\tu,203.0.113.5,\"{{\"\"a\"\":1}}\",{a},{b}\n\
         4,2026-11-18T11:06:44Z,user,\"'\rcmd\",login.challenged,C-1,\"u, \"\"quoted\"\"\",203.0.113.5,plain,{a},{b}\n"
    );
    assert_eq!(csv, expected);
    assert!(!csv.starts_with('\u{feff}'), "no byte-order mark");
}

#[tokio::test]
async fn audit_export_streams_csv_and_ndjson_with_filters() {
    let app = TestApp::start().await;
    let (a, _) = two_contracts(&app).await;
    let t_mid = app.clock_now();
    app.advance(time::Duration::minutes(1)).await;
    app.post("/v1/logins", json!({"user_id": "u-2", "ip": "198.51.100.1", "device_id": "d"})).await.ok(200);
    let fetch = |query: String| {
        let req = app.http.get(format!("{}/v1/admin/audit{query}", app.url)).bearer_auth(&a);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            (res.headers()["content-type"].to_str().unwrap().to_owned(), res.text().await.unwrap())
        }
    };
    let (kind, csv) = fetch(String::new()).await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), tollgate_proto::admin::AUDIT_CSV_HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let in_scope = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE contract_id = 'C-1'").await;
    assert_eq!(rows.len() as i64, in_scope);
    assert!(rows.iter().all(|r| &r[5] == "C-1"));

    let (kind, ndjson) = fetch("?format=ndjson&user_id=u-2".into()).await;
    assert_eq!(kind, "application/x-ndjson");
    let records: Vec<AuditRecord> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["user.created", "login.allowed"]);
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));

    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (_, after) =
        fetch(format!("?format=ndjson&since={}", urlencode(&rfc(t_mid + time::Duration::seconds(1))))).await;
    let actions: Vec<String> = after.lines().map(|l| serde_json::from_str::<AuditRecord>(l).unwrap().action).collect();
    assert_eq!(actions, ["login.allowed"]);
    let (_, before) =
        fetch(format!("?format=ndjson&until={}", urlencode(&rfc(t_mid + time::Duration::seconds(1))))).await;
    assert_eq!(before.lines().count() as i64, in_scope - 1);
    let bad = get(&app, &a, "/v1/admin/audit?format=xml").await;
    bad.problem(400, "invalid_request");
    get(&app, &a, "/v1/admin/audit?since=last-week").await.problem(400, "invalid_request");
}
