//! The command line: `serve` (the default), `config`, `token`, `user`, `audit`,
//! `admin`, `backup`, `restore` and `profile` for a deployment; `login`, `upload`, `ls`, `get`, `rm`
//! and `info`, the client of a running server.

mod account;
mod audit;
mod backup;
mod client;
mod jobs;
mod remote;
mod sharing;
mod unfinished;
mod upload;
mod users;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, FlagOverrides, Role};
use crate::db::Db;
use crate::pipeline::maintenance::Job;
use crate::pipeline::{migrate_storage, publish, session};
use crate::{auth, profile, server, startup, telemetry};

#[derive(Debug, Parser)]
#[command(name = "depot", version, about = "Self-hosted file and dataset storage")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags of the commands that work on a deployment (`serve`, `config`,
/// `token`, `user`, `audit`, `admin`, `backup`, `restore`), so each reads the same one as
/// `serve`; the client's commands speak to a server and do not take them.
#[derive(Debug, Default, Args)]
pub struct ConfigArgs {
    /// Configuration file (default: ./depot.toml when present; env DEPOT_CONFIG).
    #[arg(long, global = true, env = "DEPOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, HOST:PORT (env DEPOT_ADDR).
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// Data directory (env DEPOT_DATA_DIR).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Print the effective configuration, secrets redacted.
    Config(ConfigArgs),
    /// Mint a token for a user id with the configured secret (for external auth setups).
    Token {
        #[command(flatten)]
        deployment: ConfigArgs,
        /// The user id the token speaks for (its `sub`).
        #[arg(long)]
        user: i64,
        /// Lifetime, e.g. `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// An operator's token: it may also read the audit trail (`/api/v1/admin/…`).
        #[arg(long)]
        admin: bool,
    },
    /// Accounts.
    User {
        #[command(flatten)]
        deployment: ConfigArgs,
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// The audit trail.
    Audit {
        #[command(flatten)]
        deployment: ConfigArgs,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Maintenance of a deployment's data, run once and on demand.
    Admin {
        #[command(flatten)]
        deployment: ConfigArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Back up the deployment while it serves — a consistent snapshot of its
    /// metadata and the content its files use, copying only what the
    /// directory lacks — or check a backup (`verify`), or list its snapshots.
    Backup(backup::BackupArgs),
    /// Rebuild a deployment from a backup, into an empty data dir (or an
    /// empty PostgreSQL database) and the configured store.
    Restore(backup::RestoreArgs),
    /// Sign in to a server: an API key for this machine is made and kept in
    /// the client config file (the password is asked for without being
    /// shown, or read from stdin's first line when piped).
    Login(account::LoginArgs),
    /// Sign out: revoke the kept key and forget it.
    Logout(remote::RemoteArgs),
    /// Who the kept (or given) credential speaks for, and what it may do.
    Whoami(remote::RemoteArgs),
    /// Your API keys, for scripts.
    Key {
        #[command(subcommand)]
        command: account::KeyCommand,
    },
    /// Upload files, with progress; 64 MiB and larger go up resumably (tus),
    /// survive dropped connections, and a run cut short goes on where it
    /// stopped when run again.
    Upload(upload::UploadArgs),
    /// List your files, or one folder's level (`depot ls reports/`).
    Ls(client::LsArgs),
    /// Download a file, resuming an interrupted download, and check its
    /// SHA-256; a local file of that name is kept unless `--force`.
    Get(client::GetArgs),
    /// Write a file's bytes to stdout (checking its SHA-256 as they pass).
    Cat(client::CatArgs),
    /// Delete a file, or (`-r`) a folder with everything in it.
    Rm(client::RmArgs),
    /// Rename or move a file, or move a folder (`depot mv reports/ archive/reports`).
    Mv(client::MvArgs),
    /// Share one of your files with another user, for reading; or stop; or
    /// list who has it.
    Share(sharing::ShareArgs),
    /// Links to your files, and upload links into your space, for people
    /// without an account.
    Link {
        #[command(subcommand)]
        command: sharing::LinkCommand,
    },
    /// Show a file's metadata and dataset summary.
    Info(client::NameArgs),
    /// Profile local dataset files (CSV, TSV, JSON; Parquet and Excel in
    /// builds with those features) as an upload would, without a server:
    /// rows, and per column its pandas dtype, missing values and statistics,
    /// as the markdown summary a file's details show (or the profile as JSON).
    Profile {
        /// The files to profile.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the profile as JSON (one object per file) instead of markdown.
        #[arg(long)]
        json: bool,
    },
}

/// What `serve` runs; both also come from the environment and `depot.toml`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub deployment: ConfigArgs,
    /// `standalone` (everything in one process), `gateway` (the public API over a
    /// storage node) or `storage` (only the internal storage API) (env DEPOT_ROLE).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// The storage node a gateway uses, e.g. `http://10.0.0.2:8003` (env DEPOT_STORAGE_URL).
    #[arg(long)]
    pub storage_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Run the cleanup job now: expired sessions and uploads, stale staged
    /// writes and orphaned blobs removed, missing blobs reported.
    Cleanup(JobArgs),
    /// Run the verify job now: every blob re-read and checked; damaged
    /// content flagged corrupt. Exits non-zero if it finds any.
    Verify(JobArgs),
    /// Print the storage report: files, bytes, dedup, users, types, growth.
    Report(JobArgs),
    /// Remove expired sessions now (the server also does this every
    /// `session_sweep_interval`); their processing records stay.
    ExpireSessions,
    /// Copy every blob from the configured store to another, verifying each
    /// one's SHA-256, and point the files at it. Blobs the target holds
    /// already are skipped, so an interrupted run goes on where it stopped.
    /// Then set `DEPOT_STORAGE` to the target and restart.
    MigrateStorage {
        /// The target: `s3://bucket/prefix` (with the configured `s3_*`
        /// settings) or `local` (`<data_dir>/blobs`).
        #[arg(long)]
        to: String,
    },
    /// Publish to the IPFS node (`DEPOT_IPFS_API`) what it should have and
    /// does not: content stored before publishing was configured, content
    /// the node no longer pins, and failed tries, one at a time, now. Exits
    /// non-zero if a try fails (the server keeps retrying it).
    IpfsSync(JobArgs),
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// Print the job's report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    {
        Command::Config(deployment) => {
            let config = deployment.load(None, None)?;
            print!("{}", config.to_redacted_toml()?);
            Ok(())
        }
        Command::Token {
            deployment,
            user,
            ttl,
            admin,
        } => {
            let config = deployment.load(None, None)?;
            let secret = startup::prepare_data_dir_and_secret(&config)?;
            let keys = auth::Keys::new(&secret, config.token_ttl_seconds);
            println!(
                "{}",
                keys.issue_with(crate::domain::UserId::new(user), ttl, admin)?
            );
            Ok(())
        }
        Command::Serve(ServeArgs {
            deployment,
            role,
            storage_url,
        }) => {
            let config = deployment.load(role, storage_url)?;
            telemetry::init(&config.log);
            runtime()?.block_on(serve(config))
        }
        Command::Audit { deployment, command } => {
            runtime()?.block_on(audit::run(deployment.load(None, None)?, command))
        }
        Command::Admin { deployment, command } => {
            runtime()?.block_on(admin(deployment.load(None, None)?, command))
        }
        Command::User { deployment, command } => {
            runtime()?.block_on(users::run(deployment.load(None, None)?, command))
        }
        Command::Backup(args) => runtime()?.block_on(backup::backup(args)),
        Command::Restore(args) => runtime()?.block_on(backup::restore(args)),
        // The client's commands speak to a server; no deployment's configuration is theirs.
        Command::Login(args) => runtime()?.block_on(account::login(args)),
        Command::Logout(args) => runtime()?.block_on(account::logout(args)),
        Command::Whoami(args) => runtime()?.block_on(account::whoami(args)),
        Command::Key { command } => runtime()?.block_on(account::key(command)),
        Command::Upload(args) => runtime()?.block_on(upload::upload(args)),
        Command::Ls(args) => runtime()?.block_on(client::ls(args)),
        Command::Get(args) => runtime()?.block_on(client::get(args)),
        Command::Cat(args) => runtime()?.block_on(client::cat(args)),
        Command::Rm(args) => runtime()?.block_on(client::rm(args)),
        Command::Mv(args) => runtime()?.block_on(client::mv(args)),
        Command::Share(args) => runtime()?.block_on(sharing::share(args)),
        Command::Link { command } => runtime()?.block_on(sharing::link(command)),
        Command::Info(args) => runtime()?.block_on(client::info(args)),
        Command::Profile { files, json } => {
            for file in files {
                profile_file(&file, json)?;
            }
            Ok(())
        }
    }
}

impl ConfigArgs {
    /// The deployment's configuration: `depot.toml`, the environment, then
    /// these flags (and `serve`'s own).
    fn load(self, role: Option<Role>, storage_url: Option<String>) -> anyhow::Result<Config> {
        let flags = FlagOverrides {
            addr: self.addr,
            data_dir: self.data_dir,
            role,
            storage_url,
        };
        // `depot` alone serves without clap having read `DEPOT_CONFIG`.
        let file = self
            .config
            .or_else(|| std::env::var_os("DEPOT_CONFIG").map(PathBuf::from));
        Config::load(file.as_deref(), &flags)
    }
}

fn profile_file(path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let format = profile::Format::detect(&name, "").with_context(|| {
        format!(
            "{name}: not a format depot profiles (by its extension): {}",
            profile::Format::names()
        )
    })?;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
    let profiled = profile::profile_file(format, file).with_context(|| format!("cannot read {name}"))?;
    match profiled.with_context(|| name.clone())? {
        Some(profile) if json => println!("{}", serde_json::json!({ "file": name, "profile": profile })),
        Some(profile) => println!("{}", profile.summary()),
        None => anyhow::bail!("{name}: not a dataset (or a record too long or too wide to profile)"),
    }
    Ok(())
}

/// A password: typed at a prompt without being shown when stdin is a
/// terminal, else the first line of stdin (a pipe, a script). An empty one
/// is refused here, before it reaches a server.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).context("cannot read the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    anyhow::ensure!(!password.is_empty(), "no password given");
    Ok(password)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Cleanup(args) => jobs::run_job(config, Job::Cleanup, args.json).await,
        AdminCommand::Verify(args) => jobs::run_job(config, Job::Verify, args.json).await,
        AdminCommand::Report(args) => jobs::run_job(config, Job::Report, args.json).await,
        AdminCommand::ExpireSessions => {
            let db = Db::connect(&config).await?;
            let removed = session::expire(&db)
                .await
                .context("cannot remove expired sessions")?;
            println!("removed {removed} expired session(s)");
            Ok(())
        }
        AdminCommand::MigrateStorage { to } => {
            let db = Db::connect(&config).await?;
            migrate_storage(&config, &db, &to).await
        }
        AdminCommand::IpfsSync(args) => ipfs_sync(&config, args.json).await,
    }
}

async fn ipfs_sync(config: &Config, json: bool) -> anyhow::Result<()> {
    let state = startup::build_state(config).await?;
    let publishing = state
        .ipfs
        .clone()
        .context("no IPFS node to publish to: set DEPOT_IPFS_API (ipfs_api) to its RPC API, e.g. http://127.0.0.1:5001")?;
    let report = publish::sync(&state, &publishing, &|line: &str| eprintln!("{line}")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} queued (never published), {} missing on the node, {} tried, {} failed",
            report.queued, report.missing_on_node, report.tried, report.failed
        );
    }
    anyhow::ensure!(
        report.failed == 0,
        "{} tries failed; their files show why (`ipfs.error`), and the server retries them",
        report.failed
    );
    Ok(())
}

async fn migrate_storage(config: &Config, db: &Db, to: &str) -> anyhow::Result<()> {
    let target_config = Config {
        storage: (to != "local").then(|| to.to_owned()),
        ..config.clone()
    };
    anyhow::ensure!(
        target_config.storage != config.storage,
        "the target is the store depot uses now ({to})"
    );
    let (from, _) = startup::blob_store(config).await?;
    let (target, _) = startup::blob_store(&target_config).await?;
    let mut shown = Instant::now();
    let report = migrate_storage::migrate(db, from.as_ref(), target.as_ref(), |report, elapsed| {
        if shown.elapsed() >= PROGRESS_EVERY {
            shown = Instant::now();
            eprintln!("{}", progress_line(report, elapsed));
        }
    })
    .await?;
    println!(
        "{} blobs: {} copied ({} bytes), {} already there, {} corrupt, {} missing",
        report.blobs,
        report.copied,
        report.copied_bytes,
        report.present,
        report.corrupt.len(),
        report.missing.len()
    );
    for sha256 in &report.corrupt {
        println!("corrupt (its bytes do not match their SHA-256; not copied): {sha256}");
    }
    for sha256 in &report.missing {
        println!("missing from the source (not copied): {sha256}");
    }
    anyhow::ensure!(
        !report.failed(),
        "some blobs could not be copied; the files that use them still point at the old store"
    );
    match &target_config.storage {
        Some(storage) => println!("done: set DEPOT_STORAGE={storage} and restart depot"),
        None => println!("done: unset DEPOT_STORAGE and restart depot"),
    }
    Ok(())
}

/// How often a long migration says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

fn progress_line(report: &migrate_storage::Report, elapsed: Duration) -> String {
    let rate = report.copied_bytes as f64 / elapsed.as_secs_f64().max(0.001) / 1e6;
    format!(
        "{} blobs done: {} copied ({:.0} MB, {rate:.0} MB/s), {} already there",
        report.blobs,
        report.copied,
        report.copied_bytes as f64 / 1e6,
        report.present
    )
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let role = config.role.as_str();
    if config.role == Role::Storage {
        let node = startup::build_node(&config).await?;
        let listener = listen(&config).await?;
        tracing::info!(addr = %listener.local_addr()?, role, data_dir = %config.data_dir.display(), "depot is serving");
        server::run_node(
            listener,
            node,
            server::Limits::node(&config),
            server::shutdown_signal(),
        )
        .await?;
        return Ok(());
    }
    let state = startup::build_server_state(&config).await?;
    let listener = listen(&config).await?;
    let addr = listener.local_addr()?;
    let s3 = match &config.s3_api_addr {
        Some(s3_addr) => {
            let router = crate::s3::router(state.clone(), config.s3_api_domain.as_deref())?;
            let s3_listener = tokio::net::TcpListener::bind(s3_addr)
                .await
                .with_context(|| format!("cannot listen on {s3_addr} for the S3 API (s3_api_addr)"))?;
            Some((s3_listener, router))
        }
        None => None,
    };
    tracing::info!(%addr, role, data_dir = %config.data_dir.display(), "depot is serving");
    let s3 = match s3 {
        Some((s3_listener, router)) => {
            tracing::info!(s3_addr = %s3_listener.local_addr()?, "the S3 API is serving");
            Some(tokio::spawn(server::run_s3(
                s3_listener,
                router,
                server::Limits::public(&config),
                server::shutdown_signal(),
            )))
        }
        None => None,
    };
    greet(&state, addr).await?;
    server::run(
        listener,
        state,
        server::Limits::public(&config),
        server::shutdown_signal(),
    )
    .await?;
    if let Some(s3) = s3 {
        s3.await??;
    }
    Ok(())
}

/// Tells a person who just started depot where to go, and — on a new
/// deployment — that the first account made becomes the admin.
async fn greet(state: &crate::pipeline::state::AppState, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let url = match &state.public_url {
        Some(url) => url.as_str().to_owned(),
        None if addr.ip().is_unspecified() => format!("http://localhost:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    tracing::info!("open {url} for the web UI; the API's documentation is at {url}/docs/");
    let mut conn = state.db.pool().acquire().await?;
    if crate::db::users::none_yet(&mut conn).await? {
        tracing::info!(
            "no account yet: the first one made (in the web UI, or POST /api/v1/auth/register) becomes the admin"
        );
    }
    Ok(())
}

async fn listen(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(&config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))
}
