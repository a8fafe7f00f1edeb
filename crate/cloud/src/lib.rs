//! splitfeat-cloud: the server half of the split network. It receives the feature
//! bitstream the edge (browser) made, decodes it and runs the task heads with the same
//! core functions as the trainer and the browser's worker, and serves the web page
//! and the model assets. API reference: docs/api.md.
//!
//! [`serve`] runs a server until a shutdown future resolves; [`bind`] + [`Server::run`]
//! do the same in two steps so that tests and the load test learn the bound address
//! first; [`app`] is the router alone.

pub mod config;
pub mod conn;
pub mod errors;
pub mod fixture;
pub mod infer;
pub mod limits;
pub mod models;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Bytes;
use burn::prelude::Device;
use tower_http::cors::CorsLayer;

pub use config::{Config, LogFormat};
pub use errors::ApiError;
pub use routes::app;

use limits::{BodyBudget, InferLimiter};
use models::{Catalog, Models};

/// Everything a request handler needs; cheap to clone (all shared).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub models: Arc<Models>,
    /// The `GET /v1/models` body.
    pub catalog_json: Bytes,
    pub limiter: InferLimiter,
    /// Memory of the request bodies held at once (`--max-body-budget-bytes`).
    pub body_budget: BodyBudget,
    pub cors: Option<CorsLayer>,
}

impl AppState {
    /// Validates the configuration and loads (and verifies) the models: the slow,
    /// fallible part of start-up.
    pub fn new(config: Config) -> Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        let cors = limits::cors_layer(&config.allow_origins)?;
        let models = models::load(&config.assets, &config.models, &Device::flex())?;
        let catalog_json = Bytes::from(serde_json::to_vec(&Catalog::new(&models))?);
        let limiter = InferLimiter::new(config.max_concurrent, config.max_queue);
        let body_budget = BodyBudget::new(config.max_body_budget_bytes);
        Ok(Self {
            config: Arc::new(config),
            models: Arc::new(models),
            catalog_json,
            limiter,
            body_budget,
            cors,
        })
    }
}

/// A server whose socket is bound and whose models are loaded, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    addr: SocketAddr,
}

/// Loads the models and binds the socket.
pub async fn bind(config: Config) -> Result<Server> {
    // Loading decodes and self-tests every model: CPU work kept off the async threads.
    let state = tokio::task::spawn_blocking(move || AppState::new(config)).await??;
    let requested = SocketAddr::new(state.config.addr, state.config.port);
    let listener = tokio::net::TcpListener::bind(requested)
        .await
        .with_context(|| format!("cannot listen on {requested}"))?;
    let addr = listener.local_addr()?;
    for m in state.models.values() {
        tracing::info!(id = %m.entry.id, name = %m.entry.name, lambda = %m.entry.lambda, "model loaded");
    }
    if !state.config.www.is_dir() {
        tracing::warn!(www = %state.config.www.display(), "static directory not found; / will answer 404");
    }
    Ok(Server {
        listener,
        state,
        addr,
    })
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting connections, lets the
    /// requests in flight finish within `--shutdown-timeout-ms`, closes whatever
    /// connections remain, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let limits = conn::ConnLimits::from_config(&self.state.config);
        let router = app(self.state);
        conn::serve(self.listener, router, limits, shutdown).await?;
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Loads, binds, prints `listening on http://ADDR:PORT` on stdout (the line scripts
/// wait for), and serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let server = bind(config).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.url())?;
        out.flush()?;
    }
    tracing::info!(url = %server.url(), "listening");
    server.run(shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: finishing in-flight requests"),
        _ = term => tracing::info!("SIGTERM: finishing in-flight requests"),
    }
}
