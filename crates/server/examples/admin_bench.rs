//! Benchmarks of the admin API (docs/BENCHMARKS.md): contract search over
//! 100,000 contracts, a whole-contract disable of 10,000 users, and the
//! streamed audit export of 5,000,000 events with the server's memory
//! sampled from /proc while it runs.
//!
//! ```sh
//! cargo build --release --workspace --bins --examples
//! target/release/examples/admin_bench [--contracts 100000] [--users 10000] [--events 5000000] [--dir /var/tmp/tollgate-bench]
//! ```
//! `--only search,disable,export` runs only the phases named.
//! `BENCH_SERVER_LOG` is the server's `RUST_LOG` (default
//! `warn,tollgate_server::startup=info`; e.g. `sqlx::query=debug` logs each
//! statement with its time).
//! `--reuse` keeps a database seeded by an earlier run (seeding 5M chained
//! events takes minutes) and gives the bench manager a fresh token; the
//! big contract must still have 2FA on for the disable figure to mean
//! anything, so reuse turns 2FA back on for all its users first (and drops
//! the emails an earlier run left queued).
//! The server runs as its own process (the release `tollgate-server`
//! binary next to this example's folder) on a SQLite file seeded in bulk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark driver: fail loudly

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_core::audit::{AuditEvent, GENESIS};
use tollgate_server::clock::SystemClock;
use tollgate_server::config::{Config, Secret};
use tollgate_server::crypto::Keys;
use tollgate_server::store::users::search_text;

const KEY: &str = "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmVuY2g=";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().unwrap())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn seed(config: &Config, contracts: u64, users: u64, events: u64) -> String {
    let app = tollgate_server::app::App::open(config.clone(), Arc::new(SystemClock)).await.unwrap();
    let pool = app.store.pool().clone();
    let now = app.now_ms();
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for chunk in (0..contracts).collect::<Vec<_>>().chunks(1000) {
        let mut sql = String::from("INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ");
        for (i, n) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            let name =
                format!("Customer {n:06} {}", ["Logistics", "Dental", "Bank", "Retail", "Foods"][(n % 5) as usize]);
            let id = format!("C-{n:06}");
            sql.push_str(&format!("('{id}', '{name}', '{}', {now}, {now})", search_text(&id, &name)));
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    // The big contract: `users` users, all with 2FA.
    sqlx::query(&format!("INSERT INTO contracts (id, name, search_text, created_at, updated_at) VALUES ('C-BIG', 'Big Corp', 'c-big big corp', {now}, {now})"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let keys = Keys::from_master_b64(KEY).unwrap();
    for chunk in (0..users).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from(
            "INSERT INTO users (id, contract_id, email, display_name, phone_sealed, phone_masked, phone_digest, \
             enabled_at, last_verified_at, failed_codes, created_at, updated_at) VALUES ",
        );
        for (i, n) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            let phone = format!("+4474{:08}", 10_000_000 + n);
            sql.push_str(&format!(
                "('b-{n:06}', 'C-BIG', 'user{n}@big.example', 'User {n}', '{}', '+44•••••••{}', '{}', {now}, {now}, 0, {now}, {now})",
                keys.seal(&phone),
                &phone[phone.len() - 3..],
                keys.phone_digest(&phone)
            ));
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    let (manager_id, token) = ("m_bench".to_owned(), tollgate_server::crypto::random_token("tgm_"));
    sqlx::query(
        "INSERT INTO managers (id, name, email, token_hash, created_at) VALUES ($1, 'Bench', 'b@x.example', $2, $3)",
    )
    .bind(&manager_id)
    .bind(tollgate_server::crypto::token_digest(&token))
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO manager_contracts (manager_id, contract_id, assigned_at) SELECT $1, id, $2 FROM contracts",
    )
    .bind(&manager_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    eprintln!("seeded {contracts} contracts and {users} users in {:.1} s", started.elapsed().as_secs_f64());

    // The audit chain, in batches, hashed as the server would.
    let started = Instant::now();
    let mut prev = GENESIS.to_owned();
    let (mut seq, batch) = (0i64, 2000u64);
    let first_at = now - i64::try_from(events).unwrap() * 100;
    while (seq as u64) < events {
        let mut tx = pool.begin().await.unwrap();
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, at, actor_kind, actor_id, action, contract_id, user_id, ip, detail, prev_hash, hash) VALUES ",
        );
        for i in 0..batch.min(events - seq as u64) {
            seq += 1;
            let e = AuditEvent {
                seq,
                at_ms: first_at + seq * 100,
                actor_kind: "user".into(),
                actor_id: format!("b-{:06}", seq as u64 % users.max(1)),
                action: ["login.allowed", "login.challenged", "challenge.verified", "code.rejected"]
                    [(seq % 4) as usize]
                    .into(),
                contract_id: Some(format!("C-{:06}", seq as u64 % contracts)),
                user_id: Some(format!("b-{:06}", seq as u64 % users.max(1))),
                ip: Some("203.0.113.10".into()),
                detail: r#"{"device_id":"d-1","user_agent":"Firefox/130"}"#.into(),
            };
            let hash = e.chain_hash(&prev);
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({}, {}, 'user', '{}', '{}', '{}', '{}', '203.0.113.10', '{}', '{prev}', '{hash}')",
                e.seq,
                e.at_ms,
                e.actor_id,
                e.action,
                e.contract_id.as_deref().unwrap(),
                e.user_id.as_deref().unwrap(),
                e.detail
            ));
            prev = hash;
        }
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev)
        .execute(&pool)
        .await
        .unwrap();
    eprintln!("seeded {events} audit events in {:.1} s", started.elapsed().as_secs_f64());
    app.store.close().await;
    token
}

async fn fresh_token(config: &Config) -> String {
    let app = tollgate_server::app::App::open(config.clone(), Arc::new(SystemClock)).await.unwrap();
    let token = tollgate_server::crypto::random_token("tgm_");
    sqlx::query("UPDATE managers SET token_hash = $1 WHERE id = 'm_bench'")
        .bind(tollgate_server::crypto::token_digest(&token))
        .execute(app.store.pool())
        .await
        .unwrap();
    // Turn 2FA back on for the big contract (an earlier run disabled it).
    let keys = Keys::from_master_b64(KEY).unwrap();
    sqlx::query(
        "UPDATE users SET enabled_at = created_at, phone_sealed = $1, phone_masked = '+44•••••••000', \
         phone_digest = 'bench' WHERE contract_id = 'C-BIG'",
    )
    .bind(keys.seal("+447400000000"))
    .execute(app.store.pool())
    .await
    .unwrap();
    // The emails an earlier run queued would be delivered long since in a
    // live system; left queued, the outbox worker would spend this run
    // sending them on the server's one SQLite connection.
    sqlx::query("DELETE FROM notifications WHERE status = 'queued' AND contract_id = 'C-BIG'")
        .execute(app.store.pool())
        .await
        .unwrap();
    app.store.close().await;
    eprintln!("reusing the seeded database");
    token
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let contracts = arg("--contracts", 100_000);
    let users = arg("--users", 10_000);
    let events = arg("--events", 5_000_000);
    let dir =
        PathBuf::from(std::env::args().skip_while(|a| a != "--dir").nth(1).unwrap_or("/var/tmp/tollgate-bench".into()));
    let reuse = std::env::args().any(|a| a == "--reuse") && dir.join("bench.db").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    config.codes.hmac_key = Secret::new(KEY);
    config.server.listen = "127.0.0.1:0".into();
    let token = if reuse { fresh_token(&config).await } else { seed(&config, contracts, users, events).await };

    // The server, as its own process.
    let exe = std::env::current_exe().unwrap();
    let server_bin = exe.parent().unwrap().parent().unwrap().join("tollgate-server");
    let config_path = dir.join("bench.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let mut child = Command::new(&server_bin)
        .args(["--config", config_path.to_str().unwrap(), "serve"])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn,tollgate_server::startup=info".into()),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_bin.display()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(at) = line.find("listening on http://") {
            break line[at + 13..].split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("server: {line}");
        }
    });
    let only: Vec<String> = std::env::args().skip_while(|a| a != "--only").nth(1).map_or_else(
        || vec!["search".into(), "disable".into(), "export".into()],
        |v| v.split(',').map(str::to_owned).collect(),
    );
    let phase = |name: &str| only.iter().any(|p| p == name);
    let pid = child.id();
    let http = reqwest::Client::new();
    let get = |path: String| http.get(format!("{url}{path}")).bearer_auth(&token).send();

    // 1. Contract search: 200 queries, id and name substrings.
    if phase("search") {
        get("/v1/admin/contracts?q=warmup".into()).await.unwrap();
        let mut times = Vec::new();
        for i in 0..200u64 {
            let q = match i % 4 {
                0 => format!("{:04}", (i * 37) % 10_000),
                1 => "bank".into(),
                2 => format!("c-0{:03}", i % 1000),
                _ => format!("customer {:05}", (i * 91) % 100_000),
            };
            let t = Instant::now();
            let res = get(format!("/v1/admin/contracts?q={}", q.replace(' ', "%20"))).await.unwrap();
            assert_eq!(res.status(), 200);
            res.bytes().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
        "contract search over {contracts} contracts: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (200 queries, HTTP round trip on loopback)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
    }

    // 2. Whole-contract disable.
    if phase("disable") {
        let server_cpu = cpu_secs(&pid.to_string());
        let t = Instant::now();
        let res = http
            .post(format!("{url}/v1/admin/contracts/C-BIG/two-factor/disable"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"reason": "benchmark"}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        println!(
            "whole-contract disable of {} users ({} emails queued): {:.2} s",
            body["disabled"],
            body["disabled"],
            t.elapsed().as_secs_f64()
        );
        println!("whole-contract disable: server CPU {:.2} s", cpu_secs(&pid.to_string()) - server_cpu);
    }

    // 3. Audit export to a file, the server's RSS sampled every 20 ms.
    if phase("export") {
        tokio::time::sleep(Duration::from_secs(3)).await; // let the outbox settle
        let base = rss_kib(pid);
        let peak = Arc::new(AtomicU64::new(base));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let out = dir.join("audit.csv");
        let (server_cpu, client_cpu) = (cpu_secs(&pid.to_string()), cpu_secs("self"));
        let t = Instant::now();
        let (rows, bytes) = export(&url, &token, &out).await;
        let secs = t.elapsed().as_secs_f64();
        let (server_cpu, client_cpu) = (cpu_secs(&pid.to_string()) - server_cpu, cpu_secs("self") - client_cpu);
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap();
        let peak = peak.load(Ordering::Relaxed);
        println!(
        "audit export: {rows} rows, {:.0} MB in {secs:.2} s = {:.0} rows/s; server RSS {:.1} MB before, {:.1} MB peak (+{:.1} MB)",
        bytes as f64 / 1e6,
        rows as f64 / secs,
        base as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(base)) as f64 / 1024.0
    );
        println!(
            "audit export CPU: server {server_cpu:.2} s, client {client_cpu:.2} s ({:.2} µs of server CPU per row)",
            server_cpu * 1e6 / rows as f64
        );
        let mut head = String::new();
        std::fs::File::open(&out).unwrap().take(200).read_to_string(&mut head).unwrap();
        assert!(head.starts_with("seq,at,"), "{head}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The export through `tollgate-client`, as the console does it: streamed
/// to a temporary file beside `out`, flushed to disk, renamed. Returns
/// (data rows, bytes).
async fn export(url: &str, token: &str, out: &std::path::Path) -> (u64, u64) {
    use tollgate_client::{AuditFilter, AuditFormat, Cancel, Client};
    let client = Client::new(url, token).unwrap();
    let done = client
        .export_audit_to_file(&AuditFilter::default(), AuditFormat::Csv, out, &Cancel::new(), |_| {})
        .await
        .unwrap();
    (done.rows, done.bytes)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: utime and stime are the 12th
    // and 13th fields, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}
