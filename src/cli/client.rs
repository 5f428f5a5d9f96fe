//! The command-line client's file commands `ls`, `get`, `cat`, `rm`, `mv`
//! and `info` (`upload` is [`super::upload`]) against a depot server over its
//! public API ([`super::remote`]).
//! Every failure exits non-zero with the server's own message.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::remote::{Remote, RemoteArgs};

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// A folder (`reports/`, or `/` for the top): its subfolders and the
    /// files directly in it. Without one, every file.
    #[arg(conflicts_with_all = ["search", "shared"])]
    pub folder: Option<String>,
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
    /// Where to write it (`-` for stdout); default: its own name (the last
    /// part of a name in a folder), in the current directory.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite a local file of that name.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub name: String,
    /// A file this user shared with you, rather than one of yours.
    #[arg(long, value_name = "OWNER")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// A file, or with `-r` a folder.
    pub name: String,
    /// Delete the folder `name` with every file in it, at every depth.
    #[arg(short, long)]
    pub recursive: bool,
}

#[derive(Debug, Args)]
pub struct MvArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// A file, or a folder (ending with `/`).
    pub from: String,
    /// The new name; ending with `/`, the folder to move a file into.
    pub to: String,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    pub name: String,
}

/// A file's metadata, as `GET /api/v1/files/{file_name}` gives it.
pub(super) async fn file_metadata(remote: &Remote, name: &str) -> anyhow::Result<Value> {
    remote
        .json(remote.request(reqwest::Method::GET, &file_path(name, ""))?)
        .await
}

pub(super) fn file_path(name: &str, suffix: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/files/{encoded}{suffix}")
}

/// The path of `owner`'s file `name`, shared with the caller.
fn shared_path(owner: &str, name: &str, suffix: &str) -> String {
    let encode = |text| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/shared/{}/{}{suffix}", encode(owner), encode(name))
}

pub(super) fn progress_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    if let Some(folder) = &args.folder {
        return ls_folder(&remote, folder, args.json).await;
    }
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
    print_files(&files);
    Ok(())
}

/// One level of a folder: its subfolders (with their files and bytes),
/// then the files directly in it, in name order.
async fn ls_folder(remote: &Remote, folder: &str, json: bool) -> anyhow::Result<()> {
    let prefix = match folder.trim_matches('/') {
        "" => String::new(),
        path => format!("{path}/"),
    };
    let mut folders = Vec::new();
    let mut files = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("delimiter", "/").append_pair("prefix", &prefix);
        if let Some(cursor) = &cursor {
            query.append_pair("cursor", cursor);
        }
        let path = format!("/api/v1/files/?{}", query.finish());
        let page = remote.json(remote.request(reqwest::Method::GET, &path)?).await?;
        folders.extend(page["folders"].as_array().cloned().unwrap_or_default());
        files.extend(page["files"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if json {
        let level = serde_json::json!({"prefix": prefix, "folders": folders, "files": files});
        println!("{}", serde_json::to_string_pretty(&level)?);
        return Ok(());
    }
    if folders.is_empty() && files.is_empty() && !prefix.is_empty() {
        bail!("no file of yours is in {prefix}");
    }
    for folder in &folders {
        print_line(
            folder["size"].as_u64(),
            &format!("{} files", folder["files"]),
            "folder",
            folder["path"].as_str().unwrap_or_default(),
        );
    }
    print_files(&files);
    Ok(())
}

/// A listing's files, a line each.
fn print_files(files: &[Value]) {
    for file in files {
        print_line(
            file["size"].as_u64(),
            file["created_at"]
                .as_str()
                .unwrap_or_default()
                .get(..19)
                .unwrap_or_default(),
            file["content_type"].as_str().unwrap_or_default(),
            file["file_name"].as_str().unwrap_or_default(),
        );
    }
}

/// One line of a listing: size, when (or how many files), type, name.
fn print_line(size: Option<u64>, when: &str, kind: &str, name: &str) {
    let size = crate::domain::size::human(size.unwrap_or_default());
    println!("{size:>10}  {when:<20}  {kind:<25}  {name}");
}

/// The path of a folder's route.
fn folder_path(folder: &str, query: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(folder.trim_matches('/'), percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/folders/{encoded}{query}")
}

/// `depot mv`: renames a file, moves it into a folder (`TO` ending with
/// `/`), or moves a folder (`FROM` ending with `/`) with everything in it.
pub async fn mv(args: MvArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    if args.from.ends_with('/') {
        let moved = remote
            .json(
                remote
                    .request(reqwest::Method::PATCH, &folder_path(&args.from, ""))?
                    .json(&serde_json::json!({"path": args.to})),
            )
            .await
            .with_context(|| args.from.clone())?;
        println!(
            "{} → {} ({} files)",
            args.from,
            moved["path"].as_str().unwrap_or_default(),
            moved["moved"]
        );
        return Ok(());
    }
    let to = match args.to.strip_suffix('/') {
        Some(folder) => {
            let own = args.from.rsplit('/').next().unwrap_or(&args.from);
            format!("{}/{own}", folder.trim_start_matches('/'))
        }
        None => args.to.clone(),
    };
    let renamed = remote
        .json(
            remote
                .request(reqwest::Method::PATCH, &file_path(&args.from, ""))?
                .json(&serde_json::json!({"file_name": to})),
        )
        .await
        .with_context(|| args.from.clone())?;
    println!(
        "{} → {}",
        args.from,
        renamed["file_name"].as_str().unwrap_or_default()
    );
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
/// and renames it into place. A local file is not overwritten without
/// `--force`; `-o -` writes to stdout, as `depot cat` does.
pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let wanted = Wanted::of(&args.name, args.from.as_deref());
    // A file in a folder lands under its own name, as a browser saves it.
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(crate::domain::file_name::base_name(&args.name)));
    if output.as_os_str() == "-" {
        return to_stdout(&remote, &wanted).await;
    }
    if !args.force && output.exists() {
        bail!("{} exists; pass --force to overwrite it", output.display());
    }
    let meta = wanted.metadata(&remote).await?;
    let sha256 = meta["sha256"].as_str().unwrap_or_default().to_owned();
    let size = meta["size"].as_u64().unwrap_or_default();
    let partial = PathBuf::from(format!("{}.part", output.display()));
    let have = tokio::fs::metadata(&partial)
        .await
        .map(|meta| meta.len())
        .unwrap_or(0);

    let mut request = remote.request(reqwest::Method::GET, &wanted.content)?;
    if have > 0 && have < size {
        request = request
            .header(reqwest::header::RANGE, format!("bytes={have}-"))
            .header(reqwest::header::IF_RANGE, format!("\"{sha256}\""));
    }
    let response = remote.send(request).await.with_context(|| wanted.name.clone())?;
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

/// `depot cat`: the file's bytes on stdout.
pub async fn cat(args: CatArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    to_stdout(&remote, &Wanted::of(&args.name, args.from.as_deref())).await
}

/// Streams a file to stdout, checking its SHA-256 as the bytes pass: a
/// mismatch (they are out already) exits non-zero saying so.
async fn to_stdout(remote: &Remote, wanted: &Wanted) -> anyhow::Result<()> {
    let meta = wanted.metadata(remote).await?;
    let sha256 = meta["sha256"].as_str().unwrap_or_default().to_owned();
    let response = remote
        .send(remote.request(reqwest::Method::GET, &wanted.content)?)
        .await
        .with_context(|| wanted.name.clone())?;
    let mut hasher = Sha256::new();
    let mut stdout = std::io::stdout().lock();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the download was cut off")?;
        hasher.update(&chunk);
        match stdout.write_all(&chunk) {
            // The reader went away (`depot cat big.csv | head`): done.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            written => written.context("cannot write to stdout")?,
        }
    }
    stdout.flush().ok();
    anyhow::ensure!(
        hex::encode(hasher.finalize()) == sha256,
        "the bytes received do not match the file's SHA-256"
    );
    Ok(())
}

/// A file to read: one of the caller's, or one shared with them.
struct Wanted {
    name: String,
    metadata: String,
    content: String,
}

impl Wanted {
    fn of(name: &str, owner: Option<&str>) -> Self {
        let path = |suffix| match owner {
            Some(owner) => shared_path(owner, name, suffix),
            None => file_path(name, suffix),
        };
        Self {
            name: name.to_owned(),
            metadata: path(""),
            content: path("/content"),
        }
    }

    async fn metadata(&self, remote: &Remote) -> anyhow::Result<Value> {
        remote
            .json(remote.request(reqwest::Method::GET, &self.metadata)?)
            .await
            .with_context(|| self.name.clone())
    }
}

pub async fn rm(args: RmArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    if args.recursive {
        let deleted = remote
            .json(remote.request(
                reqwest::Method::DELETE,
                &folder_path(&args.name, "?recursive=true"),
            )?)
            .await
            .with_context(|| args.name.clone())?;
        println!(
            "deleted {} ({} files)",
            deleted["path"].as_str().unwrap_or_default(),
            deleted["deleted"]
        );
        return Ok(());
    }
    remote
        .send(remote.request(reqwest::Method::DELETE, &file_path(&args.name, ""))?)
        .await
        .with_context(|| args.name.clone())?;
    println!("deleted {}", args.name);
    Ok(())
}

pub async fn info(args: NameArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let meta = file_metadata(&remote, &args.name)
        .await
        .with_context(|| args.name.clone())?;
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
