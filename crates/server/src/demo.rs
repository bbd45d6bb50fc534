//! `tollgate-server demo`: a fresh SQLite database with realistic data,
//! log sinks for SMS and email, served on loopback. Prints `url:` and the
//! tokens only once the data is in and requests are accepted.

use crate::app::App;
use crate::clock::{to_ms, SystemClock};
use crate::config::{Config, EmailProvider, Secret, SmsProvider};
use crate::crypto::{ordered_id, Keys};
use crate::startup::Server;
use crate::store::audit::{self, NewEvent};
use crate::store::{outbox, users};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use time::Duration;
use tollgate_core::audit::ActorKind;
use tollgate_core::mask::mask_email;
use tollgate_core::phone::PhoneNumber;
use tollgate_core::purpose::Purpose;

const COMPANIES: [&str; 32] = [
    "Acme Logistics",
    "Birchwood Dental",
    "Cobalt Analytics",
    "Dunmore Legal",
    "Elm Street Bakery",
    "Fjord Shipping",
    "Granite Insurance",
    "Harbour Clinics",
    "Ironbridge Foundry",
    "Juniper Schools",
    "Kestrel Aviation",
    "Lumen Energy",
    "Meridian Bank",
    "Northgate Retail",
    "Oakridge Farms",
    "Pinnacle Hotels",
    "Quayside Media",
    "Redwood Builders",
    "Saffron Foods",
    "Tidewater Utilities",
    "Umber Architects",
    "Vantage Telecom",
    "Willow Care Homes",
    "Xenon Labs",
    "Yardley Motors",
    "Zephyr Travel",
    "Atlas Pharma",
    "Beacon Charities",
    "Cedar Accountants",
    "Delta Freight",
    "Ember Games",
    "Foxglove Florists",
];
const FIRST: [&str; 12] =
    ["Ann", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kira", "Leo"];
const LAST: [&str; 10] = ["Smith", "Jones", "Patel", "Brown", "Khan", "Evans", "Wilson", "Taylor", "Davies", "Moore"];

pub async fn run(mut config: Config, listen: String, db: Option<PathBuf>, stop_with_stdin: bool) -> anyhow::Result<()> {
    let path = db.unwrap_or_else(|| std::env::temp_dir().join("tollgate-demo.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    config.server.listen = listen;
    config.database.url = format!("sqlite://{}", path.display());
    config.sms.provider = SmsProvider::Log;
    config.email.provider = EmailProvider::Log;
    if config.codes.hmac_key.is_empty() {
        config.codes.hmac_key = Secret::new(Keys::generate_master_b64());
    }
    // Seed first, then serve: the data is complete before the first request.
    let app = App::open(config.clone(), Arc::new(SystemClock)).await?;
    seed(&app).await?;
    let service_token = crate::cli::issue_service_token(&app, "demo web tier").await?;
    let (manager_id, manager_token) = crate::managers::create(&app, "Dana Whitfield", "dana@tollgate.example").await?;
    // The demo manager looks after all but the last four contracts.
    for ci in 0..COMPANIES.len() - 4 {
        crate::managers::assign(&app, &manager_id, &format!("C-{}", 10001 + ci)).await?;
    }
    app.store.close().await;
    let server = Server::start(config, Arc::new(SystemClock)).await?;
    println!("url: {}", server.url());
    println!("token: {manager_token}");
    println!("service_token: {service_token}");
    eprintln!("demo database: {} (recreated at every start)", path.display());
    if stop_with_stdin {
        tokio::select! {
            () = crate::cli::wait_for_signal() => {}
            () = stdin_closed() => eprintln!("standard input closed: stopping the demo"),
        }
    } else {
        crate::cli::wait_for_signal().await;
    }
    server.stop().await;
    Ok(())
}

/// Resolves when standard input reaches its end (or fails).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Deterministic demo data: contracts, users with and without 2FA,
/// notification history with sent and failed deliveries, 90 days of audit.
pub async fn seed(app: &App) -> anyhow::Result<()> {
    let now = app.now();
    let start = now - Duration::days(90);
    let mut tx = app.store.begin().await?;
    let engine = app.store.engine();
    let mut n: i64 = 0;
    // (at, contract, user, action, detail): appended in time order at the end.
    let mut log: Vec<(i64, String, String, &'static str, serde_json::Value)> = Vec::new();
    for (ci, company) in COMPANIES.iter().enumerate() {
        let contract_id = format!("C-{}", 10001 + ci);
        let created = to_ms(start + Duration::hours(i64::try_from(ci).unwrap_or(0)));
        users::insert_contract(&mut tx, &contract_id, company, created).await?;
        let domain: String =
            company.to_ascii_lowercase().split(' ').next().unwrap_or("example").to_owned() + ".example";
        let size = 20 + (ci * 7) % 30;
        for ui in 0..size {
            n += 1;
            let first = FIRST[(ci + ui) % FIRST.len()];
            let last = LAST[(ci * 3 + ui) % LAST.len()];
            let user_id = format!("u-{}", 50000 + n);
            let email = format!("{}.{}{}@{domain}", first.to_ascii_lowercase(), last.to_ascii_lowercase(), ui);
            let joined = to_ms(start + Duration::hours(n % (24 * 80)));
            users::insert_user(&mut tx, &user_id, &contract_id, &email, &format!("{first} {last}"), joined).await?;
            let user_event = |action: &'static str, at: i64, detail: serde_json::Value| (action, at, detail);
            let mut events = vec![user_event("user.created", joined, json!({}))];
            // Two users in three have 2FA; every contract has both kinds.
            if ui % 3 != 2 {
                let raw = format!("+4474{:08}", 100_000 + n);
                let phone = PhoneNumber::parse(&raw).map_err(|e| anyhow::anyhow!("demo phone {raw}: {e}"))?;
                let enabled = joined + 3_600_000 * (1 + n % 200);
                users::set_phone(
                    &mut tx,
                    &user_id,
                    &app.keys.seal(phone.e164()),
                    phone.masked(),
                    &app.keys.phone_digest(phone.e164()),
                    enabled,
                    enabled,
                )
                .await?;
                let row =
                    users::find_user(&mut tx, &user_id).await?.ok_or_else(|| anyhow::anyhow!("demo user vanished"))?;
                let failed = n % 11 == 0;
                history(app, &mut tx, &row, Purpose::EnableCode, phone.masked(), enabled - 60_000, failed).await?;
                history(app, &mut tx, &row, Purpose::EnableCode, phone.masked(), enabled - 30_000, false).await?;
                history(app, &mut tx, &row, Purpose::TwoFactorEnabled, &mask_email(&email), enabled, false).await?;
                events.push(user_event("two_factor.enabled", enabled, json!({ "phone_masked": phone.masked() })));
                let login = enabled + 86_400_000 * (1 + n % 20);
                if login < to_ms(now) {
                    let undelivered = n % 13 == 0;
                    history(app, &mut tx, &row, Purpose::LoginCode, phone.masked(), login, undelivered).await?;
                    events.push(user_event("login.challenged", login, json!({ "reasons": ["new_ip", "new_device"] })));
                    // A code that never arrived was never entered.
                    if !undelivered {
                        events.push(user_event("challenge.verified", login + 40_000, json!({})));
                        users::mark_verified(&mut tx, &user_id, login + 40_000).await?;
                    }
                }
            }
            for (action, at, detail) in events {
                log.push((at, contract_id.clone(), user_id.clone(), action, detail));
            }
        }
    }
    log.sort_by_key(|entry| entry.0);
    for (at, contract_id, user_id, action, detail) in log {
        let service = action == "user.created";
        let event = NewEvent {
            actor_kind: if service { ActorKind::Service } else { ActorKind::User },
            actor_id: if service { "st_demo" } else { &user_id },
            action,
            contract_id: Some(&contract_id),
            user_id: Some(&user_id),
            ip: Some("203.0.113.10"),
            detail,
        };
        audit::append(&mut tx, engine, at, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn history(
    app: &App,
    c: &mut crate::store::Conn,
    user: &users::UserRow,
    purpose: Purpose,
    masked: &str,
    at: i64,
    failed: bool,
) -> anyhow::Result<()> {
    let id = ordered_id("n_");
    let sealed = app.keys.seal("{}");
    outbox::enqueue(
        c,
        app.store.engine(),
        outbox::NewNotification {
            id: &id,
            user_id: &user.id,
            contract_id: &user.contract_id,
            channel: purpose.channel().as_str(),
            purpose: purpose.as_str(),
            recipient_masked: masked,
            payload_sealed: &sealed,
            now: at,
        },
    )
    .await?;
    if failed {
        outbox::mark_failed(
            c,
            &id,
            8,
            "twilio 400 error 21610: Attempt to send to unsubscribed recipient",
            at + 600_000,
        )
        .await?;
    } else {
        outbox::mark_sent(c, &id, 1, Some("SMdemo"), at + 1_500).await?;
    }
    Ok(())
}
