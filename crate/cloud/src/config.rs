//! Server configuration: the command line of `splitfeat-cloud`, also built in code by
//! tests and the load test (`Config::default()` is the command line with no flags).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Runs the cloud half of splitfeat: decodes feature bitstreams sent by the edge and
/// returns segmentation, disparity and reconstruction; also serves the web page and
/// the model assets.
#[derive(Debug, Clone, Parser)]
#[command(name = "splitfeat-cloud", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// Port to listen on; 0 picks a free one. The bound URL is printed on stdout as
    /// `listening on http://ADDR:PORT`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Assets directory: manifest.json and the model files it lists; served at /assets/.
    #[arg(long, default_value = "assets")]
    pub assets: PathBuf,
    /// Static web page directory, served at /.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// Models to load, by name or id (repeatable); all models of the manifest if none.
    #[arg(long = "model", value_name = "NAME_OR_ID")]
    pub models: Vec<String>,
    /// Origin allowed to call the API from another origin (repeatable), e.g.
    /// `http://localhost:3000`; `*` allows every origin. Without it, no CORS headers
    /// are sent, so only pages served by this server can read the responses.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Largest accepted request body in bytes (a bitstream of the shipped models is a
    /// few KiB); at most 256 MiB.
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
    /// Bytes of request bodies held in memory at once, over all connections (bodies
    /// being received and bodies of requests in progress). A body that would exceed
    /// it is refused with 503 `overloaded`. At least --max-body-bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_body_budget_bytes: usize,
    /// Connections served at once; further connections wait in the listen backlog
    /// until one closes.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Time allowed for a request's headers, in ms, counted from when the connection
    /// starts waiting for a request: a new connection, or a keep-alive connection
    /// after its last response (so this is also the idle keep-alive timeout).
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// A response write that makes no progress for this long (the client stopped
    /// reading) closes the connection, in ms.
    #[arg(long, default_value_t = 15_000)]
    pub write_timeout_ms: u64,
    /// On SIGINT or SIGTERM, time given to requests in flight before the remaining
    /// connections are closed, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
    /// Inferences computed at once. Each one already runs its heads at once, one thread
    /// each (and the same head of two requests takes turns), so more only adds
    /// contention; further requests wait in a queue.
    #[arg(long, default_value_t = 2)]
    pub max_concurrent: usize,
    /// Requests allowed to wait for an inference slot; past this, 503 `overloaded`.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Time limit of an inference request (body upload, queue and compute), in ms.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines with key=value fields.
    Text,
    /// One JSON object per event.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["splitfeat-cloud"])
    }
}

/// Upper bound of `--max-body-bytes` (256 MiB).
pub const MAX_BODY_BYTES_LIMIT: usize = 256 << 20;
/// Upper bound of `--max-body-budget-bytes` (16 GiB).
pub const MAX_BODY_BUDGET_LIMIT: usize = 16 << 30;
/// Upper bound of `--max-connections`.
pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;

impl Config {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// Checks values that clap's types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent == 0 {
            return Err("--max-concurrent must be at least 1".into());
        }
        if !(1..=MAX_BODY_BYTES_LIMIT).contains(&self.max_body_bytes) {
            return Err(format!(
                "--max-body-bytes {} is out of range: it must be 1 to {MAX_BODY_BYTES_LIMIT} (256 MiB)",
                self.max_body_bytes
            ));
        }
        if !(self.max_body_bytes..=MAX_BODY_BUDGET_LIMIT).contains(&self.max_body_budget_bytes) {
            return Err(format!(
                "--max-body-budget-bytes {} is out of range: it must be at least --max-body-bytes ({}) and at most {MAX_BODY_BUDGET_LIMIT} (16 GiB)",
                self.max_body_budget_bytes, self.max_body_bytes
            ));
        }
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            return Err(format!(
                "--max-connections {} is out of range: it must be 1 to {MAX_CONNECTIONS_LIMIT}",
                self.max_connections
            ));
        }
        for (flag, ms) in [
            ("--timeout-ms", self.timeout_ms),
            ("--header-timeout-ms", self.header_timeout_ms),
            ("--write-timeout-ms", self.write_timeout_ms),
            ("--shutdown-timeout-ms", self.shutdown_timeout_ms),
        ] {
            // A day: far past any sensible limit, and small enough for any timer.
            if !(1..=86_400_000).contains(&ms) {
                return Err(format!(
                    "{flag} {ms} is out of range: it must be 1 to 86400000"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn defaults_and_flags_parse() {
        Config::command().debug_assert();
        let c = Config::default();
        assert_eq!(c.addr.to_string(), "127.0.0.1");
        assert_eq!(c.port, 8080);
        assert!(c.allow_origins.is_empty());
        c.validate().unwrap();
        let c = Config::parse_from([
            "splitfeat-cloud",
            "--port",
            "0",
            "--allow-origin",
            "http://a.test",
            "--allow-origin",
            "*",
            "--max-concurrent",
            "0",
        ]);
        assert_eq!(c.allow_origins, ["http://a.test", "*"]);
        assert!(c.validate().is_err());
    }

    #[test]
    fn limits_have_upper_bounds() {
        let parse = |args: &[&str]| {
            let mut all = vec!["splitfeat-cloud"];
            all.extend_from_slice(args);
            Config::parse_from(all).validate()
        };
        let err = parse(&["--max-body-bytes", "1099511627776"]).unwrap_err();
        assert!(err.contains("--max-body-bytes 1099511627776"), "{err}");
        assert!(err.contains("256 MiB"), "{err}");
        parse(&[
            "--max-body-bytes",
            "268435456",
            "--max-body-budget-bytes",
            "268435456",
        ])
        .unwrap();
        let err =
            parse(&["--max-body-bytes", "1000", "--max-body-budget-bytes", "999"]).unwrap_err();
        assert!(err.contains("--max-body-budget-bytes"), "{err}");
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--header-timeout-ms", "0"]).is_err());
        assert!(parse(&["--shutdown-timeout-ms", "100000000000"]).is_err());
    }
}
