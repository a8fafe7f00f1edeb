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
    /// few KiB).
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
    /// Inferences computed at once. Each one already spreads over all cores, so more
    /// only adds contention; further requests wait in a queue.
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

impl Config {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Checks values that clap's types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent == 0 {
            return Err("--max-concurrent must be at least 1".into());
        }
        if self.max_body_bytes == 0 {
            return Err("--max-body-bytes must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            return Err("--timeout-ms must be at least 1".into());
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
}
