//! Smoke test of the harness: a server starts on each backend and extracts a document.
mod support;

use support::{Opts, Server, backends, client};

#[test]
fn serves_on_every_backend() {
    for backend in backends("smoke") {
        let server = Server::serve(&backend, Opts::default());
        let http = client();
        let pdf = ndf_testkit::text_doc(&["Smoke test page"]);
        let r = http
            .post(server.url("/v1/extract?format=text"))
            .header("content-type", "application/pdf")
            .body(pdf)
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{}: {}", backend.name(), server.log_text());
        assert!(r.text().expect("body").contains("Smoke test page"));
    }
}
