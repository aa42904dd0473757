//! TLS for the API listener: rustls (aws-lc-rs), TLS 1.2 and 1.3 only, certificates reloaded
//! from their files without a restart, and optional client certificates (mutual TLS).
//! Handshakes run in [`crate::transport`], which logs and counts the refused ones
//! ([`failure_reason`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

use crate::config::ConfigError;

/// How often the certificate files are checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Where the listener's certificate, key and (for mutual TLS) client CA live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
}

fn bad(path: &Path, what: &'static str, e: impl Into<crate::config::Cause>) -> ConfigError {
    ConfigError::file(what, path, e)
}

/// A rustls server configuration from the files (TLS 1.2 and 1.3; HTTP/1.1 and HTTP/2).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, "certificate", e))?
        .take(64)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&files.cert, "certificate", e))?;
    if certs.is_empty() {
        return Err(bad(
            &files.cert,
            "certificate",
            "no certificate in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, "key", e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::unusable("TLS versions", e))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| bad(ca, "client CA", e))?
                .take(256)
            {
                roots
                    .add(c.map_err(|e| bad(ca, "client CA", e))?)
                    .map_err(|e| bad(ca, "client CA", e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad(ca, "client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError::unusable("the TLS certificate and key do not match", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS configuration in use, replaced when the files change; each new connection takes
/// the current one.
#[derive(Debug, Clone)]
pub struct CurrentConfig(Arc<RwLock<Arc<rustls::ServerConfig>>>);

impl CurrentConfig {
    /// Start with `config`.
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self(Arc::new(RwLock::new(config)))
    }

    /// The configuration for a new connection.
    pub fn get(&self) -> Arc<rustls::ServerConfig> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, config: Arc<rustls::ServerConfig>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = config;
    }
}

fn modified(files: &TlsFiles) -> Vec<Option<SystemTime>> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .collect()
}

/// Reload the configuration whenever a file changes, until `stop`. A broken new file keeps
/// the previous certificate (and says so in the log).
pub async fn reload_on_change(
    config: CurrentConfig,
    files: TlsFiles,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = modified(&files);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RELOAD_EVERY) => {}
            _ = stop.changed() => return,
        }
        let now = modified(&files);
        if now == seen {
            continue;
        }
        match server_config(&files) {
            Ok(c) => {
                config.replace(c);
                seen = now;
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "new TLS files not loaded; keeping the previous certificate");
            }
        }
    }
}

/// Why a handshake failed, as a fixed label (metric label values are static):
/// `not_tls` (plain HTTP or other bytes on the TLS port), `incompatible` (an old protocol
/// version or no common cipher suite), `malformed`, `client_certificate` (missing or not
/// trusted, mutual TLS), `alert_received` (the client refused ours), `closed` (the client went
/// away), `other`. The timeout case is labelled by the caller.
pub fn failure_reason(e: &std::io::Error) -> &'static str {
    use rustls::{Error as E, InvalidMessage};
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<E>()) {
        return match tls {
            E::InvalidMessage(InvalidMessage::InvalidContentType) => "not_tls",
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. } => "malformed",
            E::PeerIncompatible(_) => "incompatible",
            E::NoCertificatesPresented | E::InvalidCertificate(_) => "client_certificate",
            E::AlertReceived(_) => "alert_received",
            _ => "other",
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => "closed",
        _ => "other",
    }
}

/// Every label [`failure_reason`] (or the timeout) gives, for series that exist at zero.
pub const FAILURE_REASONS: &[&str] = &[
    "not_tls",
    "incompatible",
    "malformed",
    "client_certificate",
    "alert_received",
    "closed",
    "timeout",
    "other",
];
