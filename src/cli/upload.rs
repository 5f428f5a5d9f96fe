//! `depot upload`: each file in one streamed `PUT`, or — from 64 MiB — over
//! tus in 8 MiB requests that survive dropped connections and, through
//! [`Kept`], a run cut short: the next run for the same file goes on from
//! the server's offset. A file that cannot go up is reported and the others
//! still go.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::client::{file_metadata, file_path, progress_bar};
use super::remote::{Remote, RemoteArgs, ServerError, server_error};
use super::unfinished::{Kept, Unfinished};

/// Files this large or larger go up over tus, in resumable chunks.
const RESUMABLE_FROM: u64 = 64 * 1024 * 1024;
const CHUNK: u64 = 8 * 1024 * 1024;
/// Pauses before the attempts that follow a failed request.
const RETRY_DELAYS: [u64; 6] = [1, 2, 4, 8, 15, 30];

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The files to upload (with `-r`, directories too).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The name to store it under (one file only); default: its file name.
    #[arg(long)]
    pub name: Option<String>,
    /// Upload directories with everything in them: `depot upload -r
    /// reports` stores `reports/2024/q1.csv` as the file of that name, in
    /// the folder `reports/2024/`.
    #[arg(short, long, conflicts_with = "name")]
    pub recursive: bool,
    /// The folder to upload into (`archive/2024`): each name goes under it.
    #[arg(long, value_name = "FOLDER", conflicts_with = "name")]
    pub into: Option<String>,
    /// A description kept with each file.
    #[arg(long)]
    pub description: Option<String>,
    /// Replace a file of the same name on the server, rather than skip it.
    #[arg(long)]
    pub replace: bool,
    /// Give up the unfinished uploads of these files (an earlier run cut
    /// short) and remove their bytes from the server, rather than upload.
    #[arg(long, conflicts_with_all = ["name", "description", "replace"])]
    pub abort: bool,
}

/// How one file goes up.
struct Sending<'a> {
    remote: &'a Remote,
    path: &'a Path,
    name: String,
    size: u64,
    description: Option<&'a str>,
    replace: bool,
}

pub async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    if args.name.is_some() && args.files.len() > 1 {
        bail!("--name names one file; give one file or leave --name out");
    }
    let remote = Remote::new(&args.remote)?;
    if args.abort {
        return abort(&remote, &args.files).await;
    }
    let files = to_upload(&args)?;
    let mut failed = 0;
    for (path, name) in &files {
        let stored = upload_one(&remote, &args, path, name.as_deref())
            .await
            .with_context(|| format!("{}: not uploaded", path.display()));
        match stored {
            Ok(stored) => println!(
                "{} ({} bytes, sha256 {})",
                stored["file_name"].as_str().unwrap_or_default(),
                stored["size"],
                stored["sha256"].as_str().unwrap_or_default()
            ),
            Err(err) if files.len() == 1 => return Err(err),
            Err(err) => {
                eprintln!("depot: {err:#}");
                failed += 1;
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} files not uploaded (see above)",
        files.len()
    );
    Ok(())
}

/// Each file to upload and the name it goes under: a file as its own name
/// (or `--name`), a directory (with `-r`) as its files at every depth,
/// named by their path from the directory's parent; all under `--into`.
fn to_upload(args: &UploadArgs) -> anyhow::Result<Vec<(PathBuf, Option<String>)>> {
    let into = args
        .into
        .as_deref()
        .map(|folder| folder.trim_matches('/'))
        .filter(|folder| !folder.is_empty());
    let under = |name: String| match into {
        Some(folder) => format!("{folder}/{name}"),
        None => name,
    };
    let mut files = Vec::new();
    for path in &args.files {
        if !(args.recursive && path.is_dir()) {
            let name = match &args.name {
                Some(name) => Some(name.clone()),
                None => into.and(base_name(path)).map(&under),
            };
            files.push((path.clone(), name));
            continue;
        }
        let top = base_name(path).context("a directory without a usable name")?;
        let mut found = Vec::new();
        walk(path, &mut found).with_context(|| format!("cannot read {}", path.display()))?;
        found.sort();
        for file in found {
            let inside = file.strip_prefix(path)?;
            let segments: Option<Vec<&str>> = inside
                .components()
                .map(|part| part.as_os_str().to_str())
                .collect();
            let segments = segments.with_context(|| format!("{} is not UTF-8", file.display()))?;
            files.push((file.clone(), Some(under(format!("{top}/{}", segments.join("/"))))));
        }
    }
    Ok(files)
}

fn base_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|name| name.to_str()).map(str::to_owned)
}

/// Every regular file under `dir`, at any depth (symbolic links are not followed).
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), found)?;
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    Ok(())
}

async fn upload_one(
    remote: &Remote,
    args: &UploadArgs,
    path: &Path,
    name: Option<&str>,
) -> anyhow::Result<Value> {
    let meta = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!(
            "it is a directory: upload it with everything in it with `depot upload -r {}`",
            path.display()
        );
    }
    let name = match name {
        Some(name) => name.to_owned(),
        None => path
            .file_name()
            .and_then(|name| name.to_str())
            .context("it has no usable file name; pass --name")?
            .to_owned(),
    };
    let sending = Sending {
        remote,
        path,
        name,
        size: meta.len(),
        description: args.description.as_deref(),
        replace: args.replace,
    };
    if sending.size >= RESUMABLE_FROM {
        sending.resumable().await
    } else {
        sending.whole().await
    }
}

impl Sending<'_> {
    /// One streamed `PUT`.
    async fn whole(&self) -> anyhow::Result<Value> {
        let bar = progress_bar(self.size, &self.name);
        let file = tokio::fs::File::open(self.path).await?;
        let counted = bar.clone();
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counted.inc(chunk.len() as u64);
            }
        });
        let query = if self.replace { "?replace=true" } else { "" };
        let mut request = self
            .remote
            .request(
                reqwest::Method::PUT,
                &file_path(&self.name, &format!("/content{query}")),
            )?
            .header(reqwest::header::CONTENT_LENGTH, self.size)
            .body(reqwest::Body::wrap_stream(body));
        if let Some(description) = self.description {
            request = request.header(
                "X-Description",
                reqwest::header::HeaderValue::from_bytes(description.as_bytes())?,
            );
        }
        let stored = self.remote.json(request).await;
        bar.finish_and_clear();
        stored
    }

    /// tus 1.0 in 8 MiB `PATCH`es, going on with an earlier run's upload of
    /// the same file if the server still has it; a failed request is
    /// followed by a `HEAD` for the durable offset and the upload goes on
    /// from there.
    async fn resumable(&self) -> anyhow::Result<Value> {
        let remote = self.remote;
        let wanted = Unfinished::of(&remote.server, self.path, &self.name)?;
        let kept = Kept::load();
        for stale in kept.stale(&wanted) {
            terminate(remote, &stale.upload).await.ok();
            Kept::forget(&stale.upload)?;
        }
        let earlier = match kept.find(&wanted) {
            Some(earlier) => match offset_now(remote, &earlier.upload).await? {
                Some(offset) => Some((earlier.upload, offset)),
                None => {
                    Kept::forget(&earlier.upload)?;
                    None
                }
            },
            None => None,
        };
        let (upload, mut offset) = match earlier {
            Some((upload, offset)) => {
                eprintln!("{}: going on with an earlier upload at byte {offset}", self.name);
                (upload, offset)
            }
            None => (self.create().await?, 0),
        };
        Kept::remember(&Unfinished {
            upload: upload.clone(),
            ..wanted
        })?;

        let bar = progress_bar(self.size, &self.name);
        bar.set_position(offset);
        let sent = self.send_from(&upload, &mut offset, &bar).await;
        bar.finish_and_clear();
        match sent {
            Ok(()) => {
                Kept::forget(&upload)?;
                file_metadata(remote, &self.name).await
            }
            Err(Stop::Refused(err)) => {
                Kept::forget(&upload)?;
                Err(err)
            }
            Err(Stop::Unreachable(err)) => Err(anyhow::anyhow!(
                "{err:#}; run the same command again to go on from there"
            )),
        }
    }

    /// Creates the upload; returns its URL's path.
    async fn create(&self) -> anyhow::Result<String> {
        use base64::Engine;
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let mut metadata = format!("filename {}", encode(&self.name));
        if let Some(description) = self.description {
            metadata.push_str(&format!(",description {}", encode(description)));
        }
        if self.replace {
            metadata.push_str(&format!(",replace {}", encode("true")));
        }
        let created = self
            .remote
            .send(
                tus(self.remote, reqwest::Method::POST, "/api/v1/uploads/")?
                    .header("Upload-Length", self.size)
                    .header("Upload-Metadata", metadata),
            )
            .await?;
        let location = created
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .context("the server gave no upload URL")?;
        Ok(reqwest::Url::parse(&self.remote.server)?
            .join(location)?
            .path()
            .to_owned())
    }

    /// Sends the bytes from `offset` to the end.
    async fn send_from(
        &self,
        upload: &str,
        offset: &mut u64,
        bar: &indicatif::ProgressBar,
    ) -> Result<(), Stop> {
        let remote = self.remote;
        let mut file = tokio::fs::File::open(self.path).await.map_err(Stop::refused)?;
        let mut failures = 0usize;
        while *offset < self.size {
            let length = CHUNK.min(self.size - *offset);
            let mut chunk = vec![0; usize::try_from(length).map_err(Stop::refused)?];
            file.seek(std::io::SeekFrom::Start(*offset))
                .await
                .map_err(Stop::refused)?;
            file.read_exact(&mut chunk).await.map_err(Stop::refused)?;
            let sent = tus(remote, reqwest::Method::PATCH, upload)
                .map_err(Stop::refused)?
                .header("Upload-Offset", *offset)
                .header(reqwest::header::CONTENT_TYPE, "application/offset+octet-stream")
                .body(chunk)
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                    *offset = upload_offset(&response).map_err(Stop::refused)?;
                    failures = 0;
                    bar.set_position(*offset);
                    continue;
                }
                Ok(response) if !retryable(response.status()) => {
                    // A stale offset is resynchronised below; anything else is final.
                    let err = server_error(response).await;
                    if err
                        .downcast_ref::<ServerError>()
                        .is_none_or(|err| err.code != "offset_mismatch")
                    {
                        return Err(Stop::Refused(err));
                    }
                }
                Ok(_) | Err(_) => {}
            }
            let Some(delay) = RETRY_DELAYS.get(failures) else {
                return Err(Stop::Unreachable(anyhow::anyhow!(
                    "the upload failed {} times in a row",
                    failures + 1
                )));
            };
            failures += 1;
            tokio::time::sleep(Duration::from_secs(*delay)).await;
            *offset = durable_offset(remote, upload).await?;
            bar.suspend(|| eprintln!("{}: resuming at byte {offset}", self.name));
            bar.set_position(*offset);
        }
        Ok(())
    }
}

/// Why a resumable upload stopped: the server refused it (it is over), or
/// the server could not be reached (a later run may go on with it).
enum Stop {
    Refused(anyhow::Error),
    Unreachable(anyhow::Error),
}

impl Stop {
    fn refused(err: impl Into<anyhow::Error>) -> Self {
        Self::Refused(err.into())
    }
}

/// A tus 1.0 request, with the caller's credential.
fn tus(remote: &Remote, method: reqwest::Method, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
    Ok(remote.request(method, path)?.header("Tus-Resumable", "1.0.0"))
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::LOCKED
}

fn upload_offset(response: &Response) -> anyhow::Result<u64> {
    response
        .headers()
        .get("Upload-Offset")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .context("the server gave no Upload-Offset")
}

/// The upload's offset after a failed request, asking until the server answers.
async fn durable_offset(remote: &Remote, upload: &str) -> Result<u64, Stop> {
    for delay in std::iter::once(0).chain(RETRY_DELAYS) {
        tokio::time::sleep(Duration::from_secs(delay)).await;
        let head = tus(remote, reqwest::Method::HEAD, upload)
            .map_err(Stop::refused)?
            .send()
            .await;
        match head {
            Ok(response) if response.status().is_success() => {
                return upload_offset(&response).map_err(Stop::refused);
            }
            Ok(response) if !retryable(response.status()) => {
                return Err(Stop::Refused(anyhow::anyhow!(
                    "the upload is gone from the server (HTTP {})",
                    response.status().as_u16()
                )));
            }
            _ => {}
        }
    }
    Err(Stop::Unreachable(anyhow::anyhow!(
        "cannot reach {}",
        remote.server
    )))
}

/// An earlier upload's offset, or `None` if the server no longer has it.
async fn offset_now(remote: &Remote, upload: &str) -> anyhow::Result<Option<u64>> {
    let response = tus(remote, reqwest::Method::HEAD, upload)?
        .send()
        .await
        .with_context(|| format!("cannot reach {}", remote.server))?;
    match response.status() {
        status if status.is_success() => upload_offset(&response).map(Some),
        status if status.is_client_error() => Ok(None),
        status => bail!("the server answered {status}"),
    }
}

/// Ends an upload on the server, removing its bytes. Asks again while the
/// server answers 423 (still writing a request of it: a run killed
/// mid-request leaves one behind for a moment) or fails, or cannot be reached.
async fn terminate(remote: &Remote, upload: &str) -> anyhow::Result<()> {
    let mut last = None;
    for delay in std::iter::once(0).chain(RETRY_DELAYS) {
        tokio::time::sleep(Duration::from_secs(delay)).await;
        let sent = tus(remote, reqwest::Method::DELETE, upload)?.send().await;
        match sent {
            Ok(response) if response.status().is_success() || response.status() == StatusCode::NOT_FOUND => {
                return Ok(());
            }
            Ok(response) if retryable(response.status()) => last = Some(server_error(response).await),
            Ok(response) => return Err(server_error(response).await),
            Err(err) => {
                last = Some(anyhow::Error::from(err).context(format!("cannot reach {}", remote.server)))
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("cannot reach {}", remote.server)))
}

/// `depot upload --abort`: ends the kept unfinished uploads of these files.
async fn abort(remote: &Remote, files: &[PathBuf]) -> anyhow::Result<()> {
    let kept = Kept::load();
    for path in files {
        let wanted = Unfinished::of(&remote.server, path, "")?;
        let unfinished = kept.of_file(&wanted);
        if unfinished.is_empty() {
            println!("{}: no unfinished upload", path.display());
        }
        for upload in unfinished {
            terminate(remote, &upload.upload)
                .await
                .with_context(|| format!("{}: the unfinished upload could not be ended", path.display()))?;
            Kept::forget(&upload.upload)?;
            println!(
                "{}: the unfinished upload as {} is ended and its bytes removed",
                path.display(),
                upload.name
            );
        }
    }
    Ok(())
}
