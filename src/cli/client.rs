//! The command-line client in the same binary: `depot login`, `upload`, `ls`,
//! `get`, `rm`, `info` against a depot server over its public API.
//!
//! The server and token come from `--server`/`--token`, else `DEPOT_SERVER`/
//! `DEPOT_TOKEN`, else the client config file `depot login` writes
//! (`$DEPOT_CLIENT_CONFIG`, or `~/.config/depot/client.toml`, mode 0600).
//! Every failure exits non-zero with the server's own message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Files this large or larger go up over tus, in resumable chunks.
const RESUMABLE_FROM: u64 = 64 * 1024 * 1024;
const CHUNK: u64 = 8 * 1024 * 1024;
/// Pauses before the attempts that follow a failed request.
const RETRY_DELAYS: [u64; 6] = [1, 2, 4, 8, 15, 30];
const DEFAULT_SERVER: &str = "http://127.0.0.1:8002";

/// Where the client finds its server, on every client command.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The depot server, e.g. `https://depot.example.com` (env DEPOT_SERVER;
    /// else the one `depot login` saved; else http://127.0.0.1:8002).
    #[arg(long, env = "DEPOT_SERVER")]
    pub server: Option<String>,
    /// A bearer token (env DEPOT_TOKEN; else the one `depot login` saved).
    #[arg(long, env = "DEPOT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[arg(long)]
    pub username: String,
}

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
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub name: String,
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

/// What `depot login` keeps.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    server: Option<String>,
    token: Option<String>,
}

fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("DEPOT_CLIENT_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither HOME nor DEPOT_CLIENT_CONFIG is set")?)
                .join(".config")
        }
    };
    Ok(base.join("depot").join("client.toml"))
}

fn saved() -> anyhow::Result<Saved> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("{} is not a client config", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A server to talk to, with the caller's token.
struct Remote {
    server: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Remote {
    fn new(args: &RemoteArgs) -> anyhow::Result<Self> {
        let saved = saved()?;
        let server = args
            .server
            .clone()
            .or(saved.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            token: args.token.clone().or(saved.token),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let token = self
            .token
            .as_deref()
            .context("not signed in: run `depot login --username NAME`, or pass --token / DEPOT_TOKEN")?;
        Ok(self.http.request(method, self.url(path)).bearer_auth(token))
    }

    /// Sends, and turns an error answer into the server's message.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Response> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.server))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(server_error(response).await)
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        Ok(self.send(request).await?.json().await?)
    }

    /// A file's metadata, as `GET /api/v1/files/{file_name}` gives it.
    async fn metadata(&self, name: &str) -> anyhow::Result<Value> {
        self.json(self.request(reqwest::Method::GET, &file_path(name, ""))?)
            .await
    }
}

/// The server's `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
struct ServerError {
    status: u16,
    code: String,
    message: String,
}

async fn server_error(response: Response) -> anyhow::Error {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    match (body["error"]["message"].as_str(), body["error"]["code"].as_str()) {
        (Some(message), Some(code)) => ServerError {
            status: status.as_u16(),
            code: code.to_owned(),
            message: message.to_owned(),
        }
        .into(),
        _ => anyhow::anyhow!("the server answered {status}"),
    }
}

fn file_path(name: &str, suffix: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/files/{encoded}{suffix}")
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

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = super::password_from_stdin()?;
    let remote = Remote::new(&args.remote)?;
    let body = remote
        .json(
            remote
                .http
                .post(remote.url("/api/v1/auth/login"))
                .json(&serde_json::json!({ "username": args.username, "password": password })),
        )
        .await?;
    let saved = Saved {
        server: Some(remote.server.clone()),
        token: body["access_token"].as_str().map(str::to_owned),
    };
    let path = config_path()?;
    write_private(&path, &toml::to_string(&saved)?)?;
    println!(
        "signed in to {} as {}; token saved in {}",
        remote.server,
        args.username,
        path.display()
    );
    Ok(())
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
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
    remote.metadata(name).await
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

/// Downloads into `<output>.part`, resuming a previous attempt with `Range`
/// (and `If-Range`, so a changed file starts over), then checks the SHA-256
/// and renames it into place.
pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let meta = remote.metadata(&args.name).await?;
    let sha256 = meta["sha256"].as_str().unwrap_or_default().to_owned();
    let size = meta["size"].as_u64().unwrap_or_default();
    let output = args.output.unwrap_or_else(|| PathBuf::from(&args.name));
    let partial = PathBuf::from(format!("{}.part", output.display()));
    let have = tokio::fs::metadata(&partial)
        .await
        .map(|meta| meta.len())
        .unwrap_or(0);

    let mut request = remote.request(reqwest::Method::GET, &file_path(&args.name, "/content"))?;
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
    let meta = remote.metadata(&args.name).await?;
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
