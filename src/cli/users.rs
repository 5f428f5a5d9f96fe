//! `depot user …`: accounts administered on the server's own machine,
//! against its configured database — the way to make the first admin of a
//! closed deployment, or to get back in when no admin can sign in. Each
//! change is an audit event with the server role `cli`, and takes hold on
//! running nodes within the revocation bound.

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::db::{quotas, users};
use crate::domain::{AccountRole, size, timestamp};
use crate::pipeline::accounts::{self, Admission, Change};
use crate::pipeline::audit::Audit;
use crate::pipeline::quota::Quota;
use crate::pipeline::state::AppState;
use crate::startup;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; its password is asked for without being shown, or
    /// read from stdin's first line when piped.
    Add {
        username: String,
        /// An admin: may administer users, run maintenance jobs and read the
        /// audit trail. The first account is always one.
        #[arg(long, conflicts_with = "role")]
        admin: bool,
        /// `admin`, `user` (the default) or `reader` (reads only).
        #[arg(long, value_parser = parse_role)]
        role: Option<AccountRole>,
    },
    /// List the accounts with what each stores.
    List,
    /// Make an invite for one account (for `signup = invite`) and print its
    /// code, which the person signs up with.
    Invite {
        /// The role the account gets: `admin`, `user` (the default) or `reader`.
        #[arg(long, value_parser = parse_role, default_value = "user")]
        role: AccountRole,
        /// How long the invite works, e.g. `2d`.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires_in: std::time::Duration,
    },
    /// Disable an account: its tokens and keys stop working, it cannot sign in.
    Disable { username: String },
    /// Enable a disabled account again (its earlier tokens stay revoked).
    Enable { username: String },
    /// Change an account's role: `admin`, `user` or `reader`.
    SetRole {
        username: String,
        #[arg(value_parser = parse_role)]
        role: AccountRole,
    },
    /// Set an account's password (asked for, or stdin's first line when
    /// piped); its tokens issued before stop working.
    ResetPassword { username: String },
    /// Set an account's storage quota, or give it the deployment's again
    /// (`quota_bytes`, `quota_files`); with neither, show it.
    Quota {
        username: String,
        /// The most bytes its files may take, e.g. `10GiB`; 0 for no limit.
        #[arg(long, value_parser = size::parse, conflicts_with = "default")]
        bytes: Option<u64>,
        /// The most files it may keep; 0 for no limit.
        #[arg(long, conflicts_with = "default")]
        files: Option<u64>,
        /// Give it the deployment's quota again.
        #[arg(long)]
        default: bool,
    },
    /// Delete an account and every file it owns; its audit events stay.
    Delete {
        username: String,
        /// Really: without it, nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
}

fn parse_role(text: &str) -> Result<AccountRole, String> {
    match text {
        "admin" => Ok(AccountRole::Admin),
        "user" => Ok(AccountRole::User),
        "reader" => Ok(AccountRole::Reader),
        _ => Err(format!("{text:?} is not a role: admin, user or reader")),
    }
}

pub async fn run(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let state = startup::build_state(&config).await?;
    let audit = Audit::from_cli(state.audit.key().clone());
    match command {
        UserCommand::Add {
            username,
            admin,
            role,
        } => {
            let password = super::read_password(&format!("Password for {username}: "))?;
            let role = role.unwrap_or(if admin {
                AccountRole::Admin
            } else {
                AccountRole::User
            });
            audit.note_name(&username);
            let (id, role) = accounts::create(&state, &username, password, Admission::ByAdmin(role)).await?;
            audit.note_actor(id);
            state
                .audit
                .write(audit.event("user_create", 201, None))
                .await
                .map_err(|err| anyhow::anyhow!("the account was made, but its audit event failed: {err}"))?;
            println!("created {username} (id {id}), {}", describe(role));
        }
        UserCommand::List => print_accounts(&state).await?,
        UserCommand::Invite { role, expires_in } => {
            let (code, invite) = accounts::invite(&state, role, expires_in, None).await?;
            audit.note_name(role.as_str());
            state
                .audit
                .write(audit.event("invite_create", 201, None))
                .await
                .map_err(|err| anyhow::anyhow!("the invite was made, but its audit event failed: {err}"))?;
            eprintln!(
                "invite {} for {}, until {} — sign up with this code (or open /#invite=<code> in the web UI):",
                invite.id,
                describe(role),
                timestamp::to_rfc3339(invite.expires_at)
            );
            println!("{code}");
        }
        UserCommand::Disable { username } => {
            let change = Change {
                disabled: Some(true),
                ..Change::default()
            };
            apply(&state, &audit, &username, change).await?;
            println!("{username} is disabled; their tokens and keys stop working");
        }
        UserCommand::Enable { username } => {
            let change = Change {
                disabled: Some(false),
                ..Change::default()
            };
            apply(&state, &audit, &username, change).await?;
            println!("{username} is enabled; they sign in again to get a token");
        }
        UserCommand::SetRole { username, role } => {
            let change = Change {
                role: Some(role),
                ..Change::default()
            };
            apply(&state, &audit, &username, change).await?;
            println!("{username} is now {}", describe(role));
        }
        UserCommand::ResetPassword { username } => {
            let password = super::read_password(&format!("Password for {username}: "))?;
            let change = Change {
                password: Some(password),
                ..Change::default()
            };
            apply(&state, &audit, &username, change).await?;
            println!("{username}'s password is set; their earlier tokens stop working");
        }
        UserCommand::Quota {
            username,
            bytes,
            files,
            default,
        } => {
            let change = Change {
                quota_bytes: if default { Some(None) } else { bytes.map(Some) },
                quota_files: if default { Some(None) } else { files.map(Some) },
                ..Change::default()
            };
            let id = user_id(&state, &username).await?;
            if change.quota_bytes.is_some() || change.quota_files.is_some() {
                accounts::change(&state, &audit, id, change, "user_update").await?;
            }
            let quota = Quota::of(&state, id).await?;
            let used = quotas::usage(state.db.pool(), id).await?;
            println!(
                "{username}: {}; {} in {} files are stored",
                if quota.is_unlimited() {
                    "no limit".to_owned()
                } else {
                    format!("a quota of {quota}")
                },
                size::human(u64::try_from(used.bytes).unwrap_or_default()),
                used.files
            );
        }
        UserCommand::Delete { username, yes } => {
            let id = user_id(&state, &username).await?;
            anyhow::ensure!(
                yes,
                "this deletes {username} and every file they own; pass --yes to do it"
            );
            let (_, files) = accounts::delete(&state, &audit, id).await?;
            println!("deleted {username} and {files} file(s)");
        }
    }
    Ok(())
}

async fn apply(state: &AppState, audit: &Audit, username: &str, change: Change) -> anyhow::Result<()> {
    let id = user_id(state, username).await?;
    accounts::change(state, audit, id, change, "user_update").await?;
    Ok(())
}

async fn user_id(state: &AppState, username: &str) -> anyhow::Result<crate::domain::UserId> {
    Ok(users::find_credentials(state.db.pool(), username)
        .await?
        .with_context(|| format!("no account named {username:?}"))?
        .id)
}

async fn print_accounts(state: &AppState) -> anyhow::Result<()> {
    let accounts = users::accounts(state.db.pool()).await?;
    println!(
        "{:>6}  {:<20}  {:<6}  {:<8}  {:>7}  {:>14}  {:<24}  LAST SEEN",
        "ID", "USERNAME", "ROLE", "STATE", "FILES", "BYTES", "QUOTA"
    );
    for account in accounts {
        let quota = Quota::own_or(account.quota_bytes, account.quota_files, state.policy.quota);
        println!(
            "{:>6}  {:<20}  {:<6}  {:<8}  {:>7}  {:>14}  {:<24}  {}",
            account.id,
            account.username,
            account.role,
            if account.disabled != 0 {
                "disabled"
            } else {
                "enabled"
            },
            account.files,
            account.bytes,
            quota.to_string(),
            account
                .last_seen_at
                .map_or_else(|| "never".to_owned(), timestamp::to_rfc3339)
        );
    }
    Ok(())
}

fn describe(role: AccountRole) -> &'static str {
    match role {
        AccountRole::Admin => "an admin",
        AccountRole::User => "a user",
        AccountRole::Reader => "a reader (reads only)",
    }
}
