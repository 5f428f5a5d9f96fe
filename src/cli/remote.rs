//! The server the client speaks to and the credential it speaks with: from
//! `--server`/`--token`, else `DEPOT_SERVER`/`DEPOT_TOKEN`, else the client
//! config file `depot login` writes (`$DEPOT_CLIENT_CONFIG`, or
//! `~/.config/depot/client.toml`, mode 0600). An error answer becomes the
//! server's own message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqwest::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// What `depot login` keeps.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Saved {
    pub(super) server: Option<String>,
    pub(super) token: Option<String>,
}

pub(super) fn config_path() -> anyhow::Result<PathBuf> {
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

pub(super) fn saved() -> anyhow::Result<Saved> {
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
pub(super) struct Remote {
    pub(super) server: String,
    pub(super) token: Option<String>,
    pub(super) http: reqwest::Client,
}

impl Remote {
    pub(super) fn new(args: &RemoteArgs) -> anyhow::Result<Self> {
        let saved = saved()?;
        let server = args
            .server
            .clone()
            .or(saved.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        Ok(Self {
            server: server_url(&server),
            token: args.token.clone().or(saved.token),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    pub(super) fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let token = self
            .token
            .as_deref()
            .context("not signed in: run `depot login --username NAME`, or pass --token / DEPOT_TOKEN")?;
        Ok(self.http.request(method, self.url(path)).bearer_auth(token))
    }

    /// Sends, and turns an error answer into the server's message. A
    /// request refused by a rate limit (which the server refuses before
    /// doing anything) is sent again once `Retry-After` has passed, a few
    /// times, when its body can be sent again.
    pub(super) async fn send(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<Response> {
        let mut retries = RATE_LIMIT_RETRIES;
        loop {
            let again = request.try_clone().filter(|_| retries > 0);
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.server))?;
            if response.status().is_success() {
                return Ok(response);
            }
            let (Some(again), Some(wait)) = (again, rate_limited_for(&response)) else {
                return Err(server_error(response).await);
            };
            eprintln!(
                "depot: the server's rate limit is reached; trying again in {} s",
                wait.as_secs()
            );
            tokio::time::sleep(wait).await;
            (request, retries) = (again, retries - 1);
        }
    }

    pub(super) async fn json(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        Ok(self.send(request).await?.json().await?)
    }
}

/// A server as people type it: `http://host:port`, or a bare `host:port`
/// (taken as `http://`), without a trailing slash.
fn server_url(given: &str) -> String {
    let given = given.trim().trim_end_matches('/');
    if given.contains("://") {
        given.to_owned()
    } else {
        format!("http://{given}")
    }
}

/// How often a request refused by a rate limit is sent again.
const RATE_LIMIT_RETRIES: usize = 5;
/// The longest wait for a rate limit before giving up.
const LONGEST_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How long a 429 `rate_limited` answer says to wait, if it is one and the
/// wait is not too long.
fn rate_limited_for(response: &Response) -> Option<Duration> {
    if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let seconds: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait = Duration::from_secs(seconds.max(1));
    (wait <= LONGEST_RATE_LIMIT_WAIT).then_some(wait)
}

/// The server's `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
pub(super) struct ServerError {
    pub(super) status: u16,
    pub(super) code: String,
    pub(super) message: String,
}

pub(super) async fn server_error(response: Response) -> anyhow::Error {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    match (body["error"]["message"].as_str(), body["error"]["code"].as_str()) {
        (Some(message), Some(code)) => ServerError {
            status: status.as_u16(),
            code: code.to_owned(),
            // A credential the server no longer takes: say how to get one.
            message: match code {
                "unauthorized" => format!("{message}; sign in with `depot login --username NAME`"),
                _ => message.to_owned(),
            },
        }
        .into(),
        _ => anyhow::anyhow!("the server answered {status}"),
    }
}

/// Writes a file only its owner may read.
pub(super) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
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
