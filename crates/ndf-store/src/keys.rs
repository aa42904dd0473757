//! API keys (only keyed hashes are stored) and the request counters behind rate limits, in the
//! job store's database so every replica shares them.

use async_trait::async_trait;

use crate::error::{StoreError, db};
use crate::types::Millis;

/// An API key's record. `hash` is a keyed hash of the key; the key itself is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id (also inside the key).
    pub id: String,
    /// Tenant whose jobs the key sees.
    pub tenant: String,
    /// A name for people.
    pub name: String,
    /// Hex keyed hash of the whole key.
    pub hash: String,
    /// Granted scopes (`extract`, `jobs:read`, `jobs:write`, `admin`).
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Revocation time, if revoked.
    pub revoked_at: Option<Millis>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// Keys and shared counters. Object-safe: use as `Arc<dyn KeyStore>`.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug + 'static {
    /// Store a new key (its id must be new).
    async fn create_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// A key by id.
    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Keys, of one tenant or all, by id (at most 10,000).
    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>, StoreError>;
    /// Revoke a key; false if there is no such active key.
    async fn revoke_key(&self, id: &str, now: Millis) -> Result<bool, StoreError>;
    /// Number of keys not revoked.
    async fn active_key_count(&self) -> Result<u64, StoreError>;
    /// Number of keys ever created, revoked ones included (revoked keys stay in the table):
    /// whether this store has ever required keys.
    async fn key_count_ever(&self) -> Result<u64, StoreError>;
    /// Add one to the counter of `bucket` in the window starting at `window_start` and return
    /// the new count (atomic across replicas); the counter may be purged after `expires_at`.
    async fn count_hit(
        &self,
        bucket: &str,
        window_start: Millis,
        expires_at: Millis,
    ) -> Result<u64, StoreError>;
    /// Remove counters expired at `now`.
    async fn purge_counters(&self, now: Millis) -> Result<u64, StoreError>;
}

macro_rules! key_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant, name, hash, scopes, created_at, revoked_at FROM ndf_api_keys ",
            $rest
        )
    };
}

fn key_from_row<R>(row: &R) -> Result<ApiKey, StoreError>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let scopes: String = row.try_get("scopes").map_err(db)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(db)?,
        tenant: row.try_get("tenant").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        hash: row.try_get("hash").map_err(db)?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: row.try_get("created_at").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
    })
}

macro_rules! impl_key_store {
    ($store:ty) => {
        #[async_trait]
        impl KeyStore for $store {
            async fn create_key(&self, key: &ApiKey) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO ndf_api_keys (id, tenant, name, hash, scopes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&key.id)
                .bind(&key.tenant)
                .bind(&key.name)
                .bind(&key.hash)
                .bind(key.scopes.join(" "))
                .bind(key.created_at)
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            async fn get_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
                sqlx::query(key_select!("WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?
                    .map(|r| key_from_row(&r))
                    .transpose()
            }

            async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
                let rows = match tenant {
                    Some(t) => {
                        sqlx::query(key_select!("WHERE tenant = $1 ORDER BY id LIMIT 10000"))
                            .bind(t)
                            .fetch_all(&self.pool)
                            .await
                    }
                    None => {
                        sqlx::query(key_select!("ORDER BY id LIMIT 10000"))
                            .fetch_all(&self.pool)
                            .await
                    }
                }
                .map_err(db)?;
                rows.iter().map(key_from_row).collect()
            }

            async fn revoke_key(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE ndf_api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(done.rows_affected() > 0)
            }

            async fn active_key_count(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM ndf_api_keys WHERE revoked_at IS NULL",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn key_count_ever(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ndf_api_keys")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn count_hit(
                &self,
                bucket: &str,
                window_start: Millis,
                expires_at: Millis,
            ) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "INSERT INTO ndf_rate_counters (bucket, window_start, count, expires_at) \
                     VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (bucket, window_start) \
                     DO UPDATE SET count = ndf_rate_counters.count + 1 RETURNING count",
                )
                .bind(bucket)
                .bind(window_start)
                .bind(expires_at)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn purge_counters(&self, now: Millis) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM ndf_rate_counters WHERE expires_at < $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                Ok(done.rows_affected())
            }
        }
    };
}

impl_key_store!(crate::store_sqlite::SqliteJobStore);
impl_key_store!(crate::store_pg::PgJobStore);
