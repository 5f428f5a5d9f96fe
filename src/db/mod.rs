//! The metadata store: SQLite (embedded default) or PostgreSQL, through one sqlx
//! `Any` code path. Portable SQL only: `$n` placeholders, i64 timestamps, text keys.
//! Each backend has its own migrations folder, applied at startup.

pub mod api_keys;
pub mod audit;
pub mod backups;
pub mod blobs;
pub mod conditions;
pub mod dag;
pub mod files;
pub mod folders;
pub mod health;
pub mod history;
pub mod invites;
pub mod ipfs_pins;
pub mod jobs;
pub mod links;
pub mod multipart;
pub mod pg_tools;
pub mod quotas;
pub mod sessions;
pub mod shares;
pub mod storage_report;
pub mod transfers;
pub mod uploads;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyTransactionManager};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction, TransactionManager};

use crate::config::{Backend, Config, ServiceUrl};

/// Durability first: WAL with a full fsync per commit, so a 2xx means the row is on disk.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

/// How long startup waits for the database before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

pub type Tx = Transaction<'static, Any>;

/// Refuses a `DATABASE_URL` of a database depot does not speak, by its
/// scheme, before trying to reach it.
fn supported(url: &ServiceUrl) -> anyhow::Result<()> {
    let scheme = url.expose().split(':').next().unwrap_or_default();
    anyhow::ensure!(
        matches!(scheme, "postgres" | "postgresql" | "sqlite"),
        "DATABASE_URL {}: `{scheme}` is not supported; depot keeps its metadata in PostgreSQL \
         (postgres://…) or, with DATABASE_URL unset, in SQLite in the data dir",
        url.redacted()
    );
    Ok(())
}

impl Db {
    /// Connects to the configured database and applies pending migrations.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = config.backend();
        let (url, shown) = match &config.database_url {
            Some(url) => {
                supported(url)?;
                (url.expose().to_owned(), url.redacted())
            }
            None => {
                let path = std::path::absolute(config.data_dir.join("depot.db"))?;
                let url = format!("sqlite://{}?mode=rwc", path.display());
                (url.clone(), url)
            }
        };
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| format!("invalid DATABASE_URL {shown}"))?;
        let mut pool_options = AnyPoolOptions::new()
            .acquire_timeout(CONNECT_TIMEOUT)
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_release(|conn, _meta| Box::pin(leaves_no_transaction(conn)));
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                    Ok(())
                })
            });
        }
        let pool = tokio::time::timeout(CONNECT_TIMEOUT, pool_options.connect_with(options))
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))
            .and_then(|result| result.map_err(anyhow::Error::from))
            .with_context(|| format!("database {shown} is unreachable"))?;
        let db = Self { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .context("database migration failed")
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }

    /// The deployment's random name, shared by its nodes.
    pub async fn deployment_name(&self) -> Result<String, sqlx::Error> {
        sqlx::query_scalar("SELECT name FROM deployment WHERE id = 1")
            .fetch_one(&self.pool)
            .await
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.pool.execute("SELECT 1").await.map(drop)
    }

    /// Whether the database takes a write: one committed (and so, on SQLite,
    /// fsynced) update of the probe row.
    pub async fn probe_write(&self, now: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE readiness_probe SET probed_at = $1 WHERE id = 1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// Whether a connection handed back to the pool may be used again: only if
/// it is in no transaction. A transaction dropped without a commit has
/// queued its rollback; the ping waits for it. A connection whose rollback
/// failed stays in the pool's eyes in a transaction — as after a failed
/// `COMMIT` on SQLite (an fsync error), which SQLite has rolled back already
/// — and is closed: used again, its next `BEGIN` would become a savepoint
/// that a rollback leaves open, holding the write lock for good.
async fn leaves_no_transaction(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    if AnyTransactionManager::get_transaction_depth(conn) == 0 {
        return Ok(true);
    }
    conn.ping().await?;
    let clean = AnyTransactionManager::get_transaction_depth(conn) == 0;
    if !clean {
        tracing::warn!("closed a database connection left in a failed transaction");
    }
    Ok(clean)
}

/// A SQLite database file opened for reading only, outside any pool (a
/// backup's snapshot of the metadata).
pub async fn open_read_only(path: &std::path::Path) -> anyhow::Result<sqlx::AnyConnection> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", std::path::absolute(path)?.display());
    sqlx::AnyConnection::connect(&url)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// `prefix` followed by `VALUES`-style rows of placeholders for a multi-row
/// insert: `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `columns` values.
pub fn values_sql(prefix: &str, rows: usize, columns: usize) -> String {
    let mut sql = String::from(prefix);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + column + 1));
        }
        sql.push(')');
    }
    sql
}

/// Whether a database error is a unique-constraint violation (duplicate name).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::values_sql;

    #[test]
    fn values_sql_numbers_every_placeholder_once_row_by_row() {
        assert_eq!(
            values_sql("INSERT INTO t VALUES ", 1, 2),
            "INSERT INTO t VALUES ($1, $2)"
        );
        assert_eq!(
            values_sql("V ", 3, 3),
            "V ($1, $2, $3), ($4, $5, $6), ($7, $8, $9)"
        );
    }
}
