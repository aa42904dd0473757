//! The audit log against real databases: every test body runs on SQLite (a file in a temp dir)
//! and on PostgreSQL (a fresh schema in NDF_TEST_POSTGRES_URL; skipped with a message when
//! unset, failing when NDF_REQUIRE_SERVICES=1). Tampering is done with raw SQL, as an attacker
//! with database access (but not the audit key) would, after dropping the append-only triggers.
#![allow(clippy::print_stderr)]

use std::sync::Arc;

use ndf_store::{
    AuditAction, AuditEvent, AuditKey, AuditLog, AuditRecord, ChainHead, ProblemKind, StoreOptions,
    Verifier, VerifyReport,
};
use serde_json::json;
use sqlx::Connection;

const T0: i64 = 1_700_000_000_000;

/// The chain's key (the service derives it from its api_key_secret the same way).
fn key() -> AuditKey {
    AuditKey::derive(b"the audit tests' api_key_secret").unwrap()
}

fn store_options() -> StoreOptions {
    StoreOptions {
        max_connections: 5,
        audit_key: Some(key()),
        ..StoreOptions::default()
    }
}

/// The value of `var`, or `None` (skip) when unset; panics when services are required.
fn service_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("NDF_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "NDF_REQUIRE_SERVICES=1 but {var} is not set: run `scripts/services.sh start` \
                     and `. target/services/env` first"
                );
            }
            eprintln!("skipped: {var} is not set (scripts/services.sh start provides it)");
            None
        }
    }
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

enum Db {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        /// With the test's schema on the search path.
        url: String,
        admin_url: String,
        schema: String,
    },
}

/// An audit log on a database of its own, and raw access to that database.
struct Harness {
    log: Arc<dyn AuditLog>,
    db: Db,
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ndf.db").display());
    let log = ndf_store::open_audit_log(&url, &store_options())
        .await
        .unwrap();
    Harness {
        log,
        db: Db::Sqlite { url, _dir: dir },
    }
}

async fn postgres() -> Option<Harness> {
    let admin_url = service_env("NDF_TEST_POSTGRES_URL")?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let url = with_search_path(&admin_url, &schema);
    let log = ndf_store::open_audit_log(&url, &store_options())
        .await
        .unwrap();
    Some(Harness {
        log,
        db: Db::Postgres {
            url,
            admin_url,
            schema,
        },
    })
}

impl Harness {
    fn url(&self) -> &str {
        match &self.db {
            Db::Sqlite { url, .. } | Db::Postgres { url, .. } => url,
        }
    }

    /// Runs `sql` (one or more statements) directly in the database.
    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.db {
            Db::Sqlite { url, .. } => {
                let mut conn = sqlx::SqliteConnection::connect(url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
            Db::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
        }
    }

    /// What an attacker with DDL rights does first.
    async fn drop_guards(&self) {
        let sql = match &self.db {
            Db::Sqlite { .. } => {
                "DROP TRIGGER ndf_audit_no_update; DROP TRIGGER ndf_audit_no_delete;"
            }
            Db::Postgres { .. } => {
                "DROP TRIGGER ndf_audit_no_change ON ndf_audit; \
                 DROP TRIGGER ndf_audit_no_truncate ON ndf_audit;"
            }
        };
        self.exec(sql).await.unwrap();
    }

    async fn cleanup(self) {
        drop(self.log);
        if let Db::Postgres {
            admin_url, schema, ..
        } = self.db
        {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

fn event(i: i64) -> AuditEvent {
    let action = AuditAction::ALL[usize::try_from(i).unwrap() % AuditAction::ALL.len()];
    AuditEvent::new(format!("key:k{i}"), action, "ok")
        .tenant("acme")
        .target(format!("job-{i}"))
        .detail(json!({"n": i, "note": "line\nbreak \"quoted\" é"}))
}

/// Appends records 1..=n, the i-th at `T0 + 1000 * i`.
async fn append_n(log: &dyn AuditLog, n: i64) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for i in 1..=n {
        records.push(log.append(event(i), T0 + 1000 * i).await.unwrap());
    }
    records
}

async fn everything(log: &dyn AuditLog) -> Vec<AuditRecord> {
    log.all_from(i64::MIN, ndf_store::audit::MAX_AUDIT_PAGE)
        .await
        .unwrap()
}

async fn verified(log: &dyn AuditLog) -> VerifyReport {
    verified_with(log, &key(), &[]).await
}

async fn verified_with(log: &dyn AuditLog, key: &AuditKey, anchors: &[ChainHead]) -> VerifyReport {
    let mut verifier = Verifier::new(key);
    for anchor in anchors {
        assert!(verifier.expect_anchor(anchor.clone()));
    }
    // A small page size crosses page boundaries on purpose.
    ndf_store::verify_store(log, verifier, 3).await.unwrap()
}

fn kinds(report: &VerifyReport) -> Vec<(i64, ProblemKind)> {
    report.problems.iter().map(|p| (p.seq, p.kind)).collect()
}

/// Concurrent appenders from two pools (what two replicas or processes are) and a job store on
/// the same URL: `seq` stays dense, the chain linear and valid, `at` never decreases.
async fn concurrent_appends_form_one_chain(h: &Harness) {
    let first = append_n(h.log.as_ref(), 5).await;
    assert_eq!(
        first.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(first[0].prev_hash, ndf_store::GENESIS_HASH);
    // The job store opens on the same database (migrations already applied) and works.
    let jobs = ndf_store::open_job_store(h.url(), &store_options())
        .await
        .unwrap();
    jobs.ping().await.unwrap();
    let other = ndf_store::open_audit_log(h.url(), &store_options())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let log = if t % 2 == 0 {
                h.log.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..10 {
                    // Clocks disagree between appenders: `at` must still never decrease.
                    let now = T0 + 100_000 + 10 * i + if t % 3 == 0 { -50_000 } else { 0 };
                    let record = log.append(event(100 * t + i), now).await.unwrap();
                    seqs.push(record.seq);
                }
                seqs
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (6..=85).collect::<Vec<_>>());
    let all = everything(h.log.as_ref()).await;
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=85).collect::<Vec<_>>()
    );
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[1].at >= pair[0].at);
    }
    // The store returns what append returned.
    assert_eq!(&all[..5], &first[..]);
    let report = verified(h.log.as_ref()).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.records_checked, 85);
    let head = report.head.unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (85, all[84].hash.as_str()));
    assert_eq!(h.log.head().await.unwrap().as_ref(), all.last());
    assert!(all.iter().all(|r| r.key_id.as_deref() == Some(key().id())));
    assert!(ndf_store::verify(all, &key()).is_clean());
}

/// Export by time range, paged by seq; bounds are [from, to).
async fn range_export(h: &Harness) {
    assert_eq!(h.log.head().await.unwrap(), None);
    assert!(verified(h.log.as_ref()).await.is_clean());
    let all = append_n(h.log.as_ref(), 20).await;
    let window = h.log.range(T0 + 5000, T0 + 12_000, 0, 1000).await.unwrap();
    assert_eq!(
        window.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (5..=11).collect::<Vec<_>>()
    );
    assert_eq!(window[..], all[4..11]);
    // Paging through the same range three records at a time.
    let mut paged = Vec::new();
    let mut after = 0;
    for _ in 0..10 {
        let page = h.log.range(T0 + 5000, T0 + 12_000, after, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged, window);
    // The exported segment verifies on its own from the record before it.
    let anchor = ndf_store::ChainHead {
        seq: all[3].seq,
        hash: all[3].hash.clone(),
    };
    let mut verifier = ndf_store::Verifier::after(&anchor, &key());
    for record in &window {
        verifier.push(record);
    }
    assert!(verifier.finish().is_clean());
    // Exported lines parse back to the same records.
    for record in &window {
        let line = record.to_canonical_json().unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(&serde_json::from_str::<AuditRecord>(&line).unwrap(), record);
    }
    assert!(
        h.log
            .range(T0 + 50_000, T0 + 60_000, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.log.all_from(18, 1000).await.unwrap()[..], all[17..]);
    // Limits are clamped, not trusted.
    assert_eq!(h.log.all_from(1, 0).await.unwrap().len(), 1);
}

/// The application cannot change or remove records; invalid events are refused.
async fn records_cannot_be_changed(h: &Harness) {
    append_n(h.log.as_ref(), 3).await;
    for sql in [
        "UPDATE ndf_audit SET actor = 'x' WHERE seq = 2",
        "DELETE FROM ndf_audit WHERE seq = 3",
    ] {
        assert!(h.exec(sql).await.is_err(), "{sql} was allowed");
    }
    if let Db::Postgres { .. } = h.db {
        assert!(h.exec("TRUNCATE ndf_audit").await.is_err());
    }
    let bad =
        AuditEvent::new("admin", AuditAction::ConfigChanged, "ok").detail(json!({"ratio": 0.5}));
    assert!(matches!(
        h.log.append(bad, T0).await,
        Err(ndf_store::StoreError::Invalid(_))
    ));
    let report = verified(h.log.as_ref()).await;
    assert!(
        report.is_clean() && report.records_checked == 3,
        "{report:?}"
    );
}

async fn edited_record_is_reported(h: &Harness) {
    append_n(h.log.as_ref(), 10).await;
    h.drop_guards().await;
    h.exec(r#"UPDATE ndf_audit SET detail = '{"n":999}' WHERE seq = 5"#)
        .await
        .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(kinds(&report), [(5, ProblemKind::Edited)], "{report:?}");
    // Unparsable detail is still read, exported and reported.
    h.exec("UPDATE ndf_audit SET detail = 'not json', hash = 'x' WHERE seq = 8")
        .await
        .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(
        kinds(&report),
        [(5, ProblemKind::Edited), (8, ProblemKind::Edited)],
        "{report:?}"
    );
}

async fn deleted_record_is_reported(h: &Harness) {
    append_n(h.log.as_ref(), 10).await;
    h.drop_guards().await;
    h.exec("DELETE FROM ndf_audit WHERE seq = 4").await.unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(kinds(&report), [(4, ProblemKind::Missing)], "{report:?}");
    // Closing the gap by renumbering the records after it does not hide it.
    h.exec(
        "UPDATE ndf_audit SET seq = -seq WHERE seq > 4; \
         UPDATE ndf_audit SET seq = -seq - 1 WHERE seq < 0;",
    )
    .await
    .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(
        kinds(&report),
        [(4, ProblemKind::Missing), (4, ProblemKind::Reordered)],
        "{report:?}"
    );
    assert!(report.problems[1].detail.contains("4..=9"), "{report:?}");
}

/// Two consecutive records exchange places (all their fields but seq).
async fn reordered_records_are_reported(h: &Harness) {
    append_n(h.log.as_ref(), 10).await;
    h.drop_guards().await;
    h.exec(
        "UPDATE ndf_audit SET seq = -6 WHERE seq = 6; \
         UPDATE ndf_audit SET seq = 6 WHERE seq = 7; \
         UPDATE ndf_audit SET seq = 7 WHERE seq = -6;",
    )
    .await
    .unwrap();
    let all = everything(h.log.as_ref()).await;
    assert_eq!(all[5].prev_hash, all[6].hash, "the swap happened");
    let report = verified(h.log.as_ref()).await;
    assert_eq!(
        kinds(&report),
        [(6, ProblemKind::Reordered), (7, ProblemKind::Reordered)],
        "{report:?}"
    );
}

/// A record is rewritten and its hash recomputed under a guessed key (the attacker does not
/// have the real one): the record no longer matches its MAC.
async fn rewritten_and_rehashed_record_is_reported(h: &Harness) {
    append_n(h.log.as_ref(), 6).await;
    h.drop_guards().await;
    let mut forged = everything(h.log.as_ref()).await.remove(2);
    forged.actor = "someone-else".into();
    forged.hash = forged
        .compute_hash(&AuditKey::from_bytes([0x42; 32]))
        .unwrap();
    h.exec(&format!(
        "UPDATE ndf_audit SET actor = 'someone-else', hash = '{}' WHERE seq = 3",
        forged.hash
    ))
    .await
    .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(kinds(&report), [(3, ProblemKind::Edited)], "{report:?}");
}

/// `hash` of `record` recomputed without any key (legacy BLAKE3), as the red team did.
fn unkeyed_hash(record: &mut AuditRecord) {
    record.key_id = None;
    // The key is not used for an unkeyed record.
    record.hash = record.compute_hash(&key()).unwrap();
}

fn sql_text(value: Option<&str>) -> String {
    value.map_or_else(
        || "NULL".to_owned(),
        |v| format!("'{}'", v.replace('\'', "''")),
    )
}

/// `INSERT` statements writing `records` as they are.
fn insert_sql(records: &[AuditRecord]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "INSERT INTO ndf_audit (seq, at, actor, action, tenant, target, outcome, detail, \
                 prev_hash, key_id, hash) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
                r.seq,
                r.at,
                sql_text(Some(&r.actor)),
                sql_text(Some(&r.action)),
                sql_text(r.tenant.as_deref()),
                sql_text(r.target.as_deref()),
                sql_text(Some(&r.outcome)),
                sql_text(Some(&serde_json::to_string(&r.detail).unwrap())),
                sql_text(Some(&r.prev_hash)),
                sql_text(r.key_id.as_deref()),
                sql_text(Some(&r.hash)),
            )
        })
        .collect()
}

/// The red team's attack: a record removed, the rest renumbered and the whole chain
/// recomputed without the key. An unkeyed chain verified clean after this; the keyed one does
/// not, whether the forger writes unkeyed records or keyed-looking ones under a guessed key.
async fn removed_and_recomputed_chain_is_reported(h: &Harness) {
    let original = append_n(h.log.as_ref(), 10).await;
    h.drop_guards().await;
    let mut forged: Vec<AuditRecord> = original.clone();
    forged.remove(3);
    let mut prev = ndf_store::GENESIS_HASH.to_owned();
    for (i, record) in forged.iter_mut().enumerate() {
        record.seq = i64::try_from(i).unwrap() + 1;
        record.prev_hash.clone_from(&prev);
        unkeyed_hash(record);
        prev.clone_from(&record.hash);
    }
    h.exec(&format!("DELETE FROM ndf_audit; {}", insert_sql(&forged)))
        .await
        .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert!(!report.is_clean(), "{report:?}");
    assert_eq!(kinds(&report), [(9, ProblemKind::Unkeyed)], "{report:?}");
    assert_eq!(report.legacy_records, 9);
    // The same, keyed-looking: key_id kept, MACs under a guessed key.
    let guessed = AuditKey::from_bytes([0x42; 32]);
    let mut prev = ndf_store::GENESIS_HASH.to_owned();
    for record in &mut forged {
        record.key_id = Some(key().id().to_owned());
        record.prev_hash.clone_from(&prev);
        record.hash = record.compute_hash(&guessed).unwrap();
        prev.clone_from(&record.hash);
    }
    h.exec(&format!("DELETE FROM ndf_audit; {}", insert_sql(&forged)))
        .await
        .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(report.problems.len(), 9, "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::Edited),
        "{report:?}"
    );
}

/// Deleting the newest records leaves a valid shorter chain: only an anchor kept outside the
/// database shows it; the anchor also catches a rewrite of the anchored record.
async fn truncation_is_reported_against_an_anchor(h: &Harness) {
    let records = append_n(h.log.as_ref(), 10).await;
    let report = verified(h.log.as_ref()).await;
    assert!(report.is_clean(), "{report:?}");
    let head = report.head.clone().unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (10, records[9].hash.as_str())
    );
    let token = ndf_store::anchor_token(&head, &key());
    let anchor = ndf_store::parse_anchor(&token, &key()).unwrap();
    let report = verified_with(h.log.as_ref(), &key(), std::slice::from_ref(&anchor)).await;
    assert!(
        report.is_clean() && report.anchors_checked == 1,
        "{report:?}"
    );
    h.drop_guards().await;
    h.exec("DELETE FROM ndf_audit WHERE seq >= 9")
        .await
        .unwrap();
    // Without the anchor this cannot be seen (the documented limit).
    let report = verified(h.log.as_ref()).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.head.as_ref().map(|h| h.seq), Some(8));
    let report = verified_with(h.log.as_ref(), &key(), std::slice::from_ref(&anchor)).await;
    assert_eq!(kinds(&report), [(10, ProblemKind::Truncated)], "{report:?}");
    // Deleting everything is truncation too.
    h.exec("DELETE FROM ndf_audit").await.unwrap();
    let report = verified_with(h.log.as_ref(), &key(), std::slice::from_ref(&anchor)).await;
    assert_eq!(kinds(&report), [(10, ProblemKind::Truncated)], "{report:?}");
}

/// A database written before the chain was keyed (rows without key_id, BLAKE3-chained) stays
/// verifiable: reported as unsealed until the first keyed append, clean after it.
async fn legacy_rows_stay_verifiable(h: &Harness) {
    let mut legacy = Vec::new();
    let mut prev = ndf_store::GENESIS_HASH.to_owned();
    for i in 1..=4 {
        let mut record = AuditRecord {
            seq: i,
            at: T0 + i,
            actor: format!("key:k{i}"),
            action: "job_read".into(),
            tenant: Some("acme".into()),
            target: None,
            outcome: "ok".into(),
            detail: json!({"n": i}),
            prev_hash: prev.clone(),
            key_id: None,
            hash: String::new(),
        };
        unkeyed_hash(&mut record);
        prev.clone_from(&record.hash);
        legacy.push(record);
    }
    h.exec(&insert_sql(&legacy)).await.unwrap();
    assert_eq!(everything(h.log.as_ref()).await, legacy);
    let report = verified(h.log.as_ref()).await;
    assert_eq!(kinds(&report), [(4, ProblemKind::Unkeyed)], "{report:?}");
    let sealed = h.log.append(event(5), T0 + 5).await.unwrap();
    assert_eq!((sealed.seq, sealed.prev_hash.as_str()), (5, prev.as_str()));
    let report = verified(h.log.as_ref()).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.legacy_records, report.records_checked), (4, 5));
    // Rewriting the legacy prefix now breaks the keyed link.
    h.drop_guards().await;
    let mut rewritten = legacy.clone();
    rewritten[1].actor = "someone-else".into();
    let mut prev = rewritten[0].hash.clone();
    for record in &mut rewritten[1..] {
        record.prev_hash.clone_from(&prev);
        unkeyed_hash(record);
        prev.clone_from(&record.hash);
    }
    h.exec(&format!(
        "DELETE FROM ndf_audit WHERE seq <= 4; {}",
        insert_sql(&rewritten)
    ))
    .await
    .unwrap();
    let report = verified(h.log.as_ref()).await;
    assert_eq!(kinds(&report), [(4, ProblemKind::Edited)], "{report:?}");
}

/// Another key (another api_key_secret) reports every record as keyed with another key.
async fn another_key_is_named(h: &Harness) {
    append_n(h.log.as_ref(), 3).await;
    let other = AuditKey::derive(b"some other api_key_secret").unwrap();
    let report = verified_with(h.log.as_ref(), &other, &[]).await;
    assert_eq!(
        kinds(&report),
        [
            (1, ProblemKind::OtherKey),
            (2, ProblemKind::OtherKey),
            (3, ProblemKind::OtherKey)
        ],
        "{report:?}"
    );
    assert!(report.problems[0].detail.contains(key().id()), "{report:?}");
}

/// An append that fails (here: refused by a trigger the test adds) is recorded by the next
/// one that succeeds, in the same chain; a log without a key refuses appends.
async fn failed_append_is_recorded_by_the_next(h: &Harness) {
    append_n(h.log.as_ref(), 2).await;
    let refuse = match h.db {
        Db::Sqlite { .. } => {
            "CREATE TRIGGER refuse_some BEFORE INSERT ON ndf_audit WHEN NEW.actor = 'refuse-me' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Db::Postgres { .. } => {
            "CREATE FUNCTION refuse_some() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.actor = 'refuse-me' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse_some BEFORE INSERT ON ndf_audit FOR EACH ROW \
             EXECUTE FUNCTION refuse_some();"
        }
    };
    h.exec(refuse).await.unwrap();
    for (i, action) in [
        AuditAction::JobDeleted,
        AuditAction::JobDeleted,
        AuditAction::TenantErased,
    ]
    .into_iter()
    .enumerate()
    {
        let refused = AuditEvent::new("refuse-me", action, "ok");
        let at = T0 + 10_000 + i64::try_from(i).unwrap();
        assert!(h.log.append(refused, at).await.is_err());
    }
    // Still refused (the pending failure record is refused with it): kept for later.
    let again = AuditEvent::new("refuse-me", AuditAction::JobRead, "ok");
    assert!(h.log.append(again, T0 + 10_010).await.is_err());
    let ok = h.log.append(event(3), T0 + 20_000).await.unwrap();
    let all = everything(h.log.as_ref()).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let failed = &all[2];
    assert_eq!(
        (failed.seq, failed.action.as_str(), failed.outcome.as_str()),
        (3, "audit_append_failed", "failed")
    );
    assert_eq!(
        failed.detail,
        json!({"events": 4, "first_at": T0 + 10_000, "last_at": T0 + 10_010,
               "actions": {"job_deleted": 2, "job_read": 1, "tenant_erased": 1}})
    );
    assert_eq!((ok.seq, &ok.prev_hash), (4, &failed.hash));
    // Recorded once.
    let next = h.log.append(event(4), T0 + 30_000).await.unwrap();
    assert_eq!(next.seq, 5);
    assert!(verified(h.log.as_ref()).await.is_clean());
    // No key: every append is refused.
    let keyless = ndf_store::open_audit_log(
        h.url(),
        &StoreOptions {
            audit_key: None,
            ..store_options()
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        keyless.append(event(9), T0 + 40_000).await,
        Err(ndf_store::StoreError::Invalid(_))
    ));
    assert_eq!(everything(h.log.as_ref()).await.len(), 5);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_audit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let harness = super::sqlite().await;
                    super::$name(&harness).await;
                    harness.cleanup().await;
                }
            )*
        }
        mod postgres_audit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(harness) = super::postgres().await else { return };
                    super::$name(&harness).await;
                    harness.cleanup().await;
                }
            )*
        }
    };
}

on_both_backends!(
    concurrent_appends_form_one_chain,
    range_export,
    records_cannot_be_changed,
    edited_record_is_reported,
    deleted_record_is_reported,
    reordered_records_are_reported,
    rewritten_and_rehashed_record_is_reported,
    removed_and_recomputed_chain_is_reported,
    truncation_is_reported_against_an_anchor,
    legacy_rows_stay_verifiable,
    another_key_is_named,
    failed_append_is_recorded_by_the_next,
);

#[tokio::test]
async fn unsupported_urls_are_refused_without_secrets() {
    for url in ["mysql://u:pw@h/db", "file:///tmp/x", "sqlite://"] {
        let err = ndf_store::open_audit_log(url, &store_options())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ndf_store::StoreError::Invalid(_)),
            "{url}: {err:?}"
        );
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
}
