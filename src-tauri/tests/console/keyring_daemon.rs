//! Against a real Secret Service: gnome-keyring-daemon, started by
//! scripts/console-test.sh inside `dbus-run-session` with a throwaway HOME.
//! `secret-tool` (libsecret) cross-checks what we stored from outside.

use serde_json::json;
use std::process::Command;
use tollgate_console::config::ServerUrl;
use tollgate_console::credentials::{Credentials, Storage, SERVICE};
use tollgate_console::secret::Token;

use crate::commands::TestApp;
use crate::server::Env;

fn secret_tool_lookup(account: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", account])
        .output()
        .expect("secret-tool (libsecret-tools) must be installed");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn save_load_delete_in_the_real_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run through scripts/console-test.sh: it starts D-Bus and gnome-keyring-daemon"
    );
    let creds = Credentials::platform();
    assert_eq!(creds.keyring_status().detail, None);
    assert!(creds.keyring_status().available);
    let url = ServerUrl::parse("https://keyring-unit.example.com").unwrap();
    let token = Token::parse("tgm_REAL_KEYRING_0001").unwrap();

    assert_eq!(creds.load(&url).unwrap(), None);
    creds.save(&url, &token, Storage::Keyring).unwrap();
    assert_eq!(secret_tool_lookup(url.as_str()).as_deref(), Some("tgm_REAL_KEYRING_0001"));
    // A second Credentials (as after a restart) reads it back from the daemon.
    assert_eq!(Credentials::platform().load(&url).unwrap(), Some((token.clone(), Storage::Keyring)));

    let other = Token::parse("tgm_REAL_KEYRING_0002").unwrap();
    creds.save(&url, &other, Storage::Keyring).unwrap();
    assert_eq!(secret_tool_lookup(url.as_str()).as_deref(), Some("tgm_REAL_KEYRING_0002"), "replaced, not added");

    creds.delete(&url).unwrap();
    assert_eq!(secret_tool_lookup(url.as_str()), None);
    assert_eq!(creds.load(&url).unwrap(), None);
    creds.delete(&url).unwrap();
}

#[test]
fn commands_sign_in_restore_and_sign_out_with_the_real_keyring() {
    let env = Env::start();
    let (url, token) = (env.url(), env.token.clone());
    let first = TestApp::start(Credentials::platform(), env.clone());
    assert_eq!(first.invoke("app_info", json!({})).unwrap()["keyring"], json!({"available": true, "detail": null}));
    assert_eq!(first.connect(&token, false).unwrap()["storage"], "keyring");
    assert_eq!(secret_tool_lookup(&url).as_deref(), Some(token.as_str()));
    let dir = first.dir;
    drop(first.app);

    let second = TestApp::start_in(dir, Credentials::platform(), env);
    assert_eq!(second.invoke("app_info", json!({})).unwrap()["session"]["storage"], "keyring");
    assert_eq!(second.invoke("sync_contracts", json!({})).unwrap()["total"], 5, "the restored token works");
    second.invoke("sign_out", json!({})).unwrap();
    assert_eq!(secret_tool_lookup(&url), None);

    // Nothing on disk holds the token.
    for entry in walk(second.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(&token), "{}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
