//! Blobs in S3-compatible object storage (AWS, MinIO, SeaweedFS, …) via `object_store`.
//!
//! A single PUT replaces an object atomically. Requests time out (connect 5 s, request 60 s)
//! and are retried at most 3 times within 30 s, so an unreachable endpoint fails fast enough
//! for a health check.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::error::{Detail, StoreError, object};
use crate::types::StoreOptions;
use crate::{BlobStore, redact_url, validate_key};

/// [`BlobStore`] on an S3 bucket, under an optional key prefix.
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    max_bytes: u64,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Splits `s3://bucket/prefix` and validates both parts.
fn parse_url(url: &str) -> Result<(String, String), StoreError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StoreError::Invalid(format!("not an s3 URL: {}", redact_url(url)).into()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3 bucket naming rules (lower-case DNS labels, 3..=63).
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !bucket_ok {
        return Err(StoreError::Invalid(
            format!("bad S3 bucket name in {}", redact_url(url)).into(),
        ));
    }
    let prefix = prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        validate_key(prefix)
            .map_err(|_| StoreError::Invalid("bad key prefix in the s3:// URL".into()))?;
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// Whether `endpoint` is `http://` on a loopback host (allowed without `s3_allow_http`).
fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl S3BlobStore {
    /// Builds the client for `s3://bucket/prefix` (no request is made: see [`BlobStore::ping`]).
    /// Settings from `options` win over the `AWS_*` environment variables.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if let Some(endpoint) = &options.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &options.s3_region {
            builder = builder.with_region(region);
        } else if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        if let Some(id) = &options.s3_access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &options.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let allow_http = match endpoint.as_deref() {
            Some(e) if e.starts_with("http://") => {
                if !(options.s3_allow_http || is_loopback_http(e)) {
                    return Err(StoreError::Invalid(format!(
                        "plain-http S3 endpoint {} is only allowed on loopback (or with s3_allow_http)",
                        redact_url(e)
                    ).into()));
                }
                true
            }
            _ => false,
        };
        // Set through config keys so that client settings taken from the environment (proxy,
        // certificates…) are kept rather than replaced by a fresh ClientOptions.
        let client = |key| AmazonS3ConfigKey::Client(key);
        let store = builder
            .with_config(client(ClientConfigKey::AllowHttp), allow_http.to_string())
            .with_config(client(ClientConfigKey::ConnectTimeout), "5s")
            .with_config(client(ClientConfigKey::Timeout), "60s")
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| StoreError::Invalid(Detail::caused_by("S3 configuration", e)))?;
        Ok(Self {
            store: Arc::new(store),
            bucket,
            prefix,
            max_bytes: options.max_blob_bytes,
        })
    }

    fn path(&self, key: &str) -> Result<Path, StoreError> {
        validate_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(full).map_err(|e| StoreError::Invalid(Detail::caused_by("blob key", e)))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        crate::check_blob_size(data.len() as u64, self.max_bytes)?;
        self.store
            .put(&path, PutPayload::from_bytes(data))
            .await
            .map_err(object)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.path(key)?;
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(object(e)),
        };
        // Checked before the body is read: an oversized object never reaches memory.
        crate::check_blob_size(result.meta.size, self.max_bytes)?;
        result.bytes().await.map(Some).map_err(object)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object(e)),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // One signed LIST page: proves the endpoint, the bucket and the credentials.
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(object(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("s3://ndf-test/jobs/a").ok(),
            Some(("ndf-test".into(), "jobs/a".into()))
        );
        assert_eq!(
            parse_url("s3://bucket").ok(),
            Some(("bucket".into(), String::new()))
        );
        assert_eq!(
            parse_url("s3://bucket/p/").ok(),
            Some(("bucket".into(), "p".into()))
        );
        for bad in [
            "s3://",
            "s3://B",
            "s3://ab",
            "s3://bucket/../x",
            "s3://-bucket/x",
            "file://x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_detection() {
        for ok in [
            "http://127.0.0.1:8333",
            "http://localhost",
            "http://[::1]:9000/",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback_http(ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1",
            "http://minio:9000",
            "http://10.0.0.1",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com",
        ] {
            assert!(!is_loopback_http(bad), "{bad}");
        }
    }

    #[test]
    fn plain_http_needs_loopback_or_opt_in() {
        let mut options = StoreOptions {
            s3_endpoint: Some("http://minio.internal:9000".into()),
            s3_access_key_id: Some("a".into()),
            s3_secret_access_key: Some("b".into()),
            ..StoreOptions::default()
        };
        assert!(matches!(
            S3BlobStore::open("s3://bucket/p", &options),
            Err(StoreError::Invalid(_))
        ));
        options.s3_allow_http = true;
        assert!(S3BlobStore::open("s3://bucket/p", &options).is_ok());
        options.s3_allow_http = false;
        options.s3_endpoint = Some("http://127.0.0.1:9000".into());
        assert!(S3BlobStore::open("s3://bucket/p", &options).is_ok());
    }
}
