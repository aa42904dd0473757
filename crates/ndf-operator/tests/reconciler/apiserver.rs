//! A fake Kubernetes API server behind kube's mocked client (`tower_test::mock::pair`, the
//! `ApiServerVerifier` pattern of kube-rs' controller-rs). No Kubernetes API server runs here,
//! so every request the reconciler makes is answered from an in-memory object store and
//! recorded: tests assert the method, path and body of each one.
//!
//! It understands just what the reconciler and the controller send (watches are left open): GET of an object, LIST with a
//! `labelSelector` of `key=value` pairs, server-side apply (the applied object replaces the
//! stored one except `status`, which only an apply to `/status` sets; a changed `spec` bumps
//! `metadata.generation`), JSON merge patches, JSON patches (the finalizer helper's), POST and
//! DELETE.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// One request as the reconciler sent it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    /// Path without the query.
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

impl Recorded {
    /// `PATCH` with `application/apply-patch+yaml` (server-side apply).
    pub(crate) fn is_apply(&self) -> bool {
        self.method == Method::PATCH && self.content_type.starts_with("application/apply-patch")
    }
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<String, Value>,
    log: Vec<Recorded>,
    next_version: u64,
    watches: usize,
}

/// The fake server; cheap to clone (shared state).
#[derive(Clone, Default)]
pub(crate) struct FakeApiServer {
    store: Arc<Mutex<Store>>,
}

impl FakeApiServer {
    /// A kube client whose requests this fake answers (the serving task runs until the
    /// client is dropped).
    pub(crate) fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let me = self.clone();
        tokio::spawn(async move {
            // Watches never answer (kept open until the client goes): a controller under
            // test sees the initial lists and then no change.
            let mut watches = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                if request
                    .uri()
                    .query()
                    .is_some_and(|q| q.contains("watch=true"))
                {
                    me.lock().watches += 1;
                    watches.push(send);
                    continue;
                }
                let response = me.answer(request).await;
                send.send_response(response);
            }
        });
        kube::Client::new(service, "default")
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("fake API server state")
    }

    /// Puts an object at its path, as if another actor made it.
    pub(crate) fn put(&self, path: &str, object: Value) {
        self.lock().objects.insert(path.to_owned(), object);
    }

    /// The object at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<Value> {
        self.lock().objects.get(path).cloned()
    }

    /// Changes the object at `path` in place.
    pub(crate) fn edit(&self, path: &str, f: impl FnOnce(&mut Value)) {
        let mut store = self.lock();
        let object = store
            .objects
            .get_mut(path)
            .unwrap_or_else(|| panic!("no object at {path}"));
        f(object);
    }

    /// Watch requests received (left open).
    pub(crate) fn watches(&self) -> usize {
        self.lock().watches
    }

    /// Takes the requests recorded so far.
    pub(crate) fn take_log(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().log)
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                // Server-side apply bodies are YAML by content type, JSON in practice.
                panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes))
            })
        };
        let recorded = Recorded {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body,
        };
        let mut store = self.lock();
        store.log.push(recorded.clone());
        let (status, value) = store.handle(&recorded);
        let bytes = serde_json::to_vec(&value).expect("response JSON");
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("response")
    }
}

/// How many path segments the API prefix has (`/api/v1` or `/apis/GROUP/VERSION`).
fn prefix_len(segments: &[&str]) -> usize {
    if segments.first() == Some(&"api") {
        2
    } else {
        3
    }
}

fn not_found(path: &str) -> (StatusCode, Value) {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": "NotFound", "code": 404, "message": format!("{path} not found"),
    });
    (StatusCode::NOT_FOUND, status)
}

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        object["metadata"]["labels"][k] == v
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

impl Store {
    fn stamp(&mut self, object: &mut Value) {
        self.next_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.next_version.to_string());
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{}", self.next_version));
        }
        if object["metadata"]["generation"].is_null() {
            object["metadata"]["generation"] = json!(1);
        }
    }

    fn handle(&mut self, r: &Recorded) -> (StatusCode, Value) {
        let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        let depth = segments.len() - prefix_len(&segments);
        // namespaces/NS/PLURAL[/NAME[/SUBRESOURCE]]
        let (object_path, subresource) = match depth {
            4 => (r.path.clone(), None),
            5 => {
                let (path, sub) = r.path.rsplit_once('/').expect("subresource path");
                (path.to_owned(), Some(sub.to_owned()))
            }
            _ => (String::new(), None),
        };
        match (&r.method, depth) {
            (&Method::GET, 3) => {
                let selector = query_param(&r.query, "labelSelector").unwrap_or_default();
                let prefix = format!("{}/", r.path);
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|(p, o)| {
                        p.starts_with(&prefix)
                            && !p[prefix.len()..].contains('/')
                            && labels_match(o, &selector)
                    })
                    .map(|(_, o)| o.clone())
                    .collect();
                let list = json!({
                    "kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": self.next_version.to_string()},
                    "items": items,
                });
                (StatusCode::OK, list)
            }
            (&Method::GET, 4) => match self.objects.get(&object_path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => not_found(&object_path),
            },
            (&Method::POST, 3) => {
                let mut object = r.body.clone();
                let name = object["metadata"]["name"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| {
                        let prefix = object["metadata"]["generateName"].as_str()?;
                        Some(format!("{prefix}{}", self.next_version))
                    })
                    .expect("a created object has a name");
                object["metadata"]["name"] = json!(name);
                self.stamp(&mut object);
                self.objects
                    .insert(format!("{}/{name}", r.path), object.clone());
                (StatusCode::CREATED, object)
            }
            (&Method::PATCH, 4 | 5) => self.patch(r, &object_path, subresource.as_deref()),
            (&Method::DELETE, 4) => match self.objects.remove(&object_path) {
                Some(_) => (
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                ),
                None => not_found(&object_path),
            },
            _ => panic!(
                "the fake API server does not handle {} {}",
                r.method, r.path
            ),
        }
    }

    fn patch(&mut self, r: &Recorded, path: &str, sub: Option<&str>) -> (StatusCode, Value) {
        let existing = self.objects.get(path).cloned();
        let apply = r.content_type.starts_with("application/apply-patch");
        let mut object = match (&existing, apply) {
            (Some(o), _) => o.clone(),
            (None, true) => json!({"metadata": {}}),
            (None, false) => return not_found(path),
        };
        let before_spec = object["spec"].clone();
        if apply {
            if sub == Some("status") {
                object["status"] = r.body["status"].clone();
            } else {
                let keep_status = object["status"].take();
                let keep_meta = object["metadata"].clone();
                object = r.body.clone();
                for k in [
                    "uid",
                    "resourceVersion",
                    "generation",
                    "finalizers",
                    "creationTimestamp",
                    "deletionTimestamp",
                ] {
                    if !keep_meta[k].is_null() {
                        object["metadata"][k] = keep_meta[k].clone();
                    }
                }
                if !keep_status.is_null() {
                    object["status"] = keep_status;
                }
            }
        } else if r.content_type.starts_with("application/json-patch") {
            // As the API server does, a `test` of null passes on a missing member.
            let ops: Vec<Value> = r.body.as_array().cloned().unwrap_or_default();
            let ops: Vec<Value> = ops
                .into_iter()
                .filter(|op| {
                    let path = op["path"].as_str().unwrap_or("");
                    !(op["op"] == "test" && op["value"].is_null() && object.pointer(path).is_none())
                })
                .collect();
            let ops: json_patch::Patch =
                serde_json::from_value(Value::Array(ops)).expect("a JSON patch");
            if json_patch::patch(&mut object, &ops).is_err() {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "reason": "Invalid", "code": 422, "message": "test failed"});
                return (StatusCode::UNPROCESSABLE_ENTITY, status);
            }
        } else {
            let patch = match sub {
                Some("status") => json!({"status": r.body["status"].clone()}),
                _ => r.body.clone(),
            };
            merge(&mut object, &patch);
        }
        if existing.is_some() && object["spec"] != before_spec {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
            object["metadata"]["generation"] = json!(generation + 1);
        }
        self.stamp(&mut object);
        // A deleted object whose last finalizer went is gone.
        let finalizers_left = object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if !object["metadata"]["deletionTimestamp"].is_null() && !finalizers_left {
            self.objects.remove(path);
        } else {
            self.objects.insert(path.to_owned(), object.clone());
        }
        (StatusCode::OK, object)
    }
}
