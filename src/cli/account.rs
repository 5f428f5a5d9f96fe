//! The client's account commands: `depot login` (which keeps an API key,
//! not a password or a one-hour token), `logout` (which revokes it),
//! `whoami`, and `depot key create|list|revoke`.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::remote::{Remote, RemoteArgs, Saved, config_path, write_private};

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[arg(long)]
    pub username: String,
    /// What the key this login keeps may do: `read`, `read-write` or `admin`.
    #[arg(long, default_value = "read-write")]
    pub scope: String,
    /// How long that key works, e.g. `90d`; default: until `depot logout`.
    #[arg(long)]
    pub expires_in: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key and print its secret (shown this once).
    Create {
        #[command(flatten)]
        remote: RemoteArgs,
        /// What it is for, e.g. `nightly-sync`.
        name: String,
        /// `read`, `read-write` or `admin` (admins only).
        #[arg(long, default_value = "read")]
        scope: String,
        /// How long it works, e.g. `90d`; default: until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List your keys (never their secrets).
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// As JSON, as the API gives them.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id; it stops working within seconds on every node.
    Revoke {
        #[command(flatten)]
        remote: RemoteArgs,
        id: i64,
    },
}

/// Signs in with the password from stdin, makes an API key for this
/// machine and keeps it in the client config file.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = super::read_password("Password: ")?;
    let mut remote = Remote::new(&args.remote)?;
    let signed_in = remote
        .json(
            remote
                .http
                .post(remote.url("/api/v1/auth/login"))
                .json(&json!({ "username": args.username, "password": password })),
        )
        .await?;
    remote.token = signed_in["access_token"].as_str().map(str::to_owned);
    let host = hostname();
    let created = create_key(
        &remote,
        &format!("depot login on {host}"),
        &args.scope,
        args.expires_in.as_deref(),
    )
    .await?;
    let saved = Saved {
        server: Some(remote.server.clone()),
        token: created["key"].as_str().map(str::to_owned),
    };
    let path = config_path()?;
    write_private(&path, &toml::to_string(&saved)?)?;
    println!(
        "signed in to {} as {}; a {} API key (id {}) is saved in {}",
        remote.server,
        args.username,
        args.scope,
        created["id"],
        path.display()
    );
    Ok(())
}

/// Revokes the saved key and forgets it.
pub async fn logout(args: RemoteArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args)?;
    remote
        .send(remote.request(reqwest::Method::POST, "/api/v1/auth/logout")?)
        .await?;
    let path = config_path()?;
    let saved = Saved {
        server: Some(remote.server.clone()),
        token: None,
    };
    write_private(&path, &toml::to_string(&saved)?)?;
    println!("signed out of {}; the key is revoked", remote.server);
    Ok(())
}

pub async fn whoami(args: RemoteArgs) -> anyhow::Result<()> {
    let remote = Remote::new(&args)?;
    let me = remote
        .json(remote.request(reqwest::Method::GET, "/api/v1/auth/me")?)
        .await?;
    let name = me["username"]
        .as_str()
        .map_or_else(|| format!("user {}", me["user_id"]), str::to_owned);
    let with = match me["key_id"].as_i64() {
        Some(id) => format!("API key {id}"),
        None => "a token".to_owned(),
    };
    println!(
        "{name} on {}, with {with} that may {}",
        remote.server,
        match me["scope"].as_str() {
            Some("read") => "only read",
            Some("admin") => "do everything, admin routes too",
            _ => "read and write",
        }
    );
    Ok(())
}

pub async fn key(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            remote,
            name,
            scope,
            expires_in,
        } => {
            let remote = Remote::new(&remote)?;
            let created = create_key(&remote, &name, &scope, expires_in.as_deref()).await?;
            eprintln!(
                "key {} ({}, {}) — its secret, shown this once:",
                created["id"], created["name"], created["scope"]
            );
            println!("{}", created["key"].as_str().unwrap_or_default());
        }
        KeyCommand::List { remote, json } => {
            let remote = Remote::new(&remote)?;
            let keys = remote
                .json(remote.request(reqwest::Method::GET, "/api/v1/keys")?)
                .await?;
            if json {
                println!("{keys}");
            } else {
                print_keys(&keys);
            }
        }
        KeyCommand::Revoke { remote, id } => {
            let remote = Remote::new(&remote)?;
            remote
                .send(remote.request(reqwest::Method::DELETE, &format!("/api/v1/keys/{id}"))?)
                .await?;
            println!("key {id} revoked");
        }
    }
    Ok(())
}

async fn create_key(
    remote: &Remote,
    name: &str,
    scope: &str,
    expires_in: Option<&str>,
) -> anyhow::Result<Value> {
    let mut body = json!({ "name": name, "scope": scope });
    if let Some(expires_in) = expires_in {
        body["expires_in"] = json!(expires_in);
    }
    remote
        .json(remote.request(reqwest::Method::POST, "/api/v1/keys")?.json(&body))
        .await
        .context("could not make an API key")
}

fn print_keys(keys: &Value) {
    let rows = keys.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        println!("no keys");
        return;
    }
    println!(
        "{:>6}  {:<10}  {:<25}  {:<25}  NAME",
        "ID", "SCOPE", "LAST USED", "EXPIRES"
    );
    for key in rows {
        let text = |field: &str| key[field].as_str().unwrap_or("-").to_owned();
        println!(
            "{:>6}  {:<10}  {:<25}  {:<25}  {}",
            key["id"],
            text("scope"),
            text("last_used_at"),
            text("expires_at"),
            text("name")
        );
    }
}

/// This machine's name, for the key `depot login` makes.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".to_owned())
}
