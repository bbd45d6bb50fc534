//! The console's start-up and memory benchmark (docs/BENCHMARKS.md, "Console").
//!
//! Needs what the end-to-end test needs — Xvfb, a D-Bus session with an
//! unlocked gnome-keyring, tauri-driver — which `scripts/console-bench.sh`
//! starts before running this with the release console binary:
//!
//! 1. A real server in-process with the demo data plus one contract, C-BIG,
//!    of 10,000 users (two in three with 2FA), and a manager assigned to all.
//! 2. **Memory**: through tauri-driver, sign in (token to the keyring), find
//!    C-BIG by typing, open it (time to a loaded table), leave the app idle,
//!    then sum the resident memory (RSS, and PSS which counts shared pages
//!    once) of the app and its web view processes.
//! 3. **Cold start**: start the binary itself N times; the saved session is
//!    restored, so it opens on the search screen. Time from spawn until the
//!    web view reports its first paint (the "first screen interactive" log
//!    line, written by the `ui_ready` command).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: failing loudly is the point

#[path = "../tests/console/server.rs"]
#[allow(dead_code)] // the console tests' server; the benchmark needs only `start`
mod server;
#[path = "../tests/e2e/webdriver.rs"]
#[allow(dead_code)] // the benchmark uses part of the end-to-end test's client
mod webdriver;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tollgate_server::store::users;
use tollgate_server::Server;
use webdriver::{Session, ENTER};

const BIG_USERS: usize = 10_000;
const STARTS: usize = 7;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app_bin = std::env::args().nth(1).expect("usage: console_bench <path of the release tollgate-console>");
    let driver = std::env::var("CONSOLE_E2E_DRIVER").unwrap_or_else(|_| "http://127.0.0.1:4444".into());

    // 1. The server.
    let contracts: Vec<String> = (10001..=10032).map(|n| format!("C-{n}")).collect();
    let server::Running { server, manager_id, token, dir: _dir } =
        server::start(&contracts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    seed_big_contract(&server).await;
    tollgate_server::managers::assign(&server.app, &manager_id, "C-BIG").await.unwrap();
    let url = server.url();
    println!("server {url}: demo data + C-BIG with {BIG_USERS} users");

    // 2. Memory after loading the 10,000-user contract.
    let s = Session::start(&driver, &app_bin, &[]).await;
    s.type_into("#server-url", &url).await;
    s.type_into("#token", &token).await;
    s.keys("#token", ENTER).await;
    s.find("#search").await;
    let pid = newest_pid_of(&app_bin).expect("the console's process");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss0, pss0, names0) = memory_of_tree(pid);
    println!(
        "idle on the search screen (before): RSS {:.1} MB, PSS {:.1} MB ({})",
        rss0 as f64 / 1024.0,
        pss0 as f64 / 1024.0,
        names0.join(", ")
    );
    s.type_into("#search", "big indus").await;
    s.find("#results [role=option][data-id=C-BIG]").await;
    let asked = Instant::now();
    s.keys("#search", ENTER).await;
    s.find("#contract[data-ready=true]").await;
    let opened = asked.elapsed();
    let share = s.text("#contract-share").await;
    println!(
        "open C-BIG (10,000 users, 21 pages from the server) to a drawn table: {} ms ({share})",
        opened.as_millis()
    );
    tokio::time::sleep(Duration::from_secs(10)).await; // idle
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(memory_of_tree(pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (rss, pss, names) = samples.iter().max_by_key(|m| m.0).cloned().unwrap();
    println!(
        "idle after loading C-BIG: RSS {:.1} MB, PSS {:.1} MB ({})",
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        names.join(", ")
    );
    s.end().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 3. Cold start to the search screen (the session restores from the keyring).
    let log = log_file().expect("the console's log file");
    let mut starts = Vec::new();
    for run in 0..STARTS {
        let before = count_ready_lines(&log);
        let spawned = Instant::now();
        let mut child = std::process::Command::new(&app_bin)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = spawned + Duration::from_secs(30);
        while count_ready_lines(&log) == before {
            assert!(Instant::now() < deadline, "run {run}: no first paint within 30 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        let elapsed = spawned.elapsed();
        child.kill().unwrap();
        child.wait().unwrap();
        println!("start {}: {} ms", run + 1, elapsed.as_millis());
        starts.push(elapsed);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    starts.sort();
    println!(
        "cold start to the search screen over {STARTS} runs: median {} ms, min {} ms, max {} ms",
        starts[STARTS / 2].as_millis(),
        starts[0].as_millis(),
        starts[STARTS - 1].as_millis()
    );
    server.stop().await;
}

async fn seed_big_contract(server: &Server) {
    let app = &server.app;
    let now = tollgate_server::clock::to_ms(app.now());
    let mut tx = app.store.begin().await.unwrap();
    users::insert_contract(&mut tx, "C-BIG", "Big Industries", now).await.unwrap();
    for i in 0..BIG_USERS {
        let id = format!("u-big-{i:05}");
        let email = format!("person{i}@big.example");
        users::insert_user(&mut tx, &id, "C-BIG", &email, &format!("Person {i:05}"), now).await.unwrap();
        if i % 3 != 2 {
            let e164 = format!("+4475{:08}", 10_000_000 + i);
            let masked = format!("+44•••••••{}", &e164[e164.len() - 3..]);
            let (sealed, digest) = (app.keys.seal(&e164), app.keys.phone_digest(&e164));
            users::set_phone(&mut tx, &id, &sealed, &masked, &digest, now, now).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// The newest process running `binary`.
fn newest_pid_of(binary: &str) -> Option<u32> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else { continue };
        if exe == Path::new(binary) && found.is_none_or(|f| pid > f) {
            found = Some(pid);
        }
    }
    found
}

/// (RSS KiB, PSS KiB, "name RSS/PSS" per process) of `pid` and every descendant.
fn memory_of_tree(pid: u32) -> (u64, u64, Vec<String>) {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid …: comm may hold spaces; split after the last ')'.
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid: u32 = after.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        parents.push((p, ppid));
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    let (mut rss, mut pss, mut names) = (0, 0, Vec::new());
    for p in tree {
        let field = |file: &str, key: &str| -> u64 {
            std::fs::read_to_string(format!("/proc/{p}/{file}"))
                .ok()
                .and_then(|t| {
                    t.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                })
                .unwrap_or(0)
        };
        let (r, ps) = (field("status", "VmRSS:"), field("smaps_rollup", "Pss:"));
        rss += r;
        pss += ps;
        let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default().trim().to_owned();
        names.push(format!("{name} {:.0}/{:.0} MB", r as f64 / 1024.0, ps as f64 / 1024.0));
    }
    (rss, pss, names)
}

/// `<data dir>/com.tollgate.console/logs/console.<date>.log`, the newest.
fn log_file() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = data.join("com.tollgate.console/logs");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    logs.sort();
    logs.pop()
}

fn count_ready_lines(log: &Path) -> usize {
    std::fs::read_to_string(log).map(|t| t.matches("first screen interactive").count()).unwrap_or(0)
}
