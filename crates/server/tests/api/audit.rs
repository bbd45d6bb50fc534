//! The hash-chained audit log and `audit verify`.

use crate::support::TestApp;
use serde_json::json;
use std::process::Command;

const PHONE: &str = "+447400123456";

fn verify_cli(app: &TestApp) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-server"))
        .args(["audit", "verify"])
        .env("TOLLGATE_DATABASE__URL", app.db_url())
        .env_remove("TOLLGATE_CONFIG")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

async fn busy_app() -> TestApp {
    let app = TestApp::start().await;
    app.user_with_2fa("u-1", PHONE).await;
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "198.51.100.7", "device_id": "d-x"})).await.ok(200);
    app.post("/v1/logins", json!({"user_id": "u-1", "ip": "203.0.113.5", "device_id": "d-home"})).await.ok(200);
    app
}

#[tokio::test]
async fn an_intact_chain_verifies_and_prints_its_head() {
    let app = busy_app().await;
    let (ok, stdout, stderr) = verify_cli(&app);
    assert!(ok, "{stdout}{stderr}");
    let events = app.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    assert!(events >= 7, "{events}");
    assert!(stdout.contains(&format!("ok: {events} events verified")), "{stdout}");
    let head: String = sqlx::query_scalar("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_one(app.server.app.store.pool())
        .await
        .unwrap();
    assert!(stdout.contains(&format!("head: seq {events} hash {head}")), "{stdout}");
}

#[tokio::test]
async fn an_edited_row_is_named() {
    let app = busy_app().await;
    sqlx::query("UPDATE audit_events SET detail = '{\"forged\":true}' WHERE seq = 3")
        .execute(app.server.app.store.pool())
        .await
        .unwrap();
    let (ok, _, stderr) = verify_cli(&app);
    assert!(!ok);
    assert!(stderr.contains("seq 3") && stderr.contains("edited"), "{stderr}");
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    let app = busy_app().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 4").execute(app.server.app.store.pool()).await.unwrap();
    let (ok, _, stderr) = verify_cli(&app);
    assert!(!ok);
    assert!(stderr.contains("seq 5") && stderr.contains("expected seq 4"), "{stderr}");
}

#[tokio::test]
async fn cutting_off_the_newest_events_is_seen_against_the_head() {
    let app = busy_app().await;
    let last = app.scalar_i64("SELECT MAX(seq) FROM audit_events").await;
    sqlx::query(&format!("DELETE FROM audit_events WHERE seq = {last}"))
        .execute(app.server.app.store.pool())
        .await
        .unwrap();
    let (ok, _, stderr) = verify_cli(&app);
    assert!(!ok);
    assert!(stderr.contains(&format!("head is seq {last}")), "{stderr}");
}

/// Appends of any size on the engine under test (PostgreSQL too: there
/// the last INSERT of an append and the head's move are one statement):
/// one chain, and the head is the last event.
#[tokio::test]
async fn appends_of_any_size_extend_one_chain_and_move_the_head() {
    use tollgate_core::audit::ActorKind;
    use tollgate_server::store::audit::{append_batch, head, page_after, NewEvent};
    let dir = tempfile::tempdir().unwrap();
    let store =
        tollgate_server::store::Store::connect(&crate::support::fresh_database_url(&dir).await, 2).await.unwrap();
    store.migrate().await.unwrap();
    let (_, genesis) = head(&mut store.pool().acquire().await.unwrap()).await.unwrap();
    let mut total = 0;
    for size in [1, 1_234, 0, 500, 3] {
        let mut tx = store.begin().await.unwrap();
        let events = (0..size)
            .map(|i| {
                let event = NewEvent {
                    actor_kind: ActorKind::System,
                    actor_id: "test",
                    action: "test.append",
                    contract_id: None,
                    user_id: None,
                    ip: None,
                    detail: json!({ "n": total + i }),
                };
                (1_000 + i64::try_from(i).unwrap(), event)
            })
            .collect();
        let last = append_batch(&mut tx, store.engine(), events).await.unwrap();
        tx.commit().await.unwrap();
        total += size;
        assert_eq!(last, i64::try_from(total).unwrap());
    }
    let mut c = store.pool().acquire().await.unwrap();
    let rows = page_after(&mut c, 0, 10_000).await.unwrap();
    assert_eq!(rows.len(), total);
    let mut prev = genesis;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i64::try_from(i).unwrap() + 1);
        assert_eq!(row.prev_hash, prev, "event {} links to the one before", row.seq);
        assert_eq!(row.hash, row.event().chain_hash(&row.prev_hash), "event {} hash", row.seq);
        prev = row.hash.clone();
    }
    assert_eq!(head(&mut c).await.unwrap(), (i64::try_from(total).unwrap(), prev));
    drop(c);
    store.close().await;
}
