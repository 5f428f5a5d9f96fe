//! The command line: `serve` (the default), `config`, `token`, `admin` and `profile`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, FlagOverrides};
use crate::db::Db;
use crate::pipeline::session;
use crate::{auth, profile, server, startup, telemetry};

#[derive(Debug, Parser)]
#[command(name = "depot", version, about = "Self-hosted file and dataset storage")]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every subcommand shares, so `token` reads the same deployment as `serve`.
#[derive(Debug, Args)]
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
    Serve,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Mint a token for a user id with the configured secret (for external auth setups).
    Token {
        /// The user id the token speaks for (its `sub`).
        #[arg(long)]
        user: i64,
        /// Lifetime, e.g. `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Maintenance of a deployment's data, run once and on demand.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Profile local dataset files (CSV, TSV, JSON; Parquet and Excel in builds with those features) as an upload would: seed 2's summary
    /// (or the profile as JSON), without a server.
    Profile {
        /// The files to profile.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the profile as JSON (one object per file) instead of markdown.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Remove expired sessions now (the server also does this every
    /// `session_sweep_interval`); their processing records stay.
    ExpireSessions,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        addr: cli.config.addr,
        data_dir: cli.config.data_dir,
    };
    let config = Config::load(cli.config.config.as_deref(), &flags)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            print!("{}", config.to_redacted_toml()?);
            Ok(())
        }
        Command::Token { user, ttl } => {
            let secret = startup::prepare_data_dir_and_secret(&config)?;
            let keys = auth::Keys::new(&secret, config.token_ttl_seconds);
            println!("{}", keys.issue(user, ttl)?);
            Ok(())
        }
        Command::Serve => {
            telemetry::init(&config.log);
            runtime()?.block_on(serve(config))
        }
        Command::Admin { command } => runtime()?.block_on(admin(config, command)),
        Command::Profile { files, json } => {
            for file in files {
                profile_file(&file, json)?;
            }
            Ok(())
        }
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config).await?;
    match command {
        AdminCommand::ExpireSessions => {
            let removed = session::expire(&db)
                .await
                .context("cannot remove expired sessions")?;
            println!("removed {removed} expired session(s)");
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let state = startup::build_state(&config).await?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %config.data_dir.display(), "depot is serving");
    server::run(listener, state, server::shutdown_signal()).await?;
    Ok(())
}
