//! `depot backup --to DIR`: a snapshot of the metadata, the content its
//! files use (only what the directory lacks is copied), a manifest.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use tokio::io::AsyncWriteExt;

use super::{
    BACKUP_JOB, BackupDir, CONTENT, Content, CopyReport, Destination, FORMAT, MANIFEST, Manifest, Part,
    Progress, SECRET, copy_listed, database_name, part_of, sync_dir, sync_file,
};
use crate::config::{Backend, Config, SECRET_FILE, create_private_file};
use crate::db::{backups, jobs, pg_tools};
use crate::domain::timestamp;
use crate::pipeline::state::AppState;

/// How long a hold lasts unless the backup renews it.
const HOLD_FOR: Duration = Duration::from_secs(600);
/// How often a running backup renews its hold.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// What a backup did.
#[derive(Debug)]
pub struct Taken {
    pub manifest: Manifest,
    pub copy: CopyReport,
    pub took: Duration,
}

/// Backs up `state`'s deployment (configured by `config`) into `to`.
pub async fn take(
    state: &AppState,
    config: &Config,
    to: &Destination,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Taken> {
    let started = Instant::now();
    let backup = BackupDir::create(to).await?;
    let id = snapshot_id();
    let dir = backup.snapshot_dir(&id);
    std::fs::create_dir(&dir).with_context(|| format!("cannot make {}", dir.display()))?;

    let pool = state.db.pool();
    let node = &state.maintenance.node;
    let run = jobs::start_run(pool, BACKUP_JOB, "cli", node, timestamp::now_micros()).await?;
    let result = async {
        let work = snapshot_and_copy(state, config, &backup, &id, started, &mut progress);
        let taken = held(state, &id, work).await?;
        // Complete, once its manifest is written (last).
        write_manifest(&dir, &taken.manifest)?;
        backup.publish(&id).await?;
        Ok(taken)
    }
    .await;
    if result.is_err() {
        // Without its manifest the snapshot is incomplete and ignored; its files go.
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (outcome, report) = match &result {
        Ok(taken) => (
            if taken.copy.incomplete() {
                "failed"
            } else {
                "succeeded"
            },
            serde_json::json!({
                "snapshot": id,
                "to": to.to_string(),
                "blobs": taken.copy.blobs,
                "blob_bytes": taken.copy.blob_bytes,
                "copied": taken.copy.copied,
                "copied_bytes": taken.copy.copied_bytes,
                "missing": taken.copy.missing,
                "corrupt": taken.copy.corrupt,
            }),
        ),
        Err(err) => (
            "failed",
            serde_json::json!({ "snapshot": id, "error": format!("{err:#}") }),
        ),
    };
    jobs::finish_run(pool, run, outcome, &report.to_string(), timestamp::now_micros()).await?;
    result
}

/// Runs `work` holding removals of unused bytes, as long as it runs.
async fn held<T>(
    state: &AppState,
    id: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let pool = state.db.pool();
    let now = timestamp::now_micros();
    backups::take_hold(pool, id, now, now + micros(HOLD_FOR)).await?;
    let hold = Hold::renew(pool.clone(), id.to_owned());
    let result = work.await;
    hold.stop();
    backups::release_hold(pool, id, timestamp::now_micros()).await?;
    anyhow::ensure!(
        !hold.lost.load(Ordering::SeqCst),
        "the backup's hold on removals lapsed (the database was unreachable for {} s); run it again",
        HOLD_FOR.as_secs()
    );
    result
}

/// The snapshot of the metadata and the content it lists copied; the
/// manifest that describes them, not yet written.
async fn snapshot_and_copy(
    state: &AppState,
    config: &Config,
    backup: &BackupDir,
    id: &str,
    started: Instant,
    progress: &mut impl FnMut(Progress),
) -> anyhow::Result<Taken> {
    let started_at = timestamp::rfc3339_now();
    let dir = backup.snapshot_dir(id);
    let (metadata, listed) = snapshot_metadata(state, config, &dir).await?;
    let secret = keep_secret(config, &dir).await?;
    let list_path = dir.join(CONTENT);
    let list = part_of(&dir, CONTENT).await?;
    let copy = copy_listed(
        &list_path,
        state.blobs.as_ref(),
        backup.blobs.as_ref(),
        listed,
        started,
        progress,
    )
    .await?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        id: id.to_owned(),
        started_at,
        finished_at: timestamp::rfc3339_now(),
        depot_version: env!("CARGO_PKG_VERSION").to_owned(),
        database: database_name(config.backend()).to_owned(),
        metadata,
        content: Content {
            list,
            blobs: copy.blobs,
            blob_bytes: copy.blob_bytes,
        },
        secret,
    };
    Ok(Taken {
        manifest,
        copy,
        took: started.elapsed(),
    })
}

/// `20261207T061503.042Z`: sorts as the snapshots were taken.
fn snapshot_id() -> String {
    let format =
        time::macros::format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A backup's hold, renewed on a task of its own while the backup runs.
struct Hold {
    task: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Hold {
    fn renew(pool: sqlx::AnyPool, id: String) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let until = timestamp::now_micros() + micros(HOLD_FOR);
                match backups::extend_hold(&pool, &id, until).await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => flag.store(true, Ordering::SeqCst),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not renew the backup's hold");
                        if renewed.elapsed() >= HOLD_FOR {
                            flag.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        });
        Self { task, lost }
    }

    fn stop(&self) {
        self.task.abort();
    }
}

/// The database as one consistent snapshot, and the list of content its
/// files use, read from that same snapshot; how many the list holds.
async fn snapshot_metadata(state: &AppState, config: &Config, dir: &Path) -> anyhow::Result<(Part, u64)> {
    match config.backend() {
        Backend::Sqlite => {
            let file = "metadata.sqlite3";
            let path = dir.join(file);
            let quoted = path.to_string_lossy().replace('\'', "''");
            sqlx::query(&format!("VACUUM INTO '{quoted}'"))
                .execute(state.db.pool())
                .await
                .context("cannot snapshot the SQLite database")?;
            sync_file(&path)?;
            let mut snapshot = crate::db::open_read_only(&path).await?;
            let listed = write_content_list(&mut snapshot, dir).await?;
            Ok((part_of(dir, file).await?, listed))
        }
        Backend::Postgres => {
            let file = "metadata.pgdump";
            let url = config
                .database_url
                .as_ref()
                .context("PostgreSQL without DATABASE_URL")?;
            let mut tx = state.db.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut *tx)
                .await?;
            let dump = pg_tools::command("pg_dump", url)?
                .args(["--format=custom", "--no-owner", "--no-privileges", "--snapshot"])
                .arg(&snapshot)
                .arg("--file")
                .arg(dir.join(file))
                .output();
            // pg_dump imports the snapshot at its start; the list is read in it meanwhile.
            let (dumped, listed) = tokio::join!(dump, write_content_list(&mut tx, dir));
            let listed = listed?;
            pg_tools::succeeded("pg_dump", dumped)?;
            tx.rollback().await?;
            sync_file(&dir.join(file))?;
            Ok((part_of(dir, file).await?, listed))
        }
    }
}

/// Writes `content.txt`: each content the snapshot's files use, with its
/// size; returns how many.
async fn write_content_list(conn: &mut sqlx::AnyConnection, dir: &Path) -> anyhow::Result<u64> {
    let path = dir.join(CONTENT);
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(&path).await?);
    let mut rows = backups::used_content(conn);
    let mut listed = 0;
    while let Some((sha256, size)) = rows.try_next().await? {
        out.write_all(format!("{sha256} {size}\n").as_bytes()).await?;
        listed += 1;
    }
    out.flush().await?;
    out.into_inner().sync_all().await?;
    Ok(listed)
}

/// Copies the data dir's signing secret, when the deployment keeps one there.
async fn keep_secret(config: &Config, dir: &Path) -> anyhow::Result<Option<Part>> {
    if config.secret_key.is_some() || config.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let kept = config.data_dir.join(SECRET_FILE);
    if !kept.is_file() {
        return Ok(None);
    }
    let target = dir.join(SECRET);
    let mut file = create_private_file(&target)?;
    std::io::copy(&mut std::fs::File::open(&kept)?, &mut file)?;
    file.sync_all()?;
    Ok(Some(part_of(dir, SECRET).await?))
}

/// Writes the manifest last, durably: the snapshot is complete once it is there.
fn write_manifest(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let partial = dir.join(format!("{MANIFEST}.partial"));
    let mut text = serde_json::to_string_pretty(manifest)?;
    text.push('\n');
    std::fs::write(&partial, text)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, dir.join(MANIFEST))?;
    sync_dir(dir)?;
    Ok(())
}
