//! The console in a real window, end to end: the release-shaped binary
//! (`CARGO_BIN_EXE_tollgate-console`) run by tauri-driver + WebKitWebDriver
//! under Xvfb, a real server on a random port with the demo data, the real
//! OS keyring. scripts/console-test.sh starts Xvfb, D-Bus + gnome-keyring and
//! tauri-driver, then runs this with `--features tollgate-console/e2e-tests`.
//!
//! The one shortcut: the native save dialog is skipped with `--export-dir`
//! (WebDriver cannot drive a GTK dialog); everything else goes through the UI
//! as a manager would. Screenshots of each main screen go to docs/screenshots/.

#![cfg(feature = "e2e-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../console/server.rs"]
#[allow(dead_code)] // the console tests' server; this test needs only `start`
mod server;
mod webdriver;

use std::path::{Path, PathBuf};
use tollgate_client::{Client, PageRequest};
use tollgate_proto::admin::AUDIT_CSV_HEADER;
use webdriver::{Session, ENTER};

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

async fn shoot(session: &Session, name: &str) {
    // Let the last frame paint (WebKit draws after the DOM settles).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let png = session.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::create_dir_all(screenshots_dir()).unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_signs_in_finds_a_user_turns_2fa_off_and_exports_the_audit_log() {
    let contracts: Vec<String> = (10001..=10008).map(|n| format!("C-{n}")).collect();
    let server::Running { server, token, dir, .. } =
        server::start(&contracts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let url = server.url();
    let api = Client::new(&url, token.clone()).unwrap();

    // A user of Cobalt Analytics (C-10003) with 2FA on, as the manager will find them.
    let users = api.all_contract_users("C-10003", None).await.unwrap();
    let target = users.iter().find(|u| u.two_factor.enabled).unwrap().clone();

    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let driver = std::env::var("CONSOLE_E2E_DRIVER").unwrap_or_else(|_| "http://127.0.0.1:4444".into());
    let app = env!("CARGO_BIN_EXE_tollgate-console");
    let s = Session::start(&driver, app, &["--export-dir".into(), exports.display().to_string()]).await;

    // Connect: the server URL and the token, checked by the server, kept in the keyring.
    s.type_into("#server-url", &url).await;
    s.type_into("#token", &token).await;
    shoot(&s, "connect").await;
    s.keys("#token", ENTER).await;

    // Search: part of a contract's name, then the keyboard alone.
    s.wait_text("header", "the signed-in manager", |t| t.contains("Dana Whitfield")).await;
    s.type_into("#search", "cobal").await;
    s.find("#results [role=option][data-kind=contract][data-id=C-10003]").await;
    shoot(&s, "search").await;
    s.keys("#search", ENTER).await;

    // Contract: its users, filtered down to the one we look for.
    s.find("#contract[data-ready=true]").await;
    assert!(s.text("#contract-name").await.contains("Cobalt Analytics"));
    let rows = s.find_all("#users-table [data-user-id]").await;
    assert!(!rows.is_empty());
    shoot(&s, "contract").await;
    s.type_into("#users-filter", &target.email).await;
    // The table redraws as the filter applies: click the one row left.
    s.wait_count("#users-table [data-user-id]", 1).await;
    s.click(&format!("#users-table [data-user-id='{}']", target.user_id)).await;

    // User: 2FA on, the notification history.
    s.find("#user[data-ready=true]").await;
    assert_eq!(s.text("#two-factor-status").await, "On");
    let timeline = s.find_all("#timeline li").await;
    assert!(timeline.len() >= 3, "two enable codes and an email at least: {}", timeline.len());
    shoot(&s, "user").await;

    // Disable this user's 2FA with a reason; the status changes.
    s.click("#disable-user").await;
    s.type_into("#disable-reason", "Lost phone, ticket 4411").await;
    s.wait_text("[role=dialog], dialog", "the reason counted", |t| t.contains("23 / 500")).await;
    shoot(&s, "disable-user").await;
    s.click("#disable-submit").await;
    s.wait_text("#disable-result", "the result", |t| !t.is_empty()).await;
    s.click("#disable-close").await;
    s.wait_text("#two-factor-status", "Off", |t| t == "Off").await;
    assert!(!api.user(&target.user_id).await.unwrap().two_factor.enabled, "the server agrees");

    // Back to the contract; disable 2FA for all its users, typing its id.
    s.click("#back").await;
    s.find("#contract[data-ready=true]").await;
    let before = api.contract("C-10003").await.unwrap().users_with_two_factor;
    assert!(before > 0);
    s.click("#disable-contract").await;
    s.type_into("#disable-reason", "Customer migrating to SSO").await;
    s.type_into("#disable-confirm-id", "C-10003").await;
    shoot(&s, "disable-contract").await;
    s.click("#disable-submit").await;
    let result = s.wait_text("#disable-result", "the count", |t| !t.is_empty()).await;
    assert!(result.contains(&before.to_string()), "{result:?} should say {before} users");
    s.click("#disable-close").await;
    assert_eq!(api.contract("C-10003").await.unwrap().users_with_two_factor, 0);

    // Export the contract's audit log to CSV.
    s.click("#export-audit").await;
    s.click("#export-scope option[value=contract]").await;
    s.click("#export-start").await;
    s.find("#export-result[data-status=completed]").await;
    shoot(&s, "export").await;
    let today = tollgate_console::console::system_clock().date();
    let file = exports.join(format!("tollgate-audit-C-10003-{today}.csv"));
    let mut reader = csv::Reader::from_path(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), AUDIT_CSV_HEADER);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(records.iter().all(|r| &r[5] == "C-10003"));
    let disabled = records.iter().filter(|r| &r[4] == "two_factor.disabled_by_manager").count() as u64;
    assert_eq!(disabled, before + 1, "one event per user the manager turned off");
    let shown = s.text("#export-result").await;
    assert!(shown.contains(&format!("{}", records.len())) || shown.contains(&group(records.len())), "{shown:?}");
    s.click("#export-cancel").await; // "Close" once finished

    // Settings: who is signed in, where, and the export just made.
    s.click("#open-settings").await;
    s.wait_text("body", "the manager's name", |t| t.contains("Dana Whitfield")).await;
    shoot(&s, "settings").await;

    let notifications = api.notifications(&target.user_id, &PageRequest::first(5)).await.unwrap();
    assert_eq!(notifications.items[0].purpose, "two_factor_disabled_by_manager", "the user was told");
    s.end().await;
    server.stop().await;
}

/// `12345` → `12,345`, as the UI shows counts.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
