//! The server's memory under a huge declared body length, alone in its process: the
//! check reads the process's virtual memory size, which other tests running in
//! parallel threads (each with its own allocator arena) would make grow too.

mod common;

use std::time::Duration;

use common::{Fixture, TestServer, get, post_stream, read_response, status_of};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[cfg(target_os = "linux")]
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_huge_declared_length_reserves_no_memory() {
    let fx = Fixture::new();
    let mut config = fx.config();
    config.max_body_bytes = splitfeat_cloud::config::MAX_BODY_BYTES_LIMIT;
    config.max_body_budget_bytes = splitfeat_cloud::config::MAX_BODY_BYTES_LIMIT;
    let server = TestServer::start(config).await;
    let path = format!("/v1/infer?model={}", fx.id(0));
    // Warm the path once so that first-use allocations are not counted.
    let reply = post_stream(&server.url(&path), fx.stream(0)).await;
    assert_eq!(reply.status, 200);

    let before = vm_size();
    let declared = splitfeat_cloud::config::MAX_BODY_BYTES_LIMIT - 1;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n0123456789"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let grown = vm_size().saturating_sub(before);
    // Reserving the declared length would add 256 MiB of address space.
    assert!(grown < 160 << 20, "virtual memory grew by {grown} bytes");

    // The client gives up: a 400, and the server carries on.
    client.shutdown().await.unwrap();
    let (head, body) = read_response(&mut client).await;
    assert_eq!(status_of(&head), 400, "{head}");
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["error"], "body_read_error");

    // Past the limit: refused from the header, before any byte of the body.
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1099511627775\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (head, body) = read_response(&mut client).await;
    assert_eq!(status_of(&head), 413, "{head}");
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["error"], "payload_too_large");
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    server.stop().await;
}
