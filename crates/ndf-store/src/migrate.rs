//! A small versioned migration runner (sqlx's `migrate!` needs its macros feature).
//!
//! Migrations are SQL files embedded per backend, applied in version order, each in its own
//! transaction together with its row in `ndf_schema_migrations` (version, name, checksum,
//! applied_at). A migration whose text changed after it was applied is refused (the checksum).
//! Concurrent openers are serialized: SQLite by `BEGIN IMMEDIATE` (the write lock), PostgreSQL
//! by a session advisory lock held on a dedicated connection that is closed afterwards, so the
//! lock cannot leak into the pool even on error. Versions unknown to this binary (applied by a
//! newer replica during a rolling update) are left alone.

use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use crate::error::{StoreError, db};

/// One embedded migration.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "jobs",
        sql: include_str!("../migrations/sqlite/0001_jobs.sql"),
    },
    Migration {
        version: 2,
        name: "audit",
        sql: include_str!("../migrations/sqlite/0002_audit.sql"),
    },
    Migration {
        version: 3,
        name: "tenants_keys",
        sql: include_str!("../migrations/sqlite/0003_tenants_keys.sql"),
    },
    Migration {
        version: 4,
        name: "tenant_idempotency",
        sql: include_str!("../migrations/sqlite/0004_tenant_idempotency.sql"),
    },
    Migration {
        version: 5,
        name: "audit_keyed",
        sql: include_str!("../migrations/sqlite/0005_audit_keyed.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "jobs",
        sql: include_str!("../migrations/postgres/0001_jobs.sql"),
    },
    Migration {
        version: 2,
        name: "audit",
        sql: include_str!("../migrations/postgres/0002_audit.sql"),
    },
    Migration {
        version: 3,
        name: "tenants_keys",
        sql: include_str!("../migrations/postgres/0003_tenants_keys.sql"),
    },
    Migration {
        version: 4,
        name: "tenant_idempotency",
        sql: include_str!("../migrations/postgres/0004_tenant_idempotency.sql"),
    },
    Migration {
        version: 5,
        name: "audit_keyed",
        sql: include_str!("../migrations/postgres/0005_audit_keyed.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS ndf_schema_migrations (
    version BIGINT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Arbitrary constant key of the PostgreSQL advisory lock ("ndfmigr" in ASCII).
const PG_LOCK_KEY: i64 = 0x006e_6466_6d69_6772;

/// FNV-1a, 64 bits: detects edited migrations, no cryptographic claim.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_recorded(m: &Migration, recorded: Option<String>) -> Result<bool, StoreError> {
    match recorded {
        None => Ok(false),
        Some(sum) if sum == checksum(m.sql) => Ok(true),
        Some(_) => Err(StoreError::Corrupt(
            format!(
                "migration {} ({}) differs from the one applied to this database",
                m.version, m.name
            )
            .into(),
        )),
    }
}

/// Applies pending SQLite migrations on `conn`.
pub(crate) async fn run_sqlite(
    conn: &mut SqliteConnection,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    sqlx::raw_sql(CREATE_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for m in migrations {
        // IMMEDIATE takes the write lock first, so two processes opening one file serialize
        // here (waiting up to busy_timeout) instead of both applying the migration.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let recorded: Option<String> =
            sqlx::query("SELECT checksum FROM ndf_schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(db)?;
        if check_recorded(m, recorded)? {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO ndf_schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(m.sql))
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    Ok(())
}

/// Applies pending PostgreSQL migrations on `conn` (a dedicated connection: the caller closes
/// it, which also releases the advisory lock if anything below fails).
pub(crate) async fn run_postgres(
    conn: &mut PgConnection,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::raw_sql(CREATE_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for m in migrations {
        let mut tx = conn.begin().await.map_err(db)?;
        let recorded: Option<String> =
            sqlx::query("SELECT checksum FROM ndf_schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(db)?;
        if check_recorded(m, recorded)? {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO ndf_schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(m.sql))
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_checksums_differ() {
        for set in [SQLITE, POSTGRES] {
            assert!(set.windows(2).all(|w| w[0].version < w[1].version));
            assert!(
                set.iter()
                    .all(|m| m.version >= 1 && !m.sql.trim().is_empty())
            );
        }
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_ne!(checksum("a"), checksum("b"));
    }
}
