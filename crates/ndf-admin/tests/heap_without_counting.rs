//! `/debug/heap` in a binary that keeps the default global allocator: the router must say so
//! instead of presenting zeros as measurements.

use ndf_admin::{AdminOptions, router};
use serde_json::Value;

#[tokio::test]
async fn heap_says_the_counting_allocator_is_absent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(AdminOptions::default())).await;
    });

    let response = reqwest::get(format!("http://{address}/debug/heap"))
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("response body");
    let heap: Value = serde_json::from_slice(&body).expect("heap JSON");
    assert_eq!(heap["counting_allocator"], false, "{heap}");
    for counter in [
        "current_bytes",
        "peak_bytes",
        "allocations",
        "deallocations",
        "reallocations",
        "total_allocated_bytes",
    ] {
        assert_eq!(heap["allocator"][counter], 0, "allocator.{counter}: {heap}");
    }
    if cfg!(target_os = "linux") {
        assert!(
            heap["process"]["vm_rss_bytes"].as_u64().unwrap_or(0) > 0,
            "{heap}"
        );
    }
}
