//! Type-ahead benchmark: 100,000 contracts in a real SQLite cache file, then
//! every prefix of a set of queries "typed" one keystroke at a time, timing
//! `Cache::search_contracts` (limit 20) per keystroke. Target: < 16 ms.
//!
//! Run (see docs/BENCHMARKS.md, "Console"):
//!   cargo build --workspace --examples && $CARGO_TARGET_DIR/debug/examples/typeahead_bench

use std::time::{Duration, Instant};
use time::macros::datetime;
use tollgate_console::cache::Cache;
use tollgate_proto::admin::ContractSummary;

const CONTRACTS: usize = 100_000;
const WORDS: [&str; 24] = [
    "acme",
    "global",
    "northwind",
    "contoso",
    "fabrikam",
    "initech",
    "umbrella",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "hooli",
    "vandelay",
    "globex",
    "soylent",
    "wonka",
    "massive",
    "dynamic",
    "holdings",
    "logistics",
    "partners",
    "systems",
    "health",
    "bank",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(&dir.path().join("bench.sqlite3")).await?;
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let started = Instant::now();
    let t0 = datetime!(2026-01-01 00:00 UTC);
    for chunk in 0..(CONTRACTS / 5_000) {
        let batch: Vec<ContractSummary> = (0..5_000)
            .map(|i| {
                let n = chunk * 5_000 + i;
                let name = format!(
                    "{} {} {} {}",
                    capitalise(WORDS[next() % WORDS.len()]),
                    capitalise(WORDS[next() % WORDS.len()]),
                    capitalise(WORDS[next() % WORDS.len()]),
                    n
                );
                ContractSummary {
                    contract_id: format!("c_{n:06}"),
                    name,
                    users: (next() % 10_000) as u64,
                    users_with_two_factor: (next() % 5_000) as u64,
                    updated_at: t0 + time::Duration::seconds(n as i64),
                }
            })
            .collect();
        cache.upsert_contracts(&batch).await?;
    }
    println!("indexed {} contracts in {:.1} s", cache.contract_count().await?, started.elapsed().as_secs_f64());

    let queries = ["acme", "northwind log", "c_0421", "holdings 9", "wonka", "zzz none", "stark bank", "c_09999"];
    // Warm-up pass (first touches of the pages), not counted.
    for q in queries {
        cache.search_contracts(q, 20).await?;
    }
    let mut times: Vec<Duration> = Vec::new();
    for _round in 0..5 {
        for q in queries {
            for end in q.char_indices().map(|(i, c)| i + c.len_utf8()) {
                let t = Instant::now();
                let hits = cache.search_contracts(&q[..end], 20).await?;
                times.push(t.elapsed());
                std::hint::black_box(hits);
            }
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "type-ahead over {CONTRACTS} contracts, {} keystrokes: mean {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        times.len(),
        ms(mean),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(pct(1.0))
    );
    Ok(())
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
