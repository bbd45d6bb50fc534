//! The command line: `serve`, `demo`, `service-token create|list|revoke`,
//! `manager …`, `audit verify`.
//! Tokens go to stdout as `token: <TOKEN>`; everything else to stderr.

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::crypto::{random_id, random_token, token_digest};
use crate::startup::Server;
use crate::store::{audit, tokens, Store};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_core::audit::ChainVerifier;

#[derive(Parser)]
#[command(name = "tollgate-server", version, about = "Tollgate's SMS two-factor verification server")]
struct Cli {
    /// TOML configuration file (or set TOLLGATE_CONFIG).
    #[arg(long, global = true, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve until SIGTERM or Ctrl-C.
    Serve,
    /// Serve a fresh SQLite database with demo data and log sinks.
    Demo {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The demo database file (recreated on every start).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Also stop when standard input closes: a parent process (the
        /// console's `--demo-server`) holds the other end, so the demo never
        /// outlives it, however it ends.
        #[arg(long)]
        stop_with_stdin: bool,
    },
    /// Service tokens for the product's web tier.
    #[command(subcommand)]
    ServiceToken(ServiceTokenCommand),
    /// Account managers and their contracts.
    #[command(subcommand)]
    Manager(ManagerCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum ManagerCommand {
    /// Create a manager; prints `manager_id: …` and `token: …` once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
    /// Let a manager see and act on a contract.
    Assign {
        #[arg(long)]
        manager: String,
        #[arg(long)]
        contract: String,
    },
    /// Take a contract away from a manager.
    Unassign {
        #[arg(long)]
        manager: String,
        #[arg(long)]
        contract: String,
    },
    /// Revoke a manager's token: it stops working at once.
    Revoke {
        #[arg(long)]
        manager: String,
    },
    /// List managers with their number of contracts.
    List,
}

#[derive(Subcommand)]
enum ServiceTokenCommand {
    /// Create a token; it is printed once as `token: …` and stored hashed.
    Create {
        #[arg(long)]
        name: String,
        /// A token that reads `GET /metrics` and nothing else (for a
        /// Prometheus scraper), instead of a service token.
        #[arg(long)]
        metrics_only: bool,
    },
    /// List service and metrics-only tokens (ids and names, never tokens).
    List,
    /// Revoke a token by id (`st_…` or `mt_…`). A service token stops
    /// working within 5 seconds (instances remember live ones that long).
    Revoke {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits non-zero naming the first bad event.
    Verify,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn load_config(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path, std::env::vars()).map_err(|e| {
        eprintln!("error: configuration: {e}");
        ExitCode::from(2)
    })
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => match load_config(cli.config.as_deref()) {
            Ok(config) => serve(config).await,
            Err(code) => return code,
        },
        Command::Demo { listen, db, stop_with_stdin } => match load_config(cli.config.as_deref()) {
            Ok(config) => crate::demo::run(config, listen, db, stop_with_stdin).await,
            Err(code) => return code,
        },
        Command::ServiceToken(command) => match load_config(cli.config.as_deref()) {
            Ok(config) => token_command(config, command).await,
            Err(code) => return code,
        },
        Command::Manager(command) => match load_config(cli.config.as_deref()) {
            Ok(config) => manager_command(config, command).await,
            Err(code) => return code,
        },
        Command::Audit(AuditCommand::Verify) => match load_config(cli.config.as_deref()) {
            Ok(config) => return verify_audit(config).await,
            Err(code) => return code,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn manager_command(config: Config, command: ManagerCommand) -> anyhow::Result<()> {
    let app = App::open(config, Arc::new(SystemClock)).await?;
    let said = |changed: bool, yes: &str, no: &str| eprintln!("{}", if changed { yes } else { no });
    match command {
        ManagerCommand::Create { name, email } => {
            let (id, token) = crate::managers::create(&app, &name, &email).await?;
            println!("manager_id: {id}");
            println!("token: {token}");
        }
        ManagerCommand::Assign { manager, contract } => {
            let changed = crate::managers::assign(&app, &manager, &contract).await?;
            said(changed, "assigned", "already assigned");
        }
        ManagerCommand::Unassign { manager, contract } => {
            let changed = crate::managers::unassign(&app, &manager, &contract).await?;
            said(changed, "unassigned", "was not assigned");
        }
        ManagerCommand::Revoke { manager } => {
            let changed = crate::managers::revoke(&app, &manager).await?;
            said(changed, "revoked: the token no longer works", "already revoked");
        }
        ManagerCommand::List => {
            let mut conn = app.store.pool().acquire().await?;
            for (m, contracts) in crate::store::managers::list(&mut conn).await? {
                let state = if m.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{contracts} contracts\t{state}", m.id, m.name, m.email);
            }
        }
    }
    app.store.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // SIGTERM is caught from before the start: a stop sent as soon as the
    // server listens (a rolling deploy) is graceful too, not the default kill.
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let server = Server::start(config, Arc::new(SystemClock)).await?;
    #[cfg(unix)]
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    #[cfg(not(unix))]
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and deliveries");
    server.stop().await;
    Ok(())
}

pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Creates a service token in the configured database; returns the token.
pub async fn issue_service_token(app: &App, name: &str) -> anyhow::Result<String> {
    issue_token(app, name, false).await
}

/// Creates a service token, or a metrics-only one (`GET /metrics` and
/// nothing else); returns the token.
async fn issue_token(app: &App, name: &str, metrics_only: bool) -> anyhow::Result<String> {
    let name = crate::service::text_field("name", name, 200).map_err(|e| anyhow::anyhow!(e.detail))?;
    let (token_prefix, id_prefix) = if metrics_only { ("tgm_", "mt_") } else { ("tgs_", "st_") };
    let (token, id) = (random_token(token_prefix), random_id(id_prefix));
    let (digest, now) = (token_digest(&token), app.now_ms());
    let mut conn = app.store.pool().acquire().await?;
    if metrics_only {
        tokens::insert_metrics_token(&mut conn, &id, &name, &digest, now).await?;
    } else {
        tokens::insert_service_token(&mut conn, &id, &name, &digest, now).await?;
    }
    Ok(token)
}

async fn token_command(config: Config, command: ServiceTokenCommand) -> anyhow::Result<()> {
    let app = App::open(config, Arc::new(SystemClock)).await?;
    let done = async {
        match command {
            ServiceTokenCommand::Create { name, metrics_only } => {
                println!("token: {}", issue_token(&app, &name, metrics_only).await?);
            }
            ServiceTokenCommand::List => {
                let mut conn = app.store.pool().acquire().await?;
                let rows = tokens::list_tokens(&mut conn).await?;
                if rows.is_empty() {
                    eprintln!("no tokens yet: tollgate-server service-token create --name NAME");
                }
                for t in rows {
                    let state = if t.revoked_at.is_some() { "revoked" } else { "live" };
                    println!("{}\t{}\t{}\t{state}", t.id, t.kind, t.name);
                }
            }
            ServiceTokenCommand::Revoke { id } => {
                let mut conn = app.store.pool().acquire().await?;
                if !tokens::revoke_token(&mut conn, &id, app.now_ms()).await? {
                    anyhow::bail!("no live token has the id {id:?} (see: tollgate-server service-token list)");
                }
                eprintln!("revoked {id}");
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    app.store.close().await;
    done
}

/// Walks the chain in `seq` order with flat memory; compares the end with
/// the recorded head. Prints the head so it can be anchored elsewhere.
pub async fn verify_chain(store: &Store) -> anyhow::Result<Result<(i64, String, u64), String>> {
    let mut conn = store.pool().acquire().await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = audit::page_after(&mut conn, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in &page {
            if let Err(brk) = verifier.push(&row.event(), &row.prev_hash, &row.hash) {
                return Ok(Err(format!("audit chain broken: {brk}")));
            }
            if verifier.checked() % 500_000 == 0 {
                eprintln!("… {} events verified", verifier.checked());
            }
        }
    }
    let (head_seq, head_hash) = audit::head(&mut conn).await?;
    let (seq, hash) = verifier.head();
    if head_seq != seq || head_hash != hash {
        return Ok(Err(format!(
            "audit chain broken: the recorded head is seq {head_seq} but the last event is seq {seq} \
             (the newest events were removed, or the head was edited)"
        )));
    }
    Ok(Ok((seq, hash.to_owned(), verifier.checked())))
}

async fn verify_audit(config: Config) -> ExitCode {
    let store = match Store::connect(&config.database.url, config.database.max_connections).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = verify_chain(&store).await;
    store.close().await;
    match outcome {
        Ok(Ok((seq, hash, checked))) => {
            println!("ok: {checked} events verified");
            println!("head: seq {seq} hash {hash}");
            ExitCode::SUCCESS
        }
        Ok(Err(broken)) => {
            eprintln!("{broken}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
