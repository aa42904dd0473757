//! Scale-out shape: an API-only replica (`ndf serve --no-jobs`) and separate `ndf worker`
//! processes sharing one store, on both backends. The API replica never extracts a job; the
//! workers do, and a worker stops cleanly (exit 0) on SIGTERM.
mod support;

use std::time::Duration;

use support::{Opts, Server, backends, client, wait_job};

#[test]
fn api_replica_and_separate_workers_share_the_store() {
    for backend in backends("workers") {
        let api = Server::serve(
            &backend,
            Opts {
                args: vec!["--no-jobs".into()],
                ..Opts::default()
            },
        );
        let http = client();
        let mut ids = Vec::new();
        for i in 0..20 {
            let pdf = ndf_testkit::text_doc(&[&format!("Worker job {i:02} text")]);
            let r = http
                .post(api.url("/v1/jobs"))
                .header("content-type", "application/pdf")
                .body(pdf)
                .send()
                .expect("submit");
            assert_eq!(r.status(), 202, "{}", backend.name());
            let v: serde_json::Value = r.json().expect("job view");
            ids.push(v["id"].as_str().expect("id").to_owned());
        }
        // Nothing runs them yet: the API replica has no consumers.
        std::thread::sleep(Duration::from_millis(500));
        let v: serde_json::Value = http
            .get(api.url("/v1/jobs?state=queued&limit=1000"))
            .send()
            .expect("list")
            .json()
            .expect("json");
        assert_eq!(
            v["jobs"].as_array().map(Vec::len),
            Some(20),
            "{}: all still queued",
            backend.name()
        );

        let opts = Opts {
            args: vec!["--workers".into(), "1".into()],
            ..Opts::default()
        };
        let mut w1 = Server::worker(&backend, opts.clone());
        let mut w2 = Server::worker(&backend, opts);
        for (i, id) in ids.iter().enumerate() {
            let job = wait_job(&http, &api, id, Duration::from_secs(60));
            assert_eq!(job["state"], "succeeded", "{}: {job}", backend.name());
            let text = http
                .get(api.url(&format!("/v1/jobs/{id}/result?format=text")))
                .send()
                .expect("result")
                .text()
                .expect("text");
            assert!(
                text.contains(&format!("Worker job {i:02} text")),
                "{}: {text}",
                backend.name()
            );
        }
        for w in [&mut w1, &mut w2] {
            let status = w
                .terminate(Duration::from_secs(30))
                .expect("worker exits after SIGTERM");
            assert!(
                status.success(),
                "{}: worker exit status {status:?}:\n{}",
                backend.name(),
                w.log_text()
            );
        }
    }
}
