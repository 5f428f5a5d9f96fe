//! `depot backup --to DIR|s3://…`, `depot backup verify`, `depot backup list`
//! and `depot restore --from DIR`: a deployment's backups, taken while it
//! serves.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::ConfigArgs;
use crate::config::Config;
use crate::pipeline::audit::Audit;
use crate::pipeline::backup::{self, BackupDir, CopyReport, Destination, Progress, Restore};
use crate::pipeline::state::AppState;
use crate::startup;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(flatten)]
    pub deployment: ConfigArgs,
    /// The backup directory (made if new) or `s3://bucket/prefix` (reached
    /// with the `s3_*` settings). One that holds earlier backups gets a new
    /// snapshot and only the content they lack.
    #[arg(long, value_name = "DIR|s3://…")]
    pub to: Option<String>,
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Check a backup without restoring it: every file of the snapshot
    /// against its checksum, and every content present and (unless
    /// `--quick`) hashing to its SHA-256. Exits non-zero if anything is wrong.
    Verify {
        /// The backup directory, or `s3://bucket/prefix`.
        dir: String,
        /// The snapshot to check (default: the newest).
        #[arg(long)]
        snapshot: Option<String>,
        /// Check that each content is there with its size, without reading it.
        #[arg(long)]
        quick: bool,
    },
    /// The snapshots in a backup directory, oldest first.
    List {
        /// The backup directory, or `s3://bucket/prefix`.
        dir: String,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub deployment: ConfigArgs,
    /// The backup directory, or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR|s3://…")]
    pub from: String,
    /// The snapshot to restore (default: the newest); `depot backup list` shows them.
    #[arg(long)]
    pub snapshot: Option<String>,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let config = args.deployment.load(None, None)?;
    match (args.command, args.to) {
        (Some(BackupCommand::Verify { dir, snapshot, quick }), _) => {
            verify(&Destination::parse(&dir, &config)?, snapshot.as_deref(), !quick).await
        }
        (Some(BackupCommand::List { dir }), _) => list(&Destination::parse(&dir, &config)?).await,
        (None, Some(to)) => {
            let to = Destination::parse(&to, &config)?;
            take(config, &to).await
        }
        (None, None) => anyhow::bail!("say where to: depot backup --to DIR (or depot backup verify DIR)"),
    }
}

async fn take(config: Config, to: &Destination) -> anyhow::Result<()> {
    let state = startup::build_state(&config).await?;
    let taken = backup::take(&state, &config, to, |progress| {
        eprintln!("{}", progress_line(&progress, "copied"))
    })
    .await?;
    let id = &taken.manifest.id;
    record(&state, "backup", format!("snapshot {id} to {to}")).await?;
    println!(
        "snapshot {id} in {to}: {}; took {}",
        summary(&taken.copy),
        seconds(taken.took)
    );
    if config.secret_key.is_some() || config.audit_key.is_some() {
        println!(
            "SECRET_KEY and DEPOT_AUDIT_KEY are not in the backup: keep them with it, a restore needs them"
        );
    }
    fail_if_incomplete(&taken.copy, "the deployment's store")
}

async fn verify(dir: &Destination, snapshot: Option<&str>, deep: bool) -> anyhow::Result<()> {
    let verified = backup::verify(dir, snapshot, deep, |progress| {
        eprintln!("{}", progress_line(&progress, "checked"))
    })
    .await?;
    for problem in &verified.problems {
        println!("{problem}");
    }
    anyhow::ensure!(
        verified.problems.is_empty(),
        "snapshot {} is damaged: {} problem(s)",
        verified.manifest.id,
        verified.problems.len()
    );
    println!(
        "snapshot {} is whole: {} content ({}){}",
        verified.manifest.id,
        verified.blobs,
        megabytes(verified.bytes),
        if deep {
            ", each read back and hashed"
        } else {
            ", each present with its size"
        }
    );
    Ok(())
}

async fn list(dir: &Destination) -> anyhow::Result<()> {
    for id in BackupDir::open(dir).await?.snapshots().await? {
        println!("{id}");
    }
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let config = args.deployment.load(None, None)?;
    let from = Destination::parse(&args.from, &config)?;
    let restore = Restore::prepare(&config, &from, args.snapshot.as_deref()).await?;
    let (store, _) = startup::blob_store(&config).await?;
    let copy = restore
        .copy_content(store.as_ref(), |progress| {
            eprintln!("{}", progress_line(&progress, "copied"))
        })
        .await?;
    restore.place(&config).await?;
    eprintln!(
        "snapshot {}: content copied, metadata restored",
        restore.manifest.id
    );
    let state = startup::build_state(&config).await?;
    let restored = restore.finish(&state, copy).await?;
    let id = &restored.manifest.id;
    record(&state, "restore", format!("snapshot {id} from {from}")).await?;
    println!(
        "restored snapshot {id} (taken {}): {}; {} unfinished upload(s) ended; took {}",
        restored.manifest.started_at,
        summary(&restored.copy),
        restored.uploads_ended,
        seconds(restored.took)
    );
    fail_if_incomplete(&restored.copy, "the backup")
}

/// The operator's action in the audit trail.
async fn record(state: &AppState, action: &str, detail: String) -> anyhow::Result<()> {
    let audit = Audit::from_cli(state.audit.key().clone());
    audit.note_detail(detail);
    state
        .audit
        .write(audit.event(action, 200, None))
        .await
        .map_err(|err| anyhow::anyhow!("the {action} is done, but its audit event failed: {err}"))
}

fn summary(copy: &CopyReport) -> String {
    format!(
        "{} content ({}), {} copied ({}), {} already there",
        copy.blobs,
        megabytes(copy.blob_bytes),
        copy.copied,
        megabytes(copy.copied_bytes),
        copy.present
    )
}

fn fail_if_incomplete(copy: &CopyReport, source: &str) -> anyhow::Result<()> {
    for sha256 in &copy.missing {
        println!("missing from {source} (not copied): {sha256}");
    }
    for sha256 in &copy.corrupt {
        println!("corrupt in {source} (its bytes do not match their SHA-256; not copied): {sha256}");
    }
    anyhow::ensure!(
        !copy.incomplete(),
        "{} content could not be copied; the files that use them are flagged corrupt by the next cleanup",
        copy.missing.len() + copy.corrupt.len()
    );
    Ok(())
}

/// `progress` of content `done` (copied, checked…) as a line for stderr.
fn progress_line(progress: &Progress, done: &str) -> String {
    let rate = progress.bytes as f64 / progress.elapsed.as_secs_f64().max(0.001) / 1e6;
    format!(
        "{} of {} content done, {} {done} ({rate:.0} MB/s)",
        progress.done,
        progress.total,
        megabytes(progress.bytes)
    )
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn seconds(took: Duration) -> String {
    format!("{:.1} s", took.as_secs_f64())
}
