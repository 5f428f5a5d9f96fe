//! Resumable uploads a run of `depot upload` left unfinished (cut by Ctrl-C,
//! a lost network, a closed laptop), so the next run for the same file goes
//! on from the server's offset rather than from zero. Kept beside the client
//! config as `uploads.json`: for each upload URL, the server, the local file
//! (canonical path, size and modification time: a changed file is a new
//! upload) and the name it goes up as.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::remote::{config_path, write_private};

/// One local file going up to one server under one name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Unfinished {
    pub(super) server: String,
    pub(super) path: PathBuf,
    pub(super) size: u64,
    /// Nanoseconds since the epoch.
    pub(super) modified: u128,
    pub(super) name: String,
    /// The upload's URL path on the server.
    pub(super) upload: String,
}

impl Unfinished {
    /// What identifies an upload of `path` as `name` to `server` (its URL unknown yet).
    pub(super) fn of(server: &str, path: &Path, name: &str) -> anyhow::Result<Self> {
        let path = std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
        let meta = std::fs::metadata(&path)?;
        let modified = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_nanos())
            .unwrap_or_default();
        Ok(Self {
            server: server.to_owned(),
            path,
            size: meta.len(),
            modified,
            name: name.to_owned(),
            upload: String::new(),
        })
    }

    /// The same file, unchanged, going up under the same name to the same server.
    fn same_upload(&self, other: &Self) -> bool {
        self.same_file(other)
            && (self.size, self.modified, &self.name) == (other.size, other.modified, &other.name)
    }

    /// The same local file to the same server, whatever became of it since.
    pub(super) fn same_file(&self, other: &Self) -> bool {
        self.server == other.server && self.path == other.path
    }
}

/// The kept list of unfinished uploads.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Kept {
    #[serde(default)]
    uploads: Vec<Unfinished>,
}

fn kept_path() -> anyhow::Result<PathBuf> {
    Ok(config_path()?.with_file_name("uploads.json"))
}

impl Kept {
    /// The list as kept; an unreadable list is treated as empty (it only
    /// saves time).
    pub(super) fn load() -> Self {
        kept_path()
            .ok()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn save(&self) -> anyhow::Result<()> {
        let path = kept_path()?;
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, &serde_json::to_string_pretty(self)?)?;
        std::fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The earlier upload of exactly this file, if one is kept.
    pub(super) fn find(&self, wanted: &Unfinished) -> Option<Unfinished> {
        self.uploads.iter().find(|kept| kept.same_upload(wanted)).cloned()
    }

    /// Earlier uploads of this local file to this server that it can no
    /// longer go on with (the file changed, or another name).
    pub(super) fn stale(&self, wanted: &Unfinished) -> Vec<Unfinished> {
        self.uploads
            .iter()
            .filter(|kept| kept.same_file(wanted) && !kept.same_upload(wanted))
            .cloned()
            .collect()
    }

    /// Every kept upload of this local file to this server.
    pub(super) fn of_file(&self, wanted: &Unfinished) -> Vec<Unfinished> {
        self.uploads
            .iter()
            .filter(|kept| kept.same_file(wanted))
            .cloned()
            .collect()
    }

    /// Keeps an upload that has begun.
    pub(super) fn remember(upload: &Unfinished) -> anyhow::Result<()> {
        let mut kept = Self::load();
        kept.uploads.retain(|other| other.upload != upload.upload);
        kept.uploads.push(upload.clone());
        kept.save()
    }

    /// Drops an upload that completed, failed for good or was terminated.
    pub(super) fn forget(upload: &str) -> anyhow::Result<()> {
        let mut kept = Self::load();
        let before = kept.uploads.len();
        kept.uploads.retain(|other| other.upload != upload);
        if kept.uploads.len() == before {
            return Ok(());
        }
        kept.save()
    }
}
