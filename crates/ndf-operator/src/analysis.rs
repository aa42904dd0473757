//! The pre-promotion analysis of a preview colour, behind [`Analyzer`] so that the reconciler's
//! tests script the results. [`HttpAnalyzer`] measures for real: a PromQL query against
//! Prometheus' HTTP API compared with the spec's threshold, or smoke extractions of a tiny
//! built-in PDF through the preview Service.
//!
//! The operator's ClusterRole grants no Secrets. A smoke analysis with `apiKeySecret`, or
//! against an API with TLS (its Secret's `ca.crt` or `tls.crt`), needs `get` on that one
//! Secret: a Role in the cluster's namespace with `resourceNames`, bound to the operator's
//! ServiceAccount. Without it each measurement fails, saying so, and the rollout aborts.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::build::{API_PORT, Names};
use crate::crd::{AnalysisSpec, NdfCluster, PrometheusAnalysis, SmokeAnalysis};
use crate::rollout::{AnalysisPolicy, ColorRevision, Measurement};

/// Seconds between smoke extractions (the smoke spec has no interval of its own).
pub const SMOKE_INTERVAL_SECS: u64 = 10;

/// A boxed future, so that analyzers can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Takes one measurement of a preview colour.
pub trait Analyzer: Send + Sync {
    /// One measurement of `preview` (a failure to measure is a failing measurement).
    fn measure<'a>(
        &'a self,
        cluster: &'a NdfCluster,
        preview: &'a ColorRevision,
    ) -> BoxFuture<'a, Measurement>;
}

/// The rollout machine's schedule for the spec's analysis.
#[must_use]
pub fn policy(spec: &AnalysisSpec) -> Option<AnalysisPolicy> {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    match (&spec.prometheus, &spec.smoke) {
        (Some(p), _) => Some(AnalysisPolicy {
            count: count(p.count),
            failure_limit: count(p.failure_limit),
            interval_secs: u64::from(count(p.interval_seconds)),
        }),
        // Every smoke extraction must succeed.
        (None, Some(s)) => Some(AnalysisPolicy {
            count: count(s.count),
            failure_limit: 0,
            interval_secs: SMOKE_INTERVAL_SECS,
        }),
        (None, None) => None,
    }
}

/// Measures over HTTP from the operator's pod.
#[derive(Clone)]
pub struct HttpAnalyzer {
    http: reqwest::Client,
    kube: kube::Client,
}

impl std::fmt::Debug for HttpAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAnalyzer").finish_non_exhaustive()
    }
}

impl HttpAnalyzer {
    /// An analyzer whose requests time out after 10 s.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub fn new(kube: kube::Client) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(HttpAnalyzer { http, kube })
    }

    async fn prometheus(
        &self,
        cluster: &NdfCluster,
        p: &PrometheusAnalysis,
        preview: &ColorRevision,
    ) -> Result<(), String> {
        let query = crate::analysis_query(
            &p.query,
            cluster.metadata.namespace.as_deref().unwrap_or("default"),
            cluster.metadata.name.as_deref().unwrap_or_default(),
            preview.color,
            &preview.revision,
        );
        let url = format!("{}/api/v1/query", p.address.trim_end_matches('/'));
        let url = reqwest::Url::parse_with_params(&url, &[("query", query.as_str())])
            .map_err(|e| format!("bad Prometheus address {}: {e}", p.address))?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("Prometheus unreachable: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("Prometheus answer cut short: {e}"))?;
        if !status.is_success() {
            return Err(format!("Prometheus answered {status}"));
        }
        let value = parse_prometheus(&body)?;
        if p.success_when.passes(value, p.threshold) {
            Ok(())
        } else {
            Err(format!(
                "{query} = {value}, outside the threshold {} ({:?})",
                p.threshold, p.success_when
            ))
        }
    }

    /// Extracts the smoke PDF through the preview Service (which selects the preview colour).
    async fn smoke(&self, cluster: &NdfCluster, s: &SmokeAnalysis) -> Result<(), String> {
        let ns = cluster.metadata.namespace.as_deref().unwrap_or("default");
        let key = match &s.api_key_secret {
            Some(r) => {
                let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
                let secret = secrets
                    .get(&r.name)
                    .await
                    .map_err(|e| format!("API key Secret {}: {e}", r.name))?;
                let bytes = secret
                    .data
                    .and_then(|mut d| d.remove(&r.key))
                    .ok_or_else(|| format!("Secret {} has no key {}", r.name, r.key))?;
                Some(String::from_utf8(bytes.0).map_err(|_| "API key is not UTF-8".to_owned())?)
            }
            None => None,
        };
        let (url, http) = self.preview_client(cluster, ns).await?;
        let mut request = http
            .post(format!("{url}/v1/extract?format=text"))
            .header("content-type", "application/pdf")
            .body(smoke_pdf());
        if let Some(key) = key {
            request = request.bearer_auth(key.trim());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("preview Service unreachable: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("smoke extraction answered {status}"));
        }
        if !text.contains(SMOKE_TEXT) {
            return Err("smoke extraction did not return the document's text".to_owned());
        }
        Ok(())
    }
}

impl HttpAnalyzer {
    /// The preview Service's base URL, and a client that trusts its certificate when the API
    /// speaks TLS (the TLS Secret's `ca.crt`, else its `tls.crt`, must sign a certificate
    /// naming `NAME-preview.NAMESPACE.svc`).
    async fn preview_client(
        &self,
        cluster: &NdfCluster,
        ns: &str,
    ) -> Result<(String, reqwest::Client), String> {
        let names = Names::new(cluster.metadata.name.as_deref().unwrap_or_default());
        let host = format!("{}.{ns}.svc", names.preview_service());
        let Some(tls) = &cluster.spec.security.tls else {
            // The spec gives the API no TLS, so its Service speaks plain HTTP inside the
            // cluster: the scheme is the NdfCluster's configuration, not a choice made here.
            let url = format!("http://{host}:{API_PORT}"); // nosemgrep: ndf-no-plain-http-url-built
            return Ok((url, self.http.clone()));
        };
        let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), ns);
        let secret = secrets
            .get(&tls.secret_name)
            .await
            .map_err(|e| format!("TLS Secret {}: {e}", tls.secret_name))?;
        let data = secret.data.unwrap_or_default();
        let pem = data
            .get("ca.crt")
            .or_else(|| data.get("tls.crt"))
            .ok_or_else(|| {
                format!(
                    "TLS Secret {} has neither ca.crt nor tls.crt",
                    tls.secret_name
                )
            })?;
        let root = reqwest::Certificate::from_pem(&pem.0)
            .map_err(|e| format!("TLS Secret {}: {e}", tls.secret_name))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .add_root_certificate(root)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok((format!("https://{host}:{API_PORT}"), http))
    }
}

impl Analyzer for HttpAnalyzer {
    fn measure<'a>(
        &'a self,
        cluster: &'a NdfCluster,
        preview: &'a ColorRevision,
    ) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            let analysis = cluster.spec.rollout.analysis.as_ref();
            let result = match analysis.map(|a| (&a.prometheus, &a.smoke)) {
                Some((Some(p), _)) => self.prometheus(cluster, p, preview).await,
                Some((None, Some(s))) => self.smoke(cluster, s).await,
                _ => Ok(()),
            };
            match result {
                Ok(()) => Measurement::Pass,
                Err(reason) => Measurement::Fail(reason),
            }
        })
    }
}

/// The one value of a Prometheus `/api/v1/query` answer: a scalar, or a vector of exactly one
/// sample. No sample, several, or NaN is an error (an empty answer proves nothing).
///
/// # Errors
/// When the answer is not a successful single-value result.
pub fn parse_prometheus(body: &[u8]) -> Result<f64, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("Prometheus answer is not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("Prometheus query failed: {}", v["error"]));
    }
    let data = &v["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => match data["result"].as_array().map(Vec::as_slice) {
            Some([one]) => &one["value"],
            Some([]) => return Err("the query returned no sample".to_owned()),
            Some(many) => {
                return Err(format!(
                    "the query returned {} samples, not one",
                    many.len()
                ));
            }
            None => return Err("malformed vector result".to_owned()),
        },
        other => return Err(format!("unexpected result type {other:?}")),
    };
    let value = sample[1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("malformed sample {sample}"))?;
    if value.is_nan() {
        return Err("the query returned NaN".to_owned());
    }
    Ok(value)
}

/// The text [`smoke_pdf`] holds.
pub const SMOKE_TEXT: &str = "ndf smoke test";

/// A one-page PDF showing [`SMOKE_TEXT`], with a correct cross-reference table.
#[must_use]
pub fn smoke_pdf() -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 700 Td ({SMOKE_TEXT}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.extend_from_slice(table.as_bytes());
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_answers_give_one_value_or_a_reason() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.25"]}]}}"#;
        assert_eq!(parse_prometheus(vector), Ok(0.25));
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}"#;
        assert_eq!(parse_prometheus(scalar), Ok(3.0));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            parse_prometheus(empty),
            Err("the query returned no sample".to_owned())
        );
        let two = br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}}"#;
        assert_eq!(
            parse_prometheus(two),
            Err("the query returned 2 samples, not one".to_owned())
        );
        let nan = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#;
        assert_eq!(
            parse_prometheus(nan),
            Err("the query returned NaN".to_owned())
        );
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(
            parse_prometheus(error),
            Err("Prometheus query failed: \"parse error\"".to_owned())
        );
    }

    #[test]
    fn the_smoke_pdf_has_a_correct_xref_table() {
        let pdf = smoke_pdf();
        let text = String::from_utf8(pdf.clone()).unwrap();
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[start..].starts_with("xref\n0 6\n"));
        for (i, line) in text[start..].lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {}",
                i + 1
            );
        }
        assert!(text.contains(SMOKE_TEXT));
    }

    #[test]
    fn the_smoke_pdf_extracts_to_its_text() {
        let doc = ndf_extract::extract(&smoke_pdf(), &ndf_extract::Options::default())
            .expect("the smoke PDF extracts");
        assert!(ndf_extract::document_text(&doc).contains(SMOKE_TEXT));
    }
}
