//! `depot share` (files shared with other users) and `depot link` (download
//! and upload links), over the REST API with the kept credential.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::remote::{Remote, RemoteArgs};

#[derive(Debug, Args)]
pub struct ShareArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Your file.
    pub name: String,
    /// Who to share it with (read only); without it, who has it.
    pub username: Option<String>,
    /// Stop sharing it with USERNAME.
    #[arg(long, requires = "username")]
    pub revoke: bool,
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// A link that lets anyone who has it download one of your files; prints
    /// its URL.
    Create {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Your file.
        name: String,
        #[command(flatten)]
        limits: Limits,
        /// How many downloads it serves (one counts for each request that
        /// starts at the first byte).
        #[arg(long)]
        max_downloads: Option<u64>,
    },
    /// A link that lets anyone who has it upload files into your space;
    /// prints its URL.
    Upload {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        limits: Limits,
        /// How many files it takes.
        #[arg(long)]
        max_files: Option<u64>,
        /// The largest file it takes, e.g. `100MiB`.
        #[arg(long, value_parser = crate::domain::size::parse)]
        max_bytes: Option<u64>,
    },
    /// Your links, with their counters.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// As JSON, as the API gives them.
        #[arg(long)]
        json: bool,
    },
    /// Give a link a new expiry, from now.
    Expire {
        #[command(flatten)]
        remote: RemoteArgs,
        id: String,
        /// How long it works from now, e.g. `1d`.
        #[arg(long, conflicts_with = "never", required_unless_present = "never")]
        r#in: Option<String>,
        /// It works until revoked.
        #[arg(long)]
        never: bool,
    },
    /// Revoke a link: it answers 410 from now on.
    #[command(alias = "rm")]
    Revoke {
        #[command(flatten)]
        remote: RemoteArgs,
        id: String,
    },
}

/// What every new link may be given.
#[derive(Debug, Args)]
pub struct Limits {
    /// How long it works, e.g. `7d`; default: until revoked.
    #[arg(long)]
    expires_in: Option<String>,
    /// Protect it with a password: asked for without being shown, or
    /// stdin's first line when piped.
    #[arg(long)]
    password_stdin: bool,
}

impl Limits {
    fn into_json(self) -> anyhow::Result<Value> {
        let password = if self.password_stdin {
            Some(super::read_password("Password for the link: ")?)
        } else {
            None
        };
        Ok(json!({ "expires_in": self.expires_in, "password": password }))
    }
}

fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub async fn share(args: ShareArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args.remote)?;
    let file = segment(&args.name);
    let Some(username) = &args.username else {
        let path = format!("/api/v1/files/{file}/shared-with");
        let recipients = remote.json(remote.request(reqwest::Method::GET, &path)?).await?;
        for recipient in recipients.as_array().into_iter().flatten() {
            println!("{}", recipient["username"].as_str().unwrap_or_default());
        }
        return Ok(());
    };
    let path = format!("/api/v1/files/{file}/shared-with/{}", segment(username));
    if args.revoke {
        remote
            .send(remote.request(reqwest::Method::DELETE, &path)?)
            .await?;
        println!("{} is no longer shared with {username}", args.name);
    } else {
        remote.send(remote.request(reqwest::Method::PUT, &path)?).await?;
        println!("{} is shared with {username}, for reading", args.name);
    }
    Ok(())
}

pub async fn link(command: LinkCommand) -> anyhow::Result<()> {
    match command {
        LinkCommand::Create {
            remote,
            name,
            limits,
            max_downloads,
        } => {
            let remote = Remote::new(&remote)?;
            let mut body = limits.into_json()?;
            body["max_downloads"] = json!(max_downloads);
            let path = format!("/api/v1/files/{}/links", segment(&name));
            let made = remote
                .json(
                    remote
                        .request(reqwest::Method::POST, &path)?
                        .json(&without_nulls(body)),
                )
                .await?;
            println!("{}", made["url"].as_str().unwrap_or_default());
        }
        LinkCommand::Upload {
            remote,
            limits,
            max_files,
            max_bytes,
        } => {
            let remote = Remote::new(&remote)?;
            let mut body = limits.into_json()?;
            body["max_files"] = json!(max_files);
            body["max_bytes"] = json!(max_bytes);
            let made = remote
                .json(
                    remote
                        .request(reqwest::Method::POST, "/api/v1/upload-links")?
                        .json(&without_nulls(body)),
                )
                .await?;
            println!("{}", made["url"].as_str().unwrap_or_default());
        }
        LinkCommand::List { remote, json } => {
            let remote = Remote::new(&remote)?;
            let links = remote
                .json(remote.request(reqwest::Method::GET, "/api/v1/links")?)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&links)?);
                return Ok(());
            }
            println!(
                "{:<16}  {:<8}  {:<6}  {:<10}  {:<20}  WHAT",
                "ID", "KIND", "STATE", "USED", "EXPIRES"
            );
            for link in links.as_array().into_iter().flatten() {
                println!(
                    "{:<16}  {:<8}  {:<6}  {:<10}  {:<20}  {}",
                    link["id"].as_str().unwrap_or_default(),
                    link["kind"].as_str().unwrap_or_default(),
                    link["state"].as_str().unwrap_or_default(),
                    used(link),
                    link["expires_at"]
                        .as_str()
                        .and_then(|at| at.get(..19))
                        .unwrap_or("never"),
                    link["file_name"].as_str().unwrap_or("(uploads)"),
                );
                println!("  {}", link["url"].as_str().unwrap_or_default());
            }
        }
        LinkCommand::Expire {
            remote,
            id,
            r#in,
            never: _,
        } => {
            let remote = Remote::new(&remote)?;
            let path = format!("/api/v1/links/{}", segment(&id));
            let changed = remote
                .json(
                    remote
                        .request(reqwest::Method::PATCH, &path)?
                        .json(&json!({ "expires_in": r#in })),
                )
                .await?;
            let until = changed["expires_at"].as_str().unwrap_or("it is revoked");
            println!("{id} works until {until}");
        }
        LinkCommand::Revoke { remote, id } => {
            let remote = Remote::new(&remote)?;
            let path = format!("/api/v1/links/{}", segment(&id));
            remote
                .send(remote.request(reqwest::Method::DELETE, &path)?)
                .await?;
            println!("{id} revoked");
        }
    }
    Ok(())
}

/// How much of a link is used: downloads or files, of how many.
fn used(link: &Value) -> String {
    let (count, most) = if link["kind"] == "upload" {
        (&link["files"], &link["max_files"])
    } else {
        (&link["downloads"], &link["max_downloads"])
    };
    match most.as_i64() {
        Some(most) => format!("{}/{most}", count.as_i64().unwrap_or_default()),
        None => count.as_i64().unwrap_or_default().to_string(),
    }
}

/// The fields that were given: a field left out of a request is "no limit".
fn without_nulls(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.retain(|_, value| !value.is_null());
    }
    body
}
