//! `depot audit verify [--checkpoint FILE]` and `depot audit checkpoint`:
//! the audit chain checked, and its head signed for safekeeping elsewhere.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::db::Db;
use crate::db::audit::{self, Checkpoint};
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of audit events and report the first broken link:
    /// an event altered, removed or out of place, or a hash not made with the
    /// audit key. Exits non-zero if there is one.
    Verify {
        /// A checkpoint `depot audit checkpoint` wrote earlier: the chain must
        /// still hold its last event as it was (not cut short or rewritten).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the chain's head (last event, its hash, the first keyed event),
    /// the time, and their HMAC under the audit key, as JSON. Keep it where
    /// whoever can write the database cannot; `verify --checkpoint` checks it.
    Checkpoint,
}

pub async fn run(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let key = startup::audit_key(&config)?;
    let db = Db::connect(&config).await?;
    match command {
        AuditCommand::Verify { checkpoint } => verify(&db, &key, checkpoint.as_deref()).await,
        AuditCommand::Checkpoint => {
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .context("cannot format the time")?;
            let checkpoint = Checkpoint::take(db.pool(), &key, now)
                .await
                .context("cannot read the audit trail")?;
            println!("{}", serde_json::to_string_pretty(&checkpoint)?);
            Ok(())
        }
    }
}

async fn verify(db: &Db, key: &audit::ChainKey, checkpoint: Option<&Path>) -> anyhow::Result<()> {
    let checkpoint = match checkpoint {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let checkpoint: Checkpoint = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a checkpoint", path.display()))?;
            anyhow::ensure!(
                checkpoint.is_signed_by(key),
                "{} is not signed with this deployment's audit key: forged, edited, or from another key",
                path.display()
            );
            Some(checkpoint)
        }
        None => None,
    };
    let mut shown = Instant::now();
    let verification = audit::verify(db.pool(), key, 1000, |checked| {
        if shown.elapsed() >= super::PROGRESS_EVERY {
            shown = Instant::now();
            eprintln!("{checked} events checked");
        }
    })
    .await
    .context("cannot read the audit trail")?;
    let mut broken = verification.broken;
    if let (None, Some(checkpoint)) = (&broken, &checkpoint) {
        broken = checkpoint
            .check(db.pool())
            .await
            .context("cannot read the audit trail")?;
    }
    let checked = verification.checked;
    let unkeyed = u64::try_from(verification.keyed_from - 1)
        .unwrap_or_default()
        .min(checked);
    match broken {
        None => {
            println!(
                "{checked} events checked: the chain is whole ({} keyed, {unkeyed} from before the chain was keyed)",
                checked - unkeyed
            );
            if let Some(checkpoint) = checkpoint {
                println!(
                    "and it still holds the checkpoint of {} (event {})",
                    checkpoint.taken_at, checkpoint.last_id
                );
            }
            Ok(())
        }
        Some(broken) => {
            println!("{checked} events checked before the first broken link: {broken}");
            anyhow::bail!("the audit trail's chain is broken: {broken}")
        }
    }
}
