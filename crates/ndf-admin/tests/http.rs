//! The admin router over a real socket, in a binary whose global allocator is the counting one.

use std::hint::black_box;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ndf_admin::{AdminOptions, router};
use ndf_alloc::CountingAllocator;
use pprof::protos::Message as _;
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Serves the router on an ephemeral loopback port for the rest of the test.
async fn serve(options: AdminOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(options)).await;
    });
    address
}

async fn get(address: SocketAddr, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://{address}{path_and_query}"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("request")
}

async fn json(response: reqwest::Response) -> Value {
    let body = response.bytes().await.expect("response body");
    serde_json::from_slice(&body).expect("a JSON body")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Burns CPU under a name the profile must show, until told to stop.
#[inline(never)]
fn spin_the_cpu_for_the_profiler(stop: &AtomicBool) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    // Bounded: the test stops it after a few seconds; the cap is a backstop.
    for _ in 0..u32::MAX {
        for _ in 0..10_000 {
            state = black_box(state.rotate_left(7) ^ state.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    state
}

/// A thread named `cpu-burner` running [`spin_the_cpu_for_the_profiler`]; stops when dropped.
struct Burner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Burner {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("cpu-burner".to_owned())
            .spawn(move || spin_the_cpu_for_the_profiler(&flag))
            .expect("spawn burner");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const BURNER_FUNCTION: &str = "spin_the_cpu_for_the_profiler";

fn assert_problem(status: u16, code: &str, body: &Value) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(
        body["type"],
        format!("urn:neuraldocflow:problem:{code}"),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

// Every test that profiles lives in this one function: the profiler is process-wide, so
// profiles from parallel tests would collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_show_a_busy_thread_and_run_one_at_a_time() {
    let address = serve(AdminOptions::default()).await;
    let _burner = Burner::start();

    // Two at once: exactly one profiles, the other is turned away. They are sent together, but
    // one may reach the handler only after the other's whole profile (a slow machine): such
    // a pair did not overlap, both answer 200, and it is tried again, a bounded number of
    // times. Profiles that may overlap (both 200 every time) or a slot that is never free
    // (both 409) fail.
    const PAIRS: usize = 5;
    let path = "/debug/pprof/profile?seconds=2&frequency=199";
    let mut answered = Vec::new();
    let mut overlapped = None;
    for _ in 0..PAIRS {
        let (first, second) = tokio::join!(get(address, path), get(address, path));
        let statuses = (first.status().as_u16(), second.status().as_u16());
        answered.push(statuses);
        match statuses {
            (200, 409) => overlapped = Some((first, second)),
            (409, 200) => overlapped = Some((second, first)),
            (200, 200) => continue,
            _ => break,
        }
        break;
    }
    let Some((profiled, refused)) = overlapped else {
        panic!("two concurrent profiles: one must be refused, got {answered:?}");
    };
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let problem: Value = json(refused).await;
    assert_problem(409, "profile_in_progress", &problem);

    assert_eq!(
        header(&profiled, "content-type"),
        "application/octet-stream"
    );
    assert!(header(&profiled, "content-disposition").starts_with("attachment"));
    let gzipped = profiled.bytes().await.expect("profile body");
    let mut encoded = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut encoded)
        .expect("gzip body");
    let profile = pprof::protos::Profile::decode(&encoded[..]).expect("pprof protobuf");
    assert!(
        !profile.sample.is_empty(),
        "no samples in a 2 s profile of a busy thread"
    );
    let string = |index: i64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| profile.string_table.get(i))
            .map(String::as_str)
            .unwrap_or_default()
    };
    let sample_types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|t| (string(t.ty), string(t.unit)))
        .collect();
    assert!(
        sample_types.contains(&("cpu", "nanoseconds")),
        "{sample_types:?}"
    );
    assert_eq!(
        profile.period,
        1_000_000_000 / 199,
        "the frequency parameter was not used"
    );
    let function_names: Vec<&str> = profile.function.iter().map(|f| string(f.name)).collect();
    assert!(
        function_names
            .iter()
            .any(|name| name.contains(BURNER_FUNCTION)),
        "{BURNER_FUNCTION} missing from {function_names:?}"
    );

    // The slot is free again once a profile has been answered.
    let response = get(address, "/debug/pprof/flamegraph?seconds=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "image/svg+xml");
    let svg = response.text().await.expect("svg body");
    assert!(
        svg.starts_with("<?xml"),
        "{}",
        svg.get(..200).unwrap_or(&svg)
    );
    assert!(svg.contains("<svg"));
    assert!(
        svg.contains(BURNER_FUNCTION),
        "the busy function is not in the flame graph"
    );
    assert!(
        svg.contains("cpu-burner"),
        "the busy thread is not in the flame graph"
    );
}

#[tokio::test]
async fn bad_profile_parameters_get_a_400_problem() {
    let address = serve(AdminOptions {
        max_profile_seconds: 5,
        ..AdminOptions::default()
    })
    .await;
    for query in [
        "seconds=0",
        "seconds=1000",
        "seconds=6",
        "seconds=two",
        "seconds=1&frequency=0",
        "seconds=1&frequency=5000",
    ] {
        for route in ["profile", "flamegraph"] {
            let response = get(address, &format!("/debug/pprof/{route}?{query}")).await;
            assert_eq!(response.status(), 400, "{route}?{query}");
            assert_eq!(
                header(&response, "content-type"),
                "application/problem+json"
            );
            let problem: Value = json(response).await;
            assert_problem(400, "invalid_argument", &problem);
        }
    }
    let response = get(address, "/debug/pprof/profile?seconds=6").await;
    let problem: Value = json(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1 to 5")),
        "the detail names the configured maximum: {problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_reports_the_counting_allocator_and_process_memory() {
    let address = serve(AdminOptions::default()).await;
    let kept = black_box(vec![1_u8; 4 << 20]);
    let response = get(address, "/debug/heap").await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let heap: Value = json(response).await;
    drop(kept);

    assert_eq!(heap["counting_allocator"], true, "{heap}");
    let allocator = &heap["allocator"];
    let counter = |name: &str| {
        allocator[name]
            .as_u64()
            .unwrap_or_else(|| panic!("allocator.{name} missing: {heap}"))
    };
    assert!(counter("allocations") > 0);
    assert!(counter("deallocations") > 0);
    assert!(
        counter("current_bytes") >= 4 << 20,
        "the 4 MiB vector is live: {heap}"
    );
    assert!(counter("peak_bytes") >= counter("current_bytes"));
    assert!(counter("total_allocated_bytes") >= counter("peak_bytes"));
    let _ = counter("reallocations");

    let process = &heap["process"];
    for field in [
        "vm_rss_bytes",
        "vm_hwm_bytes",
        "vm_data_bytes",
        "vm_size_bytes",
        "threads",
    ] {
        assert!(
            process.get(field).is_some(),
            "process.{field} missing: {heap}"
        );
    }
    if cfg!(target_os = "linux") {
        let rss = process["vm_rss_bytes"].as_u64().unwrap_or(0);
        assert!(
            rss >= 4 << 20,
            "the touched 4 MiB vector is resident: {heap}"
        );
        assert!(process["vm_hwm_bytes"].as_u64().unwrap_or(0) >= rss);
        assert!(process["vm_size_bytes"].as_u64().unwrap_or(0) >= rss);
        assert!(
            process["threads"].as_u64().unwrap_or(0) >= 3,
            "main + 2 workers: {heap}"
        );
    }
}
