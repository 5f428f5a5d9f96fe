//! Where backups are kept: a directory, or a prefix in an S3 bucket laid out
//! the same way. A snapshot's files are written and read as local files —
//! in the directory itself, or (for S3) in a staging directory under
//! `$TMPDIR`, uploaded once complete (the manifest last) and downloaded
//! before they are read. Content goes straight to and from the store.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::{FORMAT, MANIFEST, Manifest, make_private_dir, part_of};
use crate::config::Config;
use crate::storage::{BlobStore, LocalBlobStore, S3BlobStore, S3Files, S3Settings};

/// Where a backup is: `DIR`, or `s3://bucket/prefix` reached with the
/// configured `s3_*` settings (endpoint, region, keys).
#[derive(Debug, Clone)]
pub enum Destination {
    Dir(PathBuf),
    S3(S3Settings),
}

impl Destination {
    pub fn parse(text: &str, config: &Config) -> anyhow::Result<Self> {
        if text.starts_with("s3://") {
            let settings = config
                .s3_at(text)
                .with_context(|| format!("{text} is not s3://bucket/prefix"))?;
            return Ok(Self::S3(settings));
        }
        anyhow::ensure!(
            !text.contains("://"),
            "{text}: a backup goes into a directory or s3://bucket/prefix"
        );
        Ok(Self::Dir(PathBuf::from(text)))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::S3(settings) if settings.prefix.is_empty() => write!(f, "s3://{}", settings.bucket),
            Self::S3(settings) => write!(f, "s3://{}/{}", settings.bucket, settings.prefix),
        }
    }
}

/// An open backup: its content store, and where its snapshots' files are.
#[derive(Debug)]
pub struct BackupDir {
    shown: String,
    /// The directory, or the S3 staging directory.
    root: PathBuf,
    pub(super) blobs: Arc<dyn BlobStore>,
    remote: Option<Remote>,
}

/// A backup in S3: its named files, and the local copy they are staged in.
#[derive(Debug)]
struct Remote {
    files: S3Files,
    staging: PathBuf,
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

impl BackupDir {
    /// Opens `to` to write a snapshot, making a directory (readable by its
    /// owner only) if it is new.
    pub(super) async fn create(to: &Destination) -> anyhow::Result<Self> {
        if let Destination::Dir(root) = to {
            make_private_dir(root)
                .with_context(|| format!("cannot make the backup directory {}", root.display()))?;
            make_private_dir(&root.join("snapshots"))?;
        }
        Self::open_parts(to).await
    }

    /// Opens an existing backup.
    pub async fn open(from: &Destination) -> anyhow::Result<Self> {
        if let Destination::Dir(root) = from {
            anyhow::ensure!(
                root.join("snapshots").is_dir(),
                "{} is not a depot backup (it has no snapshots/)",
                root.display()
            );
        }
        Self::open_parts(from).await
    }

    async fn open_parts(at: &Destination) -> anyhow::Result<Self> {
        let shown = at.to_string();
        match at {
            Destination::Dir(root) => {
                let blobs = LocalBlobStore::open(&root.join("blobs"))
                    .await
                    .with_context(|| format!("cannot open the content store in {}", root.display()))?;
                Ok(Self {
                    shown,
                    root: root.clone(),
                    blobs: Arc::new(blobs),
                    remote: None,
                })
            }
            Destination::S3(settings) => {
                let mut content = settings.clone();
                content.prefix = match settings.prefix.as_str() {
                    "" => "blobs".to_owned(),
                    prefix => format!("{prefix}/blobs"),
                };
                let blobs = S3BlobStore::open(&content)
                    .with_context(|| format!("invalid S3 settings for {shown}"))?;
                let files =
                    S3Files::open(settings).with_context(|| format!("invalid S3 settings for {shown}"))?;
                let staging =
                    std::env::temp_dir().join(format!("depot-backup-{}", uuid::Uuid::new_v4().simple()));
                make_private_dir(&staging)?;
                make_private_dir(&staging.join("snapshots"))?;
                Ok(Self {
                    shown,
                    root: staging.clone(),
                    blobs: Arc::new(blobs),
                    remote: Some(Remote { files, staging }),
                })
            }
        }
    }

    pub(super) fn snapshot_dir(&self, id: &str) -> PathBuf {
        self.root.join("snapshots").join(id)
    }

    /// The complete snapshots' ids, oldest first.
    pub async fn snapshots(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        match &self.remote {
            None => {
                for entry in std::fs::read_dir(self.root.join("snapshots"))? {
                    let entry = entry?;
                    if entry.path().join(MANIFEST).is_file() {
                        ids.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Some(remote) => {
                let names = remote.files.list("snapshots").await?;
                let manifests = names
                    .iter()
                    .filter_map(|name| name.strip_suffix(&format!("/{MANIFEST}")));
                ids.extend(manifests.filter(|id| !id.contains('/')).map(str::to_owned));
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Snapshot `id`, or the newest: its files made local (downloaded from
    /// S3), and its id.
    pub(super) async fn fetch(&self, id: Option<&str>) -> anyhow::Result<String> {
        let id = match id {
            Some(id) => id.to_owned(),
            None => self
                .snapshots()
                .await?
                .pop()
                .with_context(|| format!("{} holds no complete snapshot", self.shown))?,
        };
        if let Some(remote) = &self.remote {
            let dir = self.snapshot_dir(&id);
            make_private_dir(&dir)?;
            let names = remote.files.list(&format!("snapshots/{id}")).await?;
            anyhow::ensure!(
                names.iter().any(|name| name == MANIFEST),
                "{} has no complete snapshot {id}",
                self.shown
            );
            for name in names.iter().filter(|name| !name.contains('/')) {
                remote
                    .files
                    .download(&format!("snapshots/{id}/{name}"), &dir.join(name))
                    .await
                    .with_context(|| format!("cannot download snapshot {id}'s {name}"))?;
            }
        }
        Ok(id)
    }

    /// Makes a written snapshot's files part of the backup: uploaded to S3,
    /// the manifest last (in a directory they are in place already).
    pub(super) async fn publish(&self, id: &str) -> anyhow::Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let dir = self.snapshot_dir(id);
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort_by_key(|name| name == MANIFEST);
        for name in names {
            remote
                .files
                .upload(&format!("snapshots/{id}/{name}"), &dir.join(&name))
                .await
                .with_context(|| format!("cannot upload snapshot {id}'s {name}"))?;
        }
        Ok(())
    }
}

impl BackupDir {
    /// The manifest of snapshot `id`, or of the newest one (fetched first).
    pub(super) async fn manifest(&self, id: Option<&str>) -> anyhow::Result<Manifest> {
        let id = self.fetch(id).await?;
        let path = self.snapshot_dir(&id).join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("snapshot {id}: cannot read its {MANIFEST}"))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("snapshot {id}: its {MANIFEST} is damaged"))?;
        anyhow::ensure!(
            manifest.format == FORMAT,
            "snapshot {id} is in format {:?}; this depot reads {FORMAT:?}",
            manifest.format
        );
        Ok(manifest)
    }

    /// Checks a fetched snapshot's files against their checksums; returns what is wrong.
    pub(super) async fn check_parts(&self, manifest: &Manifest) -> Vec<String> {
        let dir = self.snapshot_dir(&manifest.id);
        let parts = [
            Some(&manifest.metadata),
            Some(&manifest.content.list),
            manifest.secret.as_ref(),
        ];
        let mut problems = Vec::new();
        for part in parts.into_iter().flatten() {
            match part_of(&dir, &part.file).await {
                Ok(found) if found.sha256 == part.sha256 && found.bytes == part.bytes => {}
                Ok(found) => problems.push(format!(
                    "{}: {} bytes with SHA-256 {}, the manifest says {} bytes with {}",
                    part.file, found.bytes, found.sha256, part.bytes, part.sha256
                )),
                Err(err) => problems.push(format!("{}: {err:#}", part.file)),
            }
        }
        problems
    }
}

impl fmt::Display for BackupDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}
