//! `ndf smoke`: proves a running service extracts, from outside it. It sends a built-in one-page
//! PDF (ndf-operator's smoke document, the one its rollout analysis sends) to
//! `/v1/extract?format=text` and checks the text that comes back; with `--job` it also submits
//! the document as a job, polls it until it ends, reads its result and deletes it, so the
//! workers and the store are exercised too. The Helm chart's `helm test` hook and the release
//! pipeline's staging check run it; it needs nothing but the binary (the image has no shell).
//!
//! Every request has a timeout and the poll a deadline, so the command always ends: exit 0
//! when every step passed, 1 on the first that did not (with the service's answer).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use ndf_operator::analysis::{SMOKE_TEXT, smoke_pdf};
use reqwest::blocking::{Client, RequestBuilder, Response};

use crate::UsageError;

/// Options of `ndf smoke`.
#[derive(Args, Debug)]
pub(crate) struct SmokeArgs {
    /// The service's base URL, e.g. `http://ndf-api.ndf.svc:8080`.
    #[arg(long, value_name = "URL")]
    url: String,
    /// A file holding the API key: a bare key, or a bootstrap keys line (`TENANT SCOPES NAME…
    /// KEY`; the first line that is not blank or a `#` comment, its last field). The key needs
    /// the `extract` scope, and `jobs:write` + `jobs:read` with `--job`. Without it, no
    /// `Authorization` header is sent (a service in open mode).
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// PEM certificate(s) to trust for an `https://` URL, instead of the system's roots.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Also run a job: submit, poll until it ends, read the result, delete it.
    #[arg(long)]
    job: bool,
    /// Deadline for the whole check, in seconds (each request and the job's poll included).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout_secs: u64,
}

/// Largest answer read from the service, in bytes (the smoke document's are tiny).
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Longest one request may take.
const MAX_REQUEST: Duration = Duration::from_secs(60);

/// Largest API key or CA file read, in bytes.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Runs the checks in order, printing one line per step passed.
#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &SmokeArgs) -> anyhow::Result<ExitCode> {
    let base = args.url.trim_end_matches('/');
    ensure!(
        base.starts_with("http://") || base.starts_with("https://"),
        UsageError(format!(
            "--url must start with http:// or https://, not {base:?}"
        ))
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs.max(1));
    let smoke = Smoke {
        base,
        http: client(args)?,
        key: args.api_key_file.as_deref().map(read_key).transpose()?,
        deadline,
    };

    let text = smoke.extract()?;
    println!(
        "extract: 200, the document's text came back ({} bytes)",
        text.len()
    );
    if args.job {
        let id = smoke.job_round_trip()?;
        println!("job {id}: succeeded, result read, deleted");
    }
    println!("smoke test passed against {base}");
    Ok(ExitCode::SUCCESS)
}

fn client(args: &SmokeArgs) -> anyhow::Result<Client> {
    let mut builder = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &args.ca_file {
        let pem = read_file(path)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{}: no PEM certificate", path.display()))?;
        ensure!(!certs.is_empty(), "{}: no PEM certificate", path.display());
        builder = builder.tls_certs_only(certs);
    }
    builder.build().context("building the HTTP client")
}

/// The key in `path`: the last field of its first line that is not blank or a comment.
fn read_key(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = read_file(path)?;
    let text = std::str::from_utf8(&bytes)
        .ok()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_owned)
        // Never the file's content in the message: it is a secret.
        .with_context(|| format!("{} holds no API key", path.display()))
}

fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    crate::input::read_bounded(path, MAX_FILE_BYTES).map_err(|e| anyhow::anyhow!("{e}"))
}

struct Smoke<'a> {
    base: &'a str,
    http: Client,
    key: Option<String>,
    deadline: Instant,
}

impl Smoke<'_> {
    fn send(&self, what: &str, request: RequestBuilder) -> anyhow::Result<Response> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        ensure!(!left.is_zero(), "{what}: the deadline passed");
        // Each request ends by the check's deadline (and within a minute: the smoke
        // document is tiny), body included.
        let request = request.timeout(left.min(MAX_REQUEST));
        let request = match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        request
            .send()
            .with_context(|| format!("{what}: no answer from {}", self.base))
    }

    /// `response` must have `status`; otherwise an error with the service's answer.
    fn expect(what: &str, response: Response, status: u16) -> anyhow::Result<String> {
        use std::io::Read;
        let got = response.status();
        let mut bytes = Vec::new();
        // A bounded read: whatever answers at that URL may not be ndf.
        response
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut bytes)
            .with_context(|| format!("{what}: the answer was cut short"))?;
        let body = String::from_utf8_lossy(&bytes).into_owned();
        if got.as_u16() != status {
            bail!("{what}: expected {status}, got {got}: {}", excerpt(&body));
        }
        Ok(body)
    }

    fn extract(&self) -> anyhow::Result<String> {
        let what = "POST /v1/extract";
        let response = self.send(
            what,
            self.http
                .post(format!("{}/v1/extract?format=text", self.base))
                .header("content-type", "application/pdf")
                .body(smoke_pdf()),
        )?;
        let text = Self::expect(what, response, 200)?;
        ensure!(
            text.contains(SMOKE_TEXT),
            "{what}: the answer lacks the document's text {SMOKE_TEXT:?}: {}",
            excerpt(&text)
        );
        Ok(text)
    }

    /// Submit, poll to the end, read the result, delete; the job's id.
    fn job_round_trip(&self) -> anyhow::Result<String> {
        let what = "POST /v1/jobs";
        let response = self.send(
            what,
            self.http
                .post(format!("{}/v1/jobs", self.base))
                .header("content-type", "application/pdf")
                .body(smoke_pdf()),
        )?;
        let body = Self::expect(what, response, 202)?;
        let view: serde_json::Value =
            serde_json::from_str(&body).with_context(|| format!("{what}: not JSON"))?;
        let id = view["id"]
            .as_str()
            .with_context(|| format!("{what}: no job id in {}", excerpt(&body)))?
            .to_owned();
        ensure!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{what}: unexpected job id {id:?}"
        );

        let status_url = format!("{}/v1/jobs/{id}", self.base);
        let mut pause = Duration::from_millis(100);
        loop {
            let what = "GET /v1/jobs/{id}";
            let body = Self::expect(what, self.send(what, self.http.get(&status_url))?, 200)?;
            let view: serde_json::Value =
                serde_json::from_str(&body).with_context(|| format!("{what}: not JSON"))?;
            match view["state"].as_str() {
                Some("succeeded") => break,
                Some("queued" | "running") => {}
                Some(state) => bail!("job {id} ended {state}: {}", view["error"]),
                None => bail!("{what}: no state in {}", excerpt(&body)),
            }
            ensure!(
                Instant::now() + pause < self.deadline,
                "job {id} did not finish before the deadline (last state {})",
                view["state"]
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }

        let what = "GET /v1/jobs/{id}/result";
        let result = self.send(
            what,
            self.http.get(format!("{status_url}/result?format=text")),
        )?;
        let text = Self::expect(what, result, 200)?;
        ensure!(
            text.contains(SMOKE_TEXT),
            "{what}: the result lacks the document's text: {}",
            excerpt(&text)
        );
        let what = "DELETE /v1/jobs/{id}";
        Self::expect(what, self.send(what, self.http.delete(&status_url))?, 204)?;
        Ok(id)
    }
}

/// The start of an answer, for an error message (bounded, one line).
fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > 300 {
        format!("{one_line}…")
    } else {
        one_line
    }
}
