//! The work behind the Contract, User, Disable and Export screens, through
//! the commands, against a real server with the demo data.

use serde_json::{json, Value};
use std::path::Path;
use tollgate_console::cache::ExportStatus;
use tollgate_console::console::{ExportRequest, ExportScope};
use tollgate_proto::admin::AUDIT_CSV_HEADER;

use crate::commands::{err, TestApp};
use crate::server::Env;

/// No whole phone number: the demo's are +4474 then 8 digits.
fn assert_no_whole_phone(v: &Value) {
    let text = v.to_string();
    let digits: Vec<&str> = text.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 7).collect();
    assert!(digits.is_empty(), "long digit runs {digits:?} in {text}");
}

fn users_of(view: &Value) -> &Vec<Value> {
    view["users"].as_array().unwrap()
}

#[test]
fn a_contract_opens_with_every_user_and_their_2fa_state() {
    let app = TestApp::signed_in(Env::start());
    let view = app.invoke("open_contract", json!({"contractId": "C-10001"})).unwrap();
    let contract = &view["contract"];
    assert_eq!(contract["contract_id"], "C-10001");
    assert_eq!(contract["name"], "Acme Logistics");
    let users = users_of(&view);
    assert_eq!(users.len() as u64, contract["users"].as_u64().unwrap());
    assert_eq!(users.len(), 20, "the demo's first contract has 20 users");
    let with_2fa: Vec<&Value> = users.iter().filter(|u| u["two_factor"]["enabled"] == true).collect();
    assert_eq!(with_2fa.len() as u64, contract["users_with_two_factor"].as_u64().unwrap());
    assert!(!with_2fa.is_empty() && with_2fa.len() < users.len(), "a mix of on and off");
    for u in &with_2fa {
        let masked = u["two_factor"]["phone_masked"].as_str().unwrap();
        assert!(masked.contains('•') || masked.contains('*'), "{masked}");
        assert!(u["two_factor"]["enabled_at"].is_string());
    }
    for u in users {
        assert_eq!(u["contract_id"], "C-10001");
        if u["two_factor"]["enabled"] == false {
            assert_eq!(u["two_factor"]["phone_masked"], Value::Null);
        }
    }
    assert_no_whole_phone(&view);
    let recent = app.invoke("recent_items", json!({})).unwrap();
    assert_eq!(recent[0]["kind"], "contract");
    assert_eq!(recent[0]["item_id"], "C-10001");
    assert_eq!(recent[0]["label"], "Acme Logistics");
}

#[test]
fn another_managers_contract_or_user_is_not_found() {
    let app = TestApp::signed_in(Env::start());
    assert_eq!(
        app.invoke("open_contract", json!({"contractId": "C-10010"})),
        Err(err("not_found", "Contract C-10010 was not found, or it is not assigned to you."))
    );
    // u-51000 belongs to a late contract (C-10031 or so), not assigned.
    assert_eq!(
        app.invoke("open_user", json!({"userId": "u-51000"})),
        Err(err("not_found", "User u-51000 was not found, or it is not assigned to you."))
    );
    assert_eq!(
        app.invoke(
            "disable_contract",
            json!({"contractId": "C-10010", "reason": "migration", "typedContractId": "C-10010"})
        ),
        Err(err("not_found", "Contract C-10010 was not found, or it is not assigned to you."))
    );
    let hits = app.invoke("search_users", json!({"query": "fjord"})).unwrap();
    assert_eq!(hits, json!([]), "users of unassigned contracts never appear");
}

#[test]
fn a_user_opens_with_their_notification_history_newest_first() {
    let app = TestApp::signed_in(Env::start());
    app.invoke("sync_contracts", json!({})).unwrap();
    let view = app.invoke("open_user", json!({"userId": "u-50001"})).unwrap();
    assert_eq!(view["user"]["user_id"], "u-50001");
    assert_eq!(view["user"]["contract_id"], "C-10001");
    assert_eq!(view["contract_name"], "Acme Logistics");
    assert_eq!(view["user"]["two_factor"]["enabled"], true);
    let items = view["notifications"]["items"].as_array().unwrap();
    assert!(items.len() >= 3, "two enable codes and the enabled email: {items:?}");
    let created: Vec<&str> = items.iter().map(|n| n["created_at"].as_str().unwrap()).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");
    let channels: Vec<&str> = items.iter().map(|n| n["channel"].as_str().unwrap()).collect();
    assert!(channels.contains(&"sms") && channels.contains(&"email"), "{channels:?}");
    for n in items {
        assert!(["queued", "sent", "failed"].contains(&n["status"].as_str().unwrap()));
        assert!(n["attempts"].as_u64().unwrap() >= 1);
    }
    assert_eq!(view["notifications"]["next_cursor"], Value::Null, "fewer than a page");
    assert_no_whole_phone(&view);
    let recent = app.invoke("recent_items", json!({})).unwrap();
    assert_eq!(recent[0]["kind"], "user");
    assert_eq!(recent[0]["item_id"], "u-50001");
    assert_eq!(
        app.invoke("more_notifications", json!({"userId": "u-50001", "cursor": "not-a-cursor"})).unwrap_err()["code"],
        "invalid_input"
    );
}

#[test]
fn users_are_found_by_email_or_id_across_assigned_contracts() {
    let app = TestApp::signed_in(Env::start());
    let by_domain = app.invoke("search_users", json!({"query": "@birchwood", "limit": 100})).unwrap();
    let by_domain = by_domain.as_array().unwrap();
    assert!(!by_domain.is_empty());
    assert!(by_domain.iter().all(|u| u["contract_id"] == "C-10002"), "{by_domain:?}");
    let by_id = app.invoke("search_users", json!({"query": "u-50001"})).unwrap();
    assert_eq!(by_id[0]["user_id"], "u-50001");
    assert_eq!(app.invoke("search_users", json!({"query": "  "})).unwrap(), json!([]));
    let limited = app.invoke("search_users", json!({"query": "u-500", "limit": 3})).unwrap();
    assert_eq!(limited.as_array().unwrap().len(), 3);
}

#[test]
fn disabling_one_user_needs_a_reason_and_is_idempotent() {
    let app = TestApp::signed_in(Env::start());
    let disable = |reason: &str| app.invoke("disable_user", json!({"userId": "u-50001", "reason": reason}));
    assert_eq!(disable("   "), Err(err("invalid_input", "Give a reason: it is kept in the audit log.")));
    assert_eq!(
        disable(&"x".repeat(501)),
        Err(err("invalid_input", "The reason is 501 characters long; keep it to 500 or fewer."))
    );
    let before = app.invoke("open_user", json!({"userId": "u-50001"})).unwrap();
    assert_eq!(before["user"]["two_factor"]["enabled"], true, "nothing changed by refused attempts");

    let done = disable("Lost phone, ticket 4411").unwrap();
    assert_eq!(done["user_id"], "u-50001");
    assert_eq!(done["changed"], true);
    assert_eq!(done["two_factor"]["enabled"], false);
    assert_eq!(disable("again").unwrap()["changed"], false);

    let after = app.invoke("open_user", json!({"userId": "u-50001"})).unwrap();
    assert_eq!(after["user"]["two_factor"]["enabled"], false);
    let newest = &after["notifications"]["items"][0];
    assert_eq!(newest["channel"], "email");
    assert_eq!(newest["purpose"], "two_factor_disabled_by_manager", "the user is told: {newest}");
}

#[test]
fn disabling_a_whole_contract_needs_its_id_typed() {
    let app = TestApp::signed_in(Env::start());
    let before = app.invoke("open_contract", json!({"contractId": "C-10003"})).unwrap();
    let on = before["contract"]["users_with_two_factor"].as_u64().unwrap();
    assert!(on > 0);
    let disable = |typed: &str, reason: &str| {
        app.invoke("disable_contract", json!({"contractId": "C-10003", "reason": reason, "typedContractId": typed}))
    };
    assert_eq!(
        disable("C-1000", "migration"),
        Err(err(
            "invalid_input",
            "Type the contract id C-10003 exactly to confirm turning 2FA off for the whole contract."
        ))
    );
    assert_eq!(disable("C-10003", "").unwrap_err()["code"], "invalid_input");
    let unchanged = app.invoke("open_contract", json!({"contractId": "C-10003"})).unwrap();
    assert_eq!(unchanged["contract"]["users_with_two_factor"].as_u64().unwrap(), on, "refusals change nothing");

    assert_eq!(
        disable(" C-10003 ", "Customer migrating to SSO").unwrap(),
        json!({"contract_id": "C-10003", "disabled": on})
    );
    let after = app.invoke("open_contract", json!({"contractId": "C-10003"})).unwrap();
    assert_eq!(after["contract"]["users_with_two_factor"], 0);
    assert!(users_of(&after).iter().all(|u| u["two_factor"]["enabled"] == false));
    // The local index learnt the new count from the Contract screen.
    assert_eq!(app.invoke("search_contracts", json!({"query": "C-10003"})).unwrap()[0]["users_with_two_factor"], 0);
    assert_eq!(disable("C-10003", "again").unwrap()["disabled"], 0);
}

fn request(scope: Value) -> Value {
    json!({"scope": scope, "since": null, "until": null})
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_contract_export_writes_the_whole_csv_and_is_remembered() {
    let app = TestApp::signed_in(Env::start());
    let exports = app.dir.path().join("exports");
    let scope = json!({"kind": "contract", "contract_id": "C-10001"});
    let path = app.invoke("choose_export_path", json!({"request": request(scope.clone())})).unwrap();
    let path = path.as_str().unwrap().to_owned();
    assert_eq!(Path::new(&path), exports.join("tollgate-audit-C-10001-2026-11-27.csv"));

    let outcome = app.invoke("run_export", json!({"request": request(scope), "path": path})).unwrap();
    assert_eq!(outcome["status"], "completed", "{outcome}");
    assert_eq!(outcome["message"], Value::Null);
    let rows = outcome["rows"].as_u64().unwrap();
    assert!(rows > 20, "at least an event per user: {rows}");

    let mut reader = csv::Reader::from_path(&path).unwrap();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), AUDIT_CSV_HEADER);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len() as u64, rows);
    assert!(records.iter().all(|r| &r[5] == "C-10001"), "only the contract's events");
    assert_eq!(files_in(&exports), ["tollgate-audit-C-10001-2026-11-27.csv"], "no part file left");

    let history = app.invoke("export_history", json!({})).unwrap();
    assert_eq!(history[0]["scope"], "contract:C-10001");
    assert_eq!(history[0]["status"], "completed");
    assert_eq!(history[0]["rows"].as_u64().unwrap(), rows);
    assert_eq!(history[0]["file_path"], path);
}

#[test]
fn a_date_range_limits_the_export_and_bad_dates_are_refused() {
    let app = TestApp::signed_in(Env::start());
    let exports = app.dir.path().join("exports");
    let all = app
        .invoke("run_export", json!({"request": request(json!({"kind": "all"})), "path": exports.join("all.csv")}))
        .unwrap();
    let all_rows = all["rows"].as_u64().unwrap();
    let today = tollgate_console::console::system_clock().date(); // the server seeded relative to now
    let ranged = json!({"scope": {"kind": "all"}, "since": (today - time::Duration::days(30)).to_string(), "until": today.to_string()});
    let part = app.invoke("run_export", json!({"request": ranged, "path": exports.join("month.csv")})).unwrap();
    let part_rows = part["rows"].as_u64().unwrap();
    assert!(part_rows > 0 && part_rows < all_rows, "{part_rows} of {all_rows}");
    let mut reader = csv::Reader::from_path(exports.join("month.csv")).unwrap();
    let first = (today - time::Duration::days(30)).to_string();
    for record in reader.records() {
        let at = record.unwrap()[1].to_owned();
        assert!(at.as_str() >= first.as_str(), "{at} is before {first}");
    }

    let bad = |since: &str, until: &str| {
        app.invoke(
            "run_export",
            json!({"request": {"scope": {"kind": "all"}, "since": since, "until": until}, "path": exports.join("bad.csv")}),
        )
    };
    assert_eq!(bad("2026-11-28", "2026-11-01"), Err(err("invalid_input", "The start date is after the end date.")));
    assert_eq!(bad("28/11/2026", "2026-11-29"), Err(err("invalid_input", "The start date must look like 2026-11-28.")));
    assert_eq!(
        app.invoke("run_export", json!({"request": request(json!({"kind": "all"})), "path": "/no/such/folder/a.csv"})),
        Err(err("invalid_input", "The folder of /no/such/folder/a.csv does not exist. Choose another place."))
    );
    assert_eq!(files_in(&exports), ["all.csv", "month.csv"]);
}

#[test]
fn a_cancelled_export_leaves_no_file_and_is_remembered() {
    let app = TestApp::signed_in(Env::start());
    let exports = app.dir.path().join("exports");
    let console = app.console();
    let request = ExportRequest { scope: ExportScope::All, since: None, until: None };
    let target = exports.join("cancelled.csv");
    let mut seen = Vec::new();
    let outcome = tauri::async_runtime::block_on(console.run_export(&request, &target, |p| {
        seen.push(p.rows);
        // The manager presses Cancel as soon as progress shows.
        assert!(console.cancel_export());
    }))
    .unwrap();
    assert_eq!(outcome.status, ExportStatus::Cancelled);
    assert_eq!(seen.len(), 1, "nothing more was read after Cancel");
    assert_eq!(files_in(&exports), Vec::<String>::new(), "neither the file nor its part");
    assert!(!console.cancel_export(), "nothing is running any more");
    let history = app.invoke("export_history", json!({})).unwrap();
    assert_eq!(history[0]["status"], "cancelled");
    assert_eq!(history[0]["scope"], "all");
}

#[test]
fn a_failed_export_says_why_and_leaves_no_file() {
    let app = TestApp::signed_in(Env::start());
    let exports = app.dir.path().join("exports");
    app.env.revoke();
    let outcome = app
        .invoke(
            "run_export",
            json!({"request": request(json!({"kind": "user", "user_id": "u-50002"})), "path": exports.join("u.csv")}),
        )
        .unwrap();
    assert_eq!(
        outcome,
        json!({
            "status": "failed",
            "rows": 0,
            "file_path": exports.join("u.csv").display().to_string(),
            "message": "The server refused this manager token: it may have been revoked or mistyped. Sign in again."
        })
    );
    assert_eq!(files_in(&exports), Vec::<String>::new());
    assert_eq!(app.invoke("export_history", json!({})).unwrap()[0]["status"], "failed");
}
