//! The command-line client's file commands: `upload`, `ls`, `get`, `rm`,
//! `info` against a depot server over its public API ([`super::remote`]).
//! Every failure exits non-zero with the server's own message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::remote::{Remote, RemoteArgs, ServerError, server_error};

/// Files this large or larger go up over tus, in resumable chunks.
const RESUMABLE_FROM: u64 = 64 * 1024 * 1024;
const CHUNK: u64 = 8 * 1024 * 1024;
/// Pauses before the attempts that follow a failed request.
const RETRY_DELAYS: [u64; 6] = [1, 2, 4, 8, 15, 30];

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The files to upload.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The name to store it under (one file only); default: its file name.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Only files whose name contains this (case-insensitive).
    #[arg(long)]
    pub search: Option<String>,
    /// The files as JSON, as the API gives them.
    #[arg(long)]
    pub json: bool,
    /// The files others shared with you, with whose each is.
    #[arg(long, conflicts_with = "search")]
    pub shared: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub name: String,
    /// A file this user shared with you, rather than one of yours.
    #[arg(long, value_name = "OWNER")]
    pub from: Option<String>,
    /// Where to write it; default: the name, in the current directory.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub name: String,
}

/// A file's metadata, as `GET /api/v1/files/{file_name}` gives it.
async fn file_metadata(remote: &Remote, name: &str) -> anyhow::Result<Value> {
    remote
        .json(remote.request(reqwest::Method::GET, &file_path(name, ""))?)
        .await
}

fn file_path(name: &str, suffix: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/files/{encoded}{suffix}")
}

/// The path of `owner`'s file `name`, shared with the caller.
fn shared_path(owner: &str, name: &str, suffix: &str) -> String {
    let encode = |text| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/shared/{}/{}{suffix}", encode(owner), encode(name))
}

fn progress_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

pub async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    if args.name.is_some() && args.files.len() > 1 {
        bail!("--name names one file; give one file or leave --name out");
    }
    let remote = Remote::new(&args.remote)?;
    for path in &args.files {
        let name = match &args.name {
            Some(name) => name.clone(),
            None => path
                .file_name()
                .and_then(|name| name.to_str())
                .with_context(|| format!("{} has no usable file name; pass --name", path.display()))?
                .to_owned(),
        };
        let size = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let stored = if size >= RESUMABLE_FROM {
            upload_resumable(&remote, path, &name, size, args.description.as_deref()).await
        } else {
            upload_whole(&remote, path, &name, size, args.description.as_deref()).await
        }
        .with_context(|| format!("{}: not uploaded", path.display()))?;
        println!(
            "{} ({} bytes, sha256 {})",
            stored["file_name"].as_str().unwrap_or_default(),
            stored["size"],
            stored["sha256"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// One streamed `PUT`.
async fn upload_whole(
    remote: &Remote,
    path: &Path,
    name: &str,
    size: u64,
    description: Option<&str>,
) -> anyhow::Result<Value> {
    let bar = progress_bar(size, name);
    let file = tokio::fs::File::open(path).await?;
    let counted = bar.clone();
    let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counted.inc(chunk.len() as u64);
        }
    });
    let mut request = remote
        .request(reqwest::Method::PUT, &file_path(name, "/content"))?
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(body));
    if let Some(description) = description {
        request = request.header(
            "X-Description",
            reqwest::header::HeaderValue::from_bytes(description.as_bytes())?,
        );
    }
    let stored = remote.json(request).await;
    bar.finish_and_clear();
    stored
}

/// tus 1.0 in 8 MiB `PATCH`es; a failed request is followed by a `HEAD` for
/// the durable offset and the upload goes on from there.
async fn upload_resumable(
    remote: &Remote,
    path: &Path,
    name: &str,
    size: u64,
    description: Option<&str>,
) -> anyhow::Result<Value> {
    use base64::Engine;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let mut metadata = format!("filename {}", encode(name));
    if let Some(description) = description {
        metadata.push_str(&format!(",description {}", encode(description)));
    }
    let created = remote
        .send(
            remote
                .request(reqwest::Method::POST, "/api/v1/uploads/")?
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", size)
                .header("Upload-Metadata", metadata),
        )
        .await?;
    let location = created
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .context("the server gave no upload URL")?;
    let upload = reqwest::Url::parse(&remote.server)?
        .join(location)?
        .path()
        .to_owned();

    let bar = progress_bar(size, name);
    let mut file = tokio::fs::File::open(path).await?;
    let mut offset = 0u64;
    let mut failures = 0usize;
    while offset < size {
        let length = CHUNK.min(size - offset);
        let mut chunk = vec![0; usize::try_from(length)?];
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        file.read_exact(&mut chunk).await?;
        let sent = remote
            .request(reqwest::Method::PATCH, &upload)?
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset)
            .header(reqwest::header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(chunk)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                offset = upload_offset(&response)?;
                failures = 0;
                bar.set_position(offset);
                continue;
            }
            Ok(response) if !retryable(response.status()) => {
                // A stale offset is resynchronised below; anything else is final.
                let err = server_error(response).await;
                if err
                    .downcast_ref::<ServerError>()
                    .is_none_or(|err| err.code != "offset_mismatch")
                {
                    bar.finish_and_clear();
                    return Err(err);
                }
            }
            Ok(_) | Err(_) => {}
        }
        let Some(delay) = RETRY_DELAYS.get(failures) else {
            bar.finish_and_clear();
            bail!(
                "the upload failed {} times in a row; run the command again later",
                failures + 1
            );
        };
        failures += 1;
        tokio::time::sleep(Duration::from_secs(*delay)).await;
        offset = durable_offset(remote, &upload).await?;
        bar.suspend(|| eprintln!("{name}: resuming at byte {offset}"));
        bar.set_position(offset);
    }
    bar.finish_and_clear();
    file_metadata(remote, name).await
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

async fn durable_offset(remote: &Remote, upload: &str) -> anyhow::Result<u64> {
    for delay in std::iter::once(0).chain(RETRY_DELAYS) {
        tokio::time::sleep(Duration::from_secs(delay)).await;
        let head = remote
            .request(reqwest::Method::HEAD, upload)?
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await;
        match head {
            Ok(response) if response.status().is_success() => return upload_offset(&response),
            Ok(response) if !retryable(response.status()) => {
                bail!(
                    "the upload is gone from the server (HTTP {})",
                    response.status().as_u16()
                )
            }
            _ => {}
        }
    }
    bail!("cannot reach {}", remote.server)
}

pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", "1000");
    if let Some(search) = &args.search {
        query.append_pair("name", search);
    }
    if args.shared {
        return ls_shared(&remote, args.json).await;
    }
    let first = format!("/api/v1/files/?{}", query.finish());
    let mut next = Some(first.clone());
    let mut files = Vec::new();
    while let Some(path) = next.take() {
        let response = remote.send(remote.request(reqwest::Method::GET, &path)?).await?;
        next = response
            .headers()
            .get("x-next-cursor")
            .and_then(|cursor| cursor.to_str().ok())
            .map(|cursor| format!("{first}&cursor={cursor}"));
        let page: Vec<Value> = response.json().await?;
        files.extend(page);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&files)?);
        return Ok(());
    }
    for file in &files {
        println!(
            "{:>10}  {:<20}  {:<25}  {}",
            crate::domain::size::human(file["size"].as_u64().unwrap_or_default()),
            file["created_at"]
                .as_str()
                .unwrap_or_default()
                .get(..19)
                .unwrap_or_default(),
            file["content_type"].as_str().unwrap_or_default(),
            file["file_name"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

/// The files shared with the caller, newest share first.
async fn ls_shared(remote: &Remote, json: bool) -> anyhow::Result<()> {
    let files = remote
        .json(remote.request(reqwest::Method::GET, "/api/v1/shared")?)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&files)?);
        return Ok(());
    }
    for file in files.as_array().into_iter().flatten() {
        println!(
            "{:>10}  {:<20}  {:<16}  {}",
            crate::domain::size::human(file["size"].as_u64().unwrap_or_default()),
            file["shared_at"]
                .as_str()
                .unwrap_or_default()
                .get(..19)
                .unwrap_or_default(),
            file["owner"].as_str().unwrap_or_default(),
            file["file_name"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

/// Downloads into `<output>.part`, resuming a previous attempt with `Range`
/// (and `If-Range`, so a changed file starts over), then checks the SHA-256
/// and renames it into place.
pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let (meta_path, content_path) = match &args.from {
        Some(owner) => (
            shared_path(owner, &args.name, ""),
            shared_path(owner, &args.name, "/content"),
        ),
        None => (file_path(&args.name, ""), file_path(&args.name, "/content")),
    };
    let meta = remote
        .json(remote.request(reqwest::Method::GET, &meta_path)?)
        .await?;
    let sha256 = meta["sha256"].as_str().unwrap_or_default().to_owned();
    let size = meta["size"].as_u64().unwrap_or_default();
    let output = args.output.unwrap_or_else(|| PathBuf::from(&args.name));
    let partial = PathBuf::from(format!("{}.part", output.display()));
    let have = tokio::fs::metadata(&partial)
        .await
        .map(|meta| meta.len())
        .unwrap_or(0);

    let mut request = remote.request(reqwest::Method::GET, &content_path)?;
    if have > 0 && have < size {
        request = request
            .header(reqwest::header::RANGE, format!("bytes={have}-"))
            .header(reqwest::header::IF_RANGE, format!("\"{sha256}\""));
    }
    let response = remote.send(request).await?;
    let resumed = response.status() == StatusCode::PARTIAL_CONTENT;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&partial)
        .await
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let bar = progress_bar(size, &args.name);
    if resumed {
        bar.suspend(|| eprintln!("{}: resuming at byte {have}", args.name));
        bar.set_position(have);
    }
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the download was cut off; run the command again to resume")?;
        file.write_all(&chunk).await?;
        bar.inc(chunk.len() as u64);
    }
    file.sync_all().await?;
    bar.finish_and_clear();

    let mut hasher = Sha256::new();
    let mut written = tokio::fs::File::open(&partial).await?;
    let mut buffer = vec![0; 1024 * 1024];
    loop {
        let read = written.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    if hex::encode(hasher.finalize()) != sha256 {
        tokio::fs::remove_file(&partial).await.ok();
        bail!("the bytes received do not match the file's SHA-256; nothing was kept");
    }
    tokio::fs::rename(&partial, &output).await?;
    println!("{} ({size} bytes)", output.display());
    Ok(())
}

pub async fn rm(args: NameArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    remote
        .send(remote.request(reqwest::Method::DELETE, &file_path(&args.name, ""))?)
        .await?;
    println!("deleted {}", args.name);
    Ok(())
}

pub async fn info(args: NameArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let meta = file_metadata(&remote, &args.name).await?;
    for key in [
        "file_name",
        "size",
        "content_type",
        "created_at",
        "description",
        "sha256",
        "cid",
        "corrupt",
    ] {
        let value = match &meta[key] {
            Value::String(text) => text.clone(),
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        println!("{key:<13} {value}");
    }
    if let Some(summary) = meta["summary"].as_str().filter(|summary| !summary.is_empty()) {
        println!("\n{summary}");
    }
    Ok(())
}
