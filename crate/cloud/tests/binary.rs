//! The `splitfeat-cloud` executable: help text, the `listening on` line scripts wait
//! for, clean exit on SIGTERM, and a clear message when a model file is bad.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use splitfeat_cloud::fixture::write_assets;

const BIN: &str = env!("CARGO_BIN_EXE_splitfeat-cloud");

#[test]
fn help_lists_the_options() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--addr",
        "--port",
        "--assets",
        "--www",
        "--model",
        "--allow-origin",
        "--max-body-bytes",
        "--max-body-budget-bytes",
        "--max-connections",
        "--header-timeout-ms",
        "--write-timeout-ms",
        "--shutdown-timeout-ms",
        "--max-concurrent",
        "--max-queue",
        "--timeout-ms",
        "--log-format",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

/// A minimal HTTP/1.1 GET (the binary runs in another process; no async needed).
fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[cfg(unix)]
#[test]
fn serves_on_an_ephemeral_port_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    write_assets(dir.path(), &["a"]).unwrap();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--assets"])
        .arg(dir.path())
        .args(["--www"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"));
    assert!(url.starts_with("127.0.0.1:"), "{url}");

    let reply = http_get(url, "/healthz");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap();
    assert!(code.success(), "exit status after SIGTERM: {code:?}");
}

#[test]
fn an_out_of_range_body_limit_stops_start_up_naming_the_flag() {
    let out = Command::new(BIN)
        .args(["--port", "0", "--max-body-bytes", "1099511627776"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-body-bytes 1099511627776"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_model_file_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let models = write_assets(dir.path(), &["a"]).unwrap();
    let heads = dir.path().join(&models[0].entry.heads.path);
    std::fs::write(&heads, b"not weights").unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--assets"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&heads.display().to_string()), "{err}");
    assert!(out.stdout.is_empty());
}
