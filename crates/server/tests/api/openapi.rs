//! `/openapi.json` matches what the server does: every documented operation
//! is served, answers only documented statuses, and its JSON answers carry
//! exactly the documented fields.

use crate::support::TestApp;
use serde_json::{json, Value};

const PHONE: &str = "+447400123456";

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// The body's keys are the schema's properties, and cover its required ones.
fn check_shape(spec: &Value, schema: &Value, body: &Value, at: &str) {
    let schema = resolve(spec, schema);
    let Some(props) = schema["properties"].as_object() else { return };
    let Some(obj) = body.as_object() else { panic!("{at}: expected an object, got {body}") };
    for key in obj.keys() {
        assert!(props.contains_key(key), "{at}: field {key:?} is not documented");
    }
    for req in schema["required"].as_array().into_iter().flatten() {
        assert!(obj.contains_key(req.as_str().unwrap()), "{at}: documented required field {req} missing");
    }
    for (key, value) in obj {
        let prop = &props[key];
        if prop.get("$ref").is_some() && value.is_object() {
            check_shape(spec, prop, value, &format!("{at}.{key}"));
        }
        if let (Some(items), Some(list)) = (prop.get("items"), value.as_array()) {
            for item in list {
                check_shape(spec, items, item, &format!("{at}.{key}[]"));
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    let (_, manager) = app.manager(&["C-1"]).await;
    let login = app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.1", "device_id": "d"})).await;
    let challenge = login.ok(200)["challenge_id"].as_str().unwrap().to_owned();
    let flow = app.call("POST", "/v1/users/u-1/two-factor/phone-change", None).await.ok(202)["flow_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let spec: Value = app.http.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 24, "documented paths");

    let mut checked = 0;
    for (template, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let path = template
                .replace("{contract_id}", "C-1")
                .replace("{user_id}", "u-1")
                .replace("{challenge_id}", &challenge)
                .replace("{flow_id}", &flow);
            let body = match (method.as_str(), template.as_str()) {
                ("put", "/v1/contracts/{contract_id}") => Some(json!({"name": "Acme"})),
                ("put", "/v1/users/{user_id}") => {
                    Some(json!({"contract_id": "C-1", "email": "u-1@example.com", "display_name": "Ann"}))
                }
                (_, "/v1/logins") => Some(json!({"user_id": "u-1", "ip": "203.0.113.5", "device_id": "d-home"})),
                (_, p) if p.ends_with("/verify") || p.ends_with("/confirm") => Some(json!({"code": "000000"})),
                (_, p) if p.ends_with("/enable") || p.ends_with("/new-phone") => {
                    Some(json!({"phone": "+447812000001"}))
                }
                (_, p) if p.starts_with("/v1/admin/") && p.ends_with("/disable") => Some(json!({"reason": "test"})),
                _ => None,
            };
            let token = if template.starts_with("/v1/admin/") { manager.as_str() } else { app.token.as_str() };
            let documented: Vec<u16> =
                op["responses"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
            let verb = method.to_uppercase();
            let answer = app.call_as(Some(token), &verb, &path, body).await;
            assert!(
                documented.contains(&answer.status),
                "{method} {path}: {} not documented ({documented:?}) {}",
                answer.status,
                answer.body
            );
            if (200..300).contains(&answer.status) {
                let schema = &op["responses"][answer.status.to_string()]["content"]["application/json"]["schema"];
                if !schema.is_null() {
                    check_shape(&spec, schema, &answer.body, &format!("{method} {template}"));
                }
            } else {
                check_shape(
                    &spec,
                    &json!({"$ref": "#/components/schemas/Problem"}),
                    &answer.body,
                    &format!("{method} {template}"),
                );
            }
            if !template.starts_with("/healthz") && !template.starts_with("/readyz") {
                let anonymous = app.call_as(None, &verb, &path, None).await;
                assert_eq!(anonymous.status, 401, "{method} {path} without a token");
                assert!(documented.contains(&401));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 24, "documented operations");
}
