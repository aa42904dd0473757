// Planted examples for .semgrep/rules.yml: every `ruleid:` line must be reported, every `ok:`
// line must not. Not compiled; scripts/scan.sh checks them before scanning the repository.

fn service(x: Option<u8>, r: Result<u8, E>, file: std::fs::File, host: &str) -> u8 {
    // ruleid: ndf-no-unwrap-in-service
    let a = x.unwrap();
    // ruleid: ndf-no-unwrap-in-service
    let b = r.expect("configured");
    // ok: ndf-no-unwrap-in-service
    let c = x.unwrap_or(0);
    // ruleid: ndf-no-unwrap-in-service
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(k).unwrap_or_else(|_| hmac::Hmac::<sha2::Sha256>::new_from_slice(b"").expect("empty HMAC key"));

    // ruleid: ndf-no-secret-in-logs
    tracing::info!(user = %name, password = %pw, "login");
    // ruleid: ndf-no-secret-in-logs
    warn!(?webhook_secret, "webhook");
    // ruleid: ndf-no-secret-in-logs
    debug!(job = %id, s3_access_key = key, "blob");
    // ruleid: ndf-no-secret-in-logs
    error!(%config.s3_secret_access_key);
    // ok: ndf-no-secret-in-logs
    info!(job = %id, "the wrong password was given");
    // ok: ndf-no-secret-in-logs
    info!(pages = n, bytes = len, "extracted");

    // ruleid: ndf-no-unbounded-read
    let all = std::fs::read(path)?;
    // ruleid: ndf-no-unbounded-read
    let text = fs::read_to_string(path)?;
    // ruleid: ndf-no-unbounded-read
    let body = tokio::fs::read(path).await?;
    // ruleid: ndf-no-unbounded-read
    file.read_to_end(&mut buf)?;
    // ruleid: ndf-no-unbounded-read
    stdin.lock().read_to_string(&mut s)?;
    // ok: ndf-no-unbounded-read
    file.take(max + 1).read_to_end(&mut buf)?;
    // ok: ndf-no-unbounded-read
    std::io::stdin().lock().take(max).read_to_string(&mut s)?;

    // ruleid: ndf-no-unsafe-outside-alloc
    let p = unsafe { *ptr };
    // ok: ndf-no-unsafe-outside-alloc
    let csp = "script-src 'unsafe-inline'";

    // ruleid: ndf-no-plain-http-url-built
    let hook = format!("http://{host}/hook");
    // ruleid: ndf-no-plain-http-url-built
    let mut u = String::from("http://");
    // ok: ndf-no-plain-http-url-built
    let hook = format!("https://{host}/hook");
    // ok: ndf-no-plain-http-url-built
    let plain = endpoint.starts_with("http://");
    a
}

// ruleid: ndf-no-unsafe-outside-alloc
unsafe fn raw() {}

// ruleid: ndf-no-unsafe-outside-alloc
#[allow(unsafe_code)]
mod relaxed {}

#[cfg(test)]
mod tests {
    fn t(x: Option<u8>) {
        // ok: ndf-no-unwrap-in-service
        let a = x.unwrap();
        // ok: ndf-no-unbounded-read
        let d = std::fs::read("fixture.pdf").unwrap();
        // ok: ndf-no-plain-http-url-built
        let u = format!("http://127.0.0.1:{port}/hook");
    }
}
