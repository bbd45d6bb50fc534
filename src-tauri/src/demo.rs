//! `tollgate-console --demo-server <path of tollgate-server>`: starts
//! `tollgate-server demo` as a child process on loopback, reads the `url:`
//! and `token:` lines it prints once its data is seeded and it listens, and
//! signs the console in to it for this session only. The demo keeps its
//! settings and cache in a folder of its own, so a manager's real sign-in is
//! untouched. The child is stopped when the console exits.
//!
//! The console links none of the server's code: it only runs its binary and
//! speaks HTTP to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::secret::Token;

/// How long the server may take to seed and listen (a debug build on a busy
/// machine takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The console's command line: `--demo-server PATH`, `--export-dir DIR`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    pub demo_server: Option<PathBuf>,
    pub export_dir: Option<PathBuf>,
}

impl Args {
    /// Unknown arguments are refused with a usage line (better than ignored).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut out = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().map(PathBuf::from).ok_or_else(|| format!("{name} needs a path"));
            match arg.as_str() {
                "--demo-server" => out.demo_server = Some(value("--demo-server")?),
                "--export-dir" => out.export_dir = Some(value("--export-dir")?),
                other => {
                    return Err(format!(
                        "unknown argument {other:?}\nusage: tollgate-console [--demo-server PATH] [--export-dir DIR]"
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// A running `tollgate-server demo`.
pub struct DemoServer {
    /// Its stdin's write end is `child.stdin`, kept open until we stop it.
    child: Child,
    pub url: String,
    pub token: Token,
}

impl DemoServer {
    /// Starts `server demo` with its database in `dir`, and waits for its URL and token.
    pub fn start(server: &Path, dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut child = Command::new(server)
            .args(["demo", "--stop-with-stdin", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.join("server.db"))
            // We hold the write end for the child's life; when this process
            // ends in any way, the pipe closes and the server stops itself.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
        let stdout = child.stdout.take().ok_or("the demo server has no output")?;
        let (tx, rx) = mpsc::channel();
        // Read on a thread: the wait below has a deadline. After the token
        // the thread keeps draining the pipe so the server never blocks on it.
        std::thread::spawn(move || {
            let (mut url, mut token) = (None, None);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(u) = line.strip_prefix("url: ") {
                    url = Some(u.trim().to_owned());
                } else if let Some(t) = line.strip_prefix("token: ") {
                    token = Some(t.trim().to_owned());
                }
                if let (Some(u), Some(t)) = (&url, &token) {
                    let _ = tx.send((u.clone(), t.clone()));
                    url = None;
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok((url, token)) => {
                let token = Token::parse(&token).map_err(|e| format!("the demo server printed a bad token: {e}"))?;
                tracing::info!(%url, "demo server started");
                Ok(Self { child, url, token })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its output ended without a token: it stopped (or is stopping).
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                Err(format!("the demo server stopped before it was ready ({status})"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the demo server was not ready within {} s", START_TIMEOUT.as_secs()))
            }
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::info!("demo server stopped");
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]).unwrap(), Args::default());
        let a = parse(&["--demo-server", "/x/tollgate-server", "--export-dir", "/tmp/e"]).unwrap();
        assert_eq!(a.demo_server.as_deref(), Some(Path::new("/x/tollgate-server")));
        assert_eq!(a.export_dir.as_deref(), Some(Path::new("/tmp/e")));
        assert_eq!(parse(&["--demo-server"]).unwrap_err(), "--demo-server needs a path");
        assert!(parse(&["--verbose"]).unwrap_err().starts_with("unknown argument \"--verbose\""));
    }

    #[test]
    fn a_server_that_exits_early_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let e = DemoServer::start(Path::new("/bin/false"), dir.path()).err().unwrap();
        assert!(e.starts_with("the demo server stopped before it was ready"), "{e}");
        let e = DemoServer::start(Path::new("/no/such/server"), dir.path()).err().unwrap();
        assert!(e.starts_with("cannot start /no/such/server"), "{e}");
    }
}
