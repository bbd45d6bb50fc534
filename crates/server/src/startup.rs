//! Building and running the server: bind (port 0 in tests), serve, deliver
//! the outbox, delete what is kept only for a while (`service::retention`),
//! and stop gracefully — in-flight requests and deliveries are
//! finished before the process ends.

use crate::app::{App, StartError};
use crate::clock::Clock;
use crate::config::Config;
use crate::notify::{self, Deliverers};
use crate::routes;
use crate::service::retention;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    worker: JoinHandle<()>,
    retention: JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Notify(String),
}

impl Server {
    /// Opens the database (migrating it), binds, and starts serving.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Self, ServeError> {
        let listen = config.server.listen.clone();
        let app = Arc::new(App::open(config, clock).await?);
        let deliverers = Arc::new(Deliverers::from_config(&app).map_err(ServeError::Notify)?);
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|source| ServeError::Bind { addr: listen.clone(), source })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: listen, source })?;
        let (shutdown, rx) = watch::channel(false);
        let mut http_rx = rx.clone();
        let router = routes::router(Arc::clone(&app));
        let http = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = http_rx.wait_for(|stop| *stop).await;
                })
                .await
        });
        let retention = tokio::spawn(retention::run(Arc::clone(&app), rx.clone()));
        let worker = tokio::spawn(notify::run_worker(Arc::clone(&app), deliverers, rx));
        tracing::info!(%addr, "listening on http://{addr}");
        Ok(Self { addr, app, shutdown, http, worker, retention })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes in-flight requests and deliveries, closes
    /// the database.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Ok(Err(error)) = self.http.await {
            tracing::error!(%error, "http server ended with an error");
        }
        let _ = self.worker.await;
        let _ = self.retention.await;
        self.app.store.close().await;
        tracing::info!("stopped");
    }
}
