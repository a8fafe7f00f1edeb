//! `cargo xtask load`: a bounded load test of the cloud server on an ephemeral
//! loopback port.
//!
//! By default it builds and starts the release `splitfeat-cloud` binary, so that the
//! figures are those of the server as deployed, whatever profile xtask itself was
//! built with, and its peak RSS is the server's alone; `--in-process` runs the server
//! inside this process instead (no release build needed; RSS then includes the client).
//!
//! It serves the shipped models from `assets/` (or, when there is no manifest, an
//! untrained test model written to a temp dir), encodes validation scenes into real
//! bitstreams with the model's edge, then sends N requests at each concurrency level
//! and reports throughput, latency percentiles, errors, peak RSS, and how much of the
//! time is spent outside the head computation:
//! - server overhead = server `total` - sum of `heads` (both from the response timings),
//! - client overhead = client-observed latency - sum of `heads`,
//!
//! each as a share of the head time (means over the level's successful requests, and
//! the median of the per-request server overhead).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use burn::prelude::Device;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use splitfeat_cloud::Config;
use splitfeat_cloud::fixture::{encode_image, write_assets};
use splitfeat_core::runtime::EdgeRuntime;
use splitfeat_core::zoo::{MANIFEST_FILE, ModelEntry, Zoo};
use splitfeat_data::Split;

#[derive(Debug, Parser)]
#[command(name = "xtask load", about = "Load-test the cloud server on 127.0.0.1")]
struct LoadArgs {
    /// Requests per concurrency level.
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 16])]
    concurrency: Vec<usize>,
    /// Assets directory; an untrained test model is generated if it has no manifest.
    #[arg(long)]
    assets: Option<PathBuf>,
    /// Model name or id (default: the first of the manifest).
    #[arg(long)]
    model: Option<String>,
    /// Tasks to request.
    #[arg(long, default_value = "seg,disp,recon")]
    tasks: String,
    /// Distinct validation scenes to encode (the requests cycle through them).
    #[arg(long, default_value_t = 16)]
    scenes: usize,
    /// Inference slots of the server (its --max-concurrent).
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Run the server inside this process instead of the release binary.
    #[arg(long)]
    in_process: bool,
    /// Server binary to start (default: build and use target/release/splitfeat-cloud).
    #[arg(long, conflicts_with = "in_process")]
    server_bin: Option<PathBuf>,
    /// Stop issuing requests at a level after this many seconds.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Entry point for `cargo xtask load ARGS...` (`args` excludes `load` itself).
pub fn run(args: &[String]) -> Result<()> {
    let args = LoadArgs::try_parse_from(
        std::iter::once("xtask load".to_string()).chain(args.iter().cloned()),
    )?;
    ensure!(
        args.requests > 0 && args.scenes > 0,
        "--requests and --scenes must be positive"
    );
    ensure!(
        args.concurrency.iter().all(|&c| c > 0),
        "concurrency levels must be positive"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

/// One measured request.
struct Sample {
    ok: bool,
    client_ms: f64,
    server_total_ms: f64,
    heads_ms: f64,
    /// Server time outside the heads: queue, decode, postprocess, encode_png.
    parts_ms: [f64; 4],
    response_bytes: usize,
}

const PARTS: [&str; 4] = ["queue", "decode", "postprocess", "encode_png"];

#[derive(Debug, serde::Serialize)]
struct LevelReport {
    concurrency: usize,
    requests: usize,
    errors: usize,
    wall_s: f64,
    req_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_client_ms: f64,
    mean_server_total_ms: f64,
    mean_heads_ms: f64,
    server_overhead_pct: f64,
    client_overhead_pct: f64,
    /// Median over requests of (server total - heads) / heads, in %: robust to the
    /// occasional scheduling stall of a shared machine.
    median_server_overhead_pct: f64,
    /// Mean server time of each non-head stage, ms.
    mean_parts_ms: std::collections::BTreeMap<&'static str, f64>,
    mean_response_bytes: f64,
}

/// The server under test: a task of this process, or a child process.
enum Server {
    InProcess {
        url: String,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<()>>,
    },
    Process(ServerProcess),
}

impl Server {
    fn url(&self) -> &str {
        match self {
            Server::InProcess { url, .. } => url,
            Server::Process(p) => &p.url,
        }
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        match self {
            Server::InProcess { .. } => peak_rss_kib("self"),
            Server::Process(p) => peak_rss_kib(&p.child.id().to_string()),
        }
    }

    async fn stop(self) -> Result<()> {
        match self {
            Server::InProcess { stop, task, .. } => {
                let _ = stop.send(());
                task.await?
            }
            Server::Process(mut p) => tokio::task::spawn_blocking(move || p.stop()).await?,
        }
    }
}

/// A `splitfeat-cloud` child process, killed if dropped before [`ServerProcess::stop`].
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts `bin` and waits for its `listening on URL` line.
    fn start(bin: &Path, args: &[String]) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut process = ServerProcess {
            child,
            url: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        match line.trim().strip_prefix("listening on ") {
            Some(url) => process.url = url.to_string(),
            None => bail!("{} did not start (first line: {line:?})", bin.display()),
        }
        Ok(process)
    }

    /// SIGTERM (graceful), then a hard kill if it has not exited within 10 s.
    fn stop(&mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "server exited with {status}");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        bail!("server did not stop within 10 s of SIGTERM")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The release server binary: `--server-bin`, or built here with cargo.
fn release_binary(root: &Path, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(bin) = explicit {
        return Ok(bin.to_path_buf());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("load: building the release server (cargo build --release -p splitfeat-cloud)");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "splitfeat-cloud"])
        .status()
        .context("running cargo")?;
    ensure!(
        status.success(),
        "cargo build --release -p splitfeat-cloud failed"
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("splitfeat-cloud"))
}

async fn start_server(args: &LoadArgs, root: &Path, config: Config) -> Result<Server> {
    if args.in_process {
        let server = splitfeat_cloud::bind(config).await?;
        let url = server.url();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stop_rx.await;
        }));
        return Ok(Server::InProcess { url, stop, task });
    }
    let bin = release_binary(root, args.server_bin.as_deref())?;
    let cli = vec![
        "--port".to_string(),
        "0".into(),
        "--assets".into(),
        config.assets.display().to_string(),
        "--www".into(),
        config.www.display().to_string(),
        "--model".into(),
        config.models.first().cloned().unwrap_or_default(),
        "--max-queue".into(),
        config.max_queue.to_string(),
        "--max-concurrent".into(),
        config.max_concurrent.to_string(),
        "--timeout-ms".into(),
        config.timeout_ms.to_string(),
    ];
    let process = tokio::task::spawn_blocking(move || ServerProcess::start(&bin, &cli)).await??;
    Ok(Server::Process(process))
}

async fn run_async(args: LoadArgs) -> Result<()> {
    let root = crate::root();
    let assets = args.assets.clone().unwrap_or_else(|| root.join("assets"));
    let _temp;
    let (assets, trained) = if assets.join(MANIFEST_FILE).is_file() {
        (assets, true)
    } else {
        let dir = tempfile::tempdir()?;
        write_assets(dir.path(), &["loadtest"])?;
        eprintln!(
            "load: no {MANIFEST_FILE} in {}; using an untrained `test`-preset model (32x64)",
            assets.display()
        );
        let p = dir.path().to_path_buf();
        _temp = dir;
        (p, false)
    };
    let zoo = Zoo::open(&assets)?;
    let entry = match &args.model {
        Some(m) => zoo.find(m)?,
        None => zoo
            .manifest()
            .models
            .first()
            .context("the manifest lists no models")?,
    }
    .clone();

    let streams = make_streams(&zoo, &entry, args.scenes)?;
    let mean_bytes = streams.iter().map(Vec::len).sum::<usize>() as f64 / streams.len() as f64;

    let defaults = Config::default();
    let config = Config {
        port: 0,
        assets: assets.clone(),
        // No page is needed; a directory that does not exist serves nothing.
        www: assets.join("www-unused"),
        models: vec![entry.id.to_string()],
        // Every request of the highest level may wait: the test measures queueing,
        // it does not provoke 503s.
        max_queue: args.concurrency.iter().copied().max().unwrap_or(1).max(64),
        timeout_ms: 120_000,
        max_concurrent: args.max_concurrent.unwrap_or(defaults.max_concurrent),
        ..defaults
    };
    let max_concurrent = config.max_concurrent;
    let server = start_server(&args, &root, config).await?;
    let url = format!(
        "{}/v1/infer?model={}&tasks={}",
        server.url(),
        entry.id,
        args.tasks
    );

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let streams: Arc<Vec<Bytes>> = Arc::new(streams.into_iter().map(Bytes::from).collect());
    // Warm-up: connections, allocator, first-touch of every head.
    for s in streams.iter().take(2) {
        let sample = request(&client, &url, s.clone()).await;
        ensure!(sample.ok, "warm-up request failed");
    }

    println!(
        "load: model {} ({}, lambda {}, {}x{} input), {} scenes, mean stream {:.0} B, tasks {}, \
         server {} with --max-concurrent {}",
        entry.name,
        entry.id,
        entry.lambda,
        entry.config.input_width,
        entry.config.input_height,
        streams.len(),
        mean_bytes,
        args.tasks,
        if args.in_process {
            "in process"
        } else {
            "release binary"
        },
        max_concurrent
    );
    println!(
        "{:>4} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "conc",
        "reqs",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "heads ms",
        "server ms",
        "srv ovh %",
        "cli ovh %"
    );
    let mut reports = Vec::new();
    for &c in &args.concurrency {
        let r = level(
            &client,
            &url,
            &streams,
            c,
            args.requests,
            Duration::from_secs(args.max_seconds),
        )
        .await;
        println!(
            "{:>4} {:>6} {:>6} {:>8.2} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>10.2}",
            r.concurrency,
            r.requests,
            r.errors,
            r.req_per_s,
            r.p50_ms,
            r.p99_ms,
            r.mean_heads_ms,
            r.mean_server_total_ms,
            r.server_overhead_pct,
            r.client_overhead_pct
        );
        let parts: Vec<String> = r
            .mean_parts_ms
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        println!(
            "     outside the heads, mean ms: {}; median server overhead {:.2} %; mean response {:.0} B",
            parts.join(", "),
            r.median_server_overhead_pct,
            r.mean_response_bytes
        );
        reports.push(r);
    }
    let peak_rss_kib = server.peak_rss_kib();
    println!(
        "peak RSS (VmHWM) of the {}: {}",
        if args.in_process {
            "whole process (server, client and edge model)"
        } else {
            "server process"
        },
        peak_rss_kib.map_or("unknown".to_string(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        ))
    );
    server.stop().await?;

    let errors: usize = reports.iter().map(|r| r.errors).sum();
    if let Some(first) = reports.iter().find(|r| r.concurrency == 1) {
        let verdict = if first.errors == 0 && first.server_overhead_pct < 10.0 {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "target (0 errors, server overhead < 10 % of head time at concurrency 1): {verdict} \
             ({} errors, mean {:.2} %, median {:.2} %)",
            first.errors, first.server_overhead_pct, first.median_server_overhead_pct
        );
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "model": {"id": entry.id, "name": entry.name, "lambda": entry.lambda, "trained": trained},
            "tasks": args.tasks,
            "server": if args.in_process { "in-process" } else { "release-binary" },
            "mean_stream_bytes": mean_bytes,
            "max_concurrent": max_concurrent,
            "levels": reports,
            "peak_rss_kib": peak_rss_kib,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// Renders validation scenes at the model's input size and encodes them with the
/// model's edge, as the browser would.
fn make_streams(zoo: &Zoo, entry: &ModelEntry, scenes: usize) -> Result<Vec<Vec<u8>>> {
    let edge_bytes = zoo.edge(entry)?;
    let edge = EdgeRuntime::load(entry.config.clone(), &edge_bytes, &Device::flex())?;
    let (h, w) = (entry.config.input_height, entry.config.input_width);
    (0..scenes)
        .map(|i| {
            let seed = Split::Val
                .seed(i)
                .context("more scenes than the validation split has")?;
            let sample = splitfeat_data::render_scene(seed, w as u32, h as u32)?;
            encode_image(&edge, &sample.rgb, h, w)
        })
        .collect()
}

async fn request(client: &Client<HttpConnector, Full<Bytes>>, url: &str, body: Bytes) -> Sample {
    let started = Instant::now();
    let failed = |client_ms| Sample {
        ok: false,
        client_ms,
        server_total_ms: 0.0,
        heads_ms: 0.0,
        parts_ms: [0.0; 4],
        response_bytes: 0,
    };
    let req = match hyper::Request::post(url)
        .header("content-type", "application/octet-stream")
        .body(Full::new(body))
    {
        Ok(r) => r,
        Err(_) => return failed(0.0),
    };
    let Ok(resp) = client.request(req).await else {
        return failed(ms_since(started));
    };
    let status = resp.status();
    let Ok(body) = resp.into_body().collect().await.map(|b| b.to_bytes()) else {
        return failed(ms_since(started));
    };
    let client_ms = ms_since(started);
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return failed(client_ms);
    };
    if status != 200 {
        return failed(client_ms);
    }
    let t = &json["timings_ms"];
    let heads_ms = t["heads"]
        .as_object()
        .map_or(0.0, |m| m.values().filter_map(|v| v.as_f64()).sum());
    let parts_ms = PARTS.map(|k| t[k].as_f64().unwrap_or(0.0));
    Sample {
        ok: true,
        client_ms,
        server_total_ms: t["total"].as_f64().unwrap_or(0.0),
        heads_ms,
        parts_ms,
        response_bytes: body.len(),
    }
}

/// `n` requests from `c` concurrent workers (each waits for its reply before sending
/// the next), stopping early after `max_time`.
async fn level(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    streams: &Arc<Vec<Bytes>>,
    c: usize,
    n: usize,
    max_time: Duration,
) -> LevelReport {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..c {
        let (client, url, streams, next) = (
            client.clone(),
            url.to_string(),
            Arc::clone(streams),
            Arc::clone(&next),
        );
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || started.elapsed() > max_time {
                    break;
                }
                samples.push(request(&client, &url, streams[i % streams.len()].clone()).await);
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for w in workers {
        match w.await {
            Ok(s) => samples.extend(s),
            Err(_) => samples.push(Sample {
                ok: false,
                client_ms: 0.0,
                server_total_ms: 0.0,
                heads_ms: 0.0,
                parts_ms: [0.0; 4],
                response_bytes: 0,
            }),
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    summarize(c, &samples, wall_s)
}

fn summarize(concurrency: usize, samples: &[Sample], wall_s: f64) -> LevelReport {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let mut lat: Vec<f64> = ok.iter().map(|s| s.client_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mean_of = |f: &dyn Fn(&Sample) -> f64| {
        if ok.is_empty() {
            0.0
        } else {
            ok.iter().map(|s| f(s)).sum::<f64>() / ok.len() as f64
        }
    };
    let mean = |f: fn(&Sample) -> f64| mean_of(&f);
    let mean_parts_ms = PARTS
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, mean_of(&|s: &Sample| s.parts_ms[i])))
        .collect();
    let (client, server, heads) = (
        mean(|s| s.client_ms),
        mean(|s| s.server_total_ms),
        mean(|s| s.heads_ms),
    );
    let pct = |x: f64| {
        if heads > 0.0 {
            100.0 * (x - heads) / heads
        } else {
            0.0
        }
    };
    LevelReport {
        concurrency,
        requests: samples.len(),
        errors: samples.len() - ok.len(),
        wall_s,
        req_per_s: if wall_s > 0.0 {
            samples.len() as f64 / wall_s
        } else {
            0.0
        },
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        mean_client_ms: client,
        mean_server_total_ms: server,
        mean_heads_ms: heads,
        server_overhead_pct: pct(server),
        client_overhead_pct: pct(client),
        mean_parts_ms,
        median_server_overhead_pct: {
            let mut v: Vec<f64> = ok
                .iter()
                .filter(|s| s.heads_ms > 0.0)
                .map(|s| 100.0 * (s.server_total_ms - s.heads_ms) / s.heads_ms)
                .collect();
            v.sort_by(f64::total_cmp);
            percentile(&v, 0.5)
        },
        mean_response_bytes: mean_of(&|s: &Sample| s.response_bytes as f64),
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Peak resident set size (`VmHWM`) of a process (`self` or a pid), Linux only.
fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
