//! `depot restore --from DIR`: a deployment rebuilt from a snapshot, into an
//! empty data dir or database, in steps the caller takes in turn:
//! [`Restore::prepare`] checks the snapshot and that the target is empty;
//! [`Restore::copy_content`] copies the content into the deployment's store
//! (first, so that a restore cut short goes on where it stopped: content
//! there already is not copied again); [`Restore::place`] puts the secret and
//! the metadata in place; the caller opens the deployment on them (applying
//! the migrations of a newer depot), and [`Restore::finish`] points the
//! files at their store and lets go of what the snapshot caught half-done.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::Connection;

use super::{
    BackupDir, CONTENT, CopyReport, Destination, Manifest, Progress, content_lines, copy_listed, sync_file,
};
use crate::config::{Backend, Config, SECRET_FILE, create_private_file};
use crate::db::{backups, files, pg_tools, uploads};
use crate::pipeline::resumable;
use crate::pipeline::state::AppState;
use crate::storage::BlobStore;

/// A snapshot on its way into a deployment.
#[derive(Debug)]
pub struct Restore {
    backup: BackupDir,
    pub manifest: Manifest,
    started: Instant,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub copy: CopyReport,
    /// Resumable uploads the snapshot caught under way: their bytes are not
    /// in a backup, so they are ended (their clients start again).
    pub uploads_ended: u64,
    pub took: Duration,
}

impl Restore {
    /// Checks snapshot `snapshot` (or the newest) in `from` and the empty
    /// target `config` names, then writes the metadata and the secret there.
    pub async fn prepare(
        config: &Config,
        from: &Destination,
        snapshot: Option<&str>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let backup = BackupDir::open(from).await?;
        let manifest = backup.manifest(snapshot).await?;
        let problems = backup.check_parts(&manifest).await;
        anyhow::ensure!(
            problems.is_empty(),
            "snapshot {} is damaged: {}",
            manifest.id,
            problems.join("; ")
        );
        let backend = manifest.backend()?;
        anyhow::ensure!(
            backend == config.backend(),
            "snapshot {} holds a {} database; it restores into the same kind ({})",
            manifest.id,
            manifest.database,
            match backend {
                Backend::Sqlite => "leave DATABASE_URL unset",
                Backend::Postgres => "set DATABASE_URL to an empty PostgreSQL database",
            }
        );
        let restore = Self {
            backup,
            manifest,
            started,
        };
        restore.ensure_empty(config).await?;
        Ok(restore)
    }

    /// Puts the secret and the metadata in place.
    pub async fn place(&self, config: &Config) -> anyhow::Result<()> {
        self.place_secret(config)?;
        self.place_metadata(config).await
    }

    fn snapshot_file(&self, file: &str) -> std::path::PathBuf {
        self.backup.snapshot_dir(&self.manifest.id).join(file)
    }

    async fn ensure_empty(&self, config: &Config) -> anyhow::Result<()> {
        match config.backend() {
            Backend::Sqlite => {
                let database = config.data_dir.join("depot.db");
                anyhow::ensure!(
                    !database.exists(),
                    "{} has a database already; a restore goes into an empty data dir",
                    config.data_dir.display()
                );
            }
            Backend::Postgres => {
                let url = config
                    .database_url
                    .as_ref()
                    .context("PostgreSQL without DATABASE_URL")?;
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(url.expose())
                    .await
                    .with_context(|| format!("database {} is unreachable", url.redacted()))?;
                let tables: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                )
                .fetch_one(&mut conn)
                .await?;
                anyhow::ensure!(
                    tables == 0,
                    "database {} has {tables} table(s); a restore goes into an empty database",
                    url.redacted()
                );
            }
        }
        Ok(())
    }

    /// The kept signing secret, which tokens and the audit chain's key come
    /// from, back in the data dir (unless `SECRET_KEY` is configured).
    fn place_secret(&self, config: &Config) -> anyhow::Result<()> {
        let Some(secret) = &self.manifest.secret else {
            return Ok(());
        };
        if config.secret_key.is_some() {
            tracing::warn!(
                "the snapshot keeps the data dir's signing secret, but SECRET_KEY is set: tokens made before the \
                 backup will not verify, nor will the audit chain unless DEPOT_AUDIT_KEY is the key it was made with"
            );
            return Ok(());
        }
        std::fs::create_dir_all(&config.data_dir)?;
        let target = config.data_dir.join(SECRET_FILE);
        let kept = std::fs::read(self.snapshot_file(&secret.file))?;
        if std::fs::read(&target).is_ok_and(|there| there == kept) {
            return Ok(()); // put there by a restore that was cut short
        }
        let mut file = create_private_file(&target).with_context(|| {
            format!(
                "cannot write {} (a restore goes into an empty data dir)",
                target.display()
            )
        })?;
        std::io::Write::write_all(&mut file, &kept)?;
        file.sync_all()?;
        Ok(())
    }

    async fn place_metadata(&self, config: &Config) -> anyhow::Result<()> {
        let snapshot = self.snapshot_file(&self.manifest.metadata.file);
        match config.backend() {
            Backend::Sqlite => {
                let target = config.data_dir.join("depot.db");
                let partial = config.data_dir.join("depot.db.restoring");
                std::fs::copy(&snapshot, &partial).with_context(|| {
                    format!("cannot copy the metadata into {}", config.data_dir.display())
                })?;
                sync_file(&partial)?;
                std::fs::rename(&partial, &target)?;
                sync_file(&target)?;
            }
            Backend::Postgres => {
                let url = config
                    .database_url
                    .as_ref()
                    .context("PostgreSQL without DATABASE_URL")?;
                let restored = pg_tools::command("pg_restore", url)?
                    .args([
                        "--no-owner",
                        "--no-privileges",
                        "--exit-on-error",
                        "--single-transaction",
                    ])
                    .arg(&snapshot)
                    .output()
                    .await;
                pg_tools::succeeded("pg_restore", restored)?;
            }
        }
        Ok(())
    }

    /// Copies the snapshot's content the deployment's `store` lacks into it.
    pub async fn copy_content(
        &self,
        store: &dyn BlobStore,
        mut progress: impl FnMut(Progress),
    ) -> anyhow::Result<CopyReport> {
        let list = self.snapshot_file(CONTENT);
        let total = self.manifest.content.blobs;
        copy_listed(
            &list,
            self.backup.blobs.as_ref(),
            store,
            total,
            self.started,
            &mut progress,
        )
        .await
    }

    /// Points the files at their content in `state`'s store and ends what
    /// the snapshot caught under way: the backup's own hold and resumable
    /// uploads.
    pub async fn finish(self, state: &AppState, copy: CopyReport) -> anyhow::Result<Restored> {
        let pool = state.db.pool();
        backups::release_all(pool).await?;
        let ended = uploads::expire_all(pool, crate::domain::timestamp::now_micros()).await?;
        let uploads_ended = if ended > 0 {
            resumable::expire(state).await?
        } else {
            0
        };
        // A store other than the backed-up deployment's names content otherwise.
        let mut keys = content_lines(&self.snapshot_file(CONTENT)).await?;
        while let Some((key, _)) = keys.try_next().await? {
            files::relocate(pool, key.as_str(), &state.blobs.uri(&key)).await?;
        }
        Ok(Restored {
            manifest: self.manifest,
            copy,
            uploads_ended,
            took: self.started.elapsed(),
        })
    }
}
