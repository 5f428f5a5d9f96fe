//! The metadata store: SQLite (embedded default) or PostgreSQL, through one sqlx
//! `Any` code path. Portable SQL only: `$n` placeholders, i64 timestamps, text keys.
//! Each backend has its own migrations folder, applied at startup.

pub mod audit;
pub mod blobs;
pub mod conditions;
pub mod dag;
pub mod files;
pub mod history;
pub mod jobs;
pub mod sessions;
pub mod storage_report;
pub mod transfers;
pub mod uploads;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::config::{Backend, Config};

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

impl Db {
    /// Connects to the configured database and applies pending migrations.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = config.backend();
        let (url, shown) = match &config.database_url {
            Some(url) => (url.expose().to_owned(), url.redacted()),
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
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 });
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

    /// A round trip to the database (for `/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.pool.execute("SELECT 1").await.map(drop)
    }
}
