//! Accounts as a team runs them: made by sign-up (as the `signup` setting
//! allows, with an invite when it asks for one) or by an admin, changed
//! (role, disabled, password) and deleted with their files. Every change
//! revokes the account's tokens issued before it and is an audit event in
//! its own transaction; no change may leave the deployment without an
//! enabled admin.

use crate::auth::{api_key, password};
use crate::config::Signup;
use crate::db::audit::hold_head;
use crate::db::{files, invites, is_unique_violation, links, shares, users};
use crate::domain::timestamp::now_micros;
use crate::domain::{AccountRole, FileName, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;
use crate::pipeline::{delete, keys, multipart};

/// Files deleted per round when an account goes.
const FILES_PER_ROUND: i64 = 100;

/// How an account comes to be.
#[derive(Debug, Clone, Copy)]
pub enum Admission<'a> {
    /// Signing up (`/api/v1/auth/register`), with an invite or without:
    /// as the deployment's `signup` setting allows.
    SignUp { invite: Option<&'a str> },
    /// Made by an admin (the API or `depot user add`), with this role.
    ByAdmin(AccountRole),
}

/// Makes an account (the deployment's admin when it is the first). An
/// invite is taken in the same transaction, so it makes one account only.
pub async fn create(
    state: &AppState,
    username: &str,
    password: String,
    admission: Admission<'_>,
) -> Result<(UserId, AccountRole), Error> {
    password::check_new_account(username, &password)?;
    // Refused before the password is hashed, so that a closed server spends
    // nothing on a refusal; decided again, for good, in the transaction.
    let first = users::none_yet(&mut *state.db.pool().acquire().await?).await?;
    admitted(state, first, admission)?;
    let hash = password::hash(password).await?;
    let mut tx = state.db.begin().await?;
    // A write first: on SQLite a transaction that reads first may not get
    // to write. Accounts are made one at a time.
    hold_head(&mut tx).await?;
    let (role, invite) = admitted(state, users::none_yet(&mut tx).await?, admission)?;
    let taken = match invite {
        Some(code) => {
            let digest = api_key::digest(code);
            Some(
                invites::take(&mut tx, &digest, now_micros())
                    .await?
                    .ok_or(Error::InvalidInvite)?,
            )
        }
        None => None,
    };
    let role = taken
        .as_ref()
        .map_or(role, |(_, role)| AccountRole::from_stored(role));
    let (id, role) = users::create(&mut tx, username, &hash, role)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                Error::UsernameTaken(username.to_owned())
            } else {
                err.into()
            }
        })?;
    if let Some((invite, _)) = taken {
        invites::used_by(&mut tx, invite, id).await?;
    }
    tx.commit().await?;
    Ok((id, role))
}

/// The role an account would get and the invite it would take, or why it
/// may not be made; `first` says whether the deployment has no account yet.
fn admitted<'a>(
    state: &AppState,
    first: bool,
    admission: Admission<'a>,
) -> Result<(AccountRole, Option<&'a str>), Error> {
    match admission {
        Admission::ByAdmin(role) => Ok((role, None)),
        Admission::SignUp { invite } if first => Ok((AccountRole::User, invite)),
        Admission::SignUp { .. } if state.signup == Signup::Closed => Err(Error::SignupClosed(
            "sign-up is closed on this server; ask an admin for an account",
        )),
        Admission::SignUp { invite: None } if state.signup == Signup::Invite => Err(Error::SignupClosed(
            "sign-up on this server needs an invite from an admin",
        )),
        Admission::SignUp { invite } => Ok((AccountRole::User, invite)),
    }
}

/// How long an invite works when the admin says nothing: a week.
pub const INVITE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Makes an invite for one account with `role`, good for `lifetime`;
/// returns its code (shown once) and the invite.
pub async fn invite(
    state: &AppState,
    role: AccountRole,
    lifetime: std::time::Duration,
    created_by: Option<UserId>,
) -> Result<(String, invites::Invite), Error> {
    let expires_at = keys::expiry(lifetime)?;
    let (code, digest) = api_key::generate_invite();
    let invite = invites::insert(
        state.db.pool(),
        &digest,
        role.as_str(),
        created_by,
        now_micros(),
        expires_at,
    )
    .await?;
    tracing::info!(invite = invite.id, role = role.as_str(), "invite created");
    Ok((code, invite))
}

/// What an admin changes of an account.
#[derive(Debug, Default)]
pub struct Change {
    pub role: Option<AccountRole>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
    /// The account's own storage quota (0: none); `Some(None)` gives it the
    /// deployment's again.
    pub quota_bytes: Option<Option<u64>>,
    pub quota_files: Option<Option<u64>>,
}

/// Applies `change` to `user`'s account, recorded as `action`. A change of
/// its role, standing or password makes the tokens issued before stop
/// working (on every node within the revocation bound); a quota takes hold
/// within the same bound.
pub async fn change(
    state: &AppState,
    audit: &Audit,
    user: UserId,
    change: Change,
    action: &str,
) -> Result<users::Account, Error> {
    let hash = match change.password {
        Some(password) => {
            password::check_password(&password)?;
            Some(password::hash(password).await?)
        }
        None => None,
    };
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let changed = users::AccountChange {
        role: change.role.map(AccountRole::as_str),
        disabled: change.disabled,
        password_hash: hash.as_deref(),
        quota_bytes: change.quota_bytes.map(|quota| quota.map(stored_limit)),
        quota_files: change.quota_files.map(|quota| quota.map(stored_limit)),
    };
    if !users::change(&mut tx, user, &changed).await? {
        return Err(Error::NotFound("user"));
    }
    if users::enabled_admins(&mut tx).await? == 0 {
        return Err(Error::LastAdmin);
    }
    let account = users::account(&mut tx, user)
        .await?
        .ok_or(Error::NotFound("user"))?;
    audit.note_name(&account.username);
    audit.record(&mut tx, action).await?;
    tx.commit().await?;
    audit.committed();
    state.credentials.forget_account(user);
    tracing::info!(user = user.get(), action, "account changed");
    Ok(account)
}

/// Deletes `user`'s files (each its own audited deletion, so blobs and
/// their references stay right, and their shares and links go with them),
/// then the account with its keys, sessions, history, upload links and the
/// shares others gave it. Audit events stay. Returns its username and how many files
/// went.
pub async fn delete(state: &AppState, audit: &Audit, user: UserId) -> Result<(String, u64), Error> {
    let username = {
        let mut conn = state.db.pool().acquire().await?;
        users::account(&mut conn, user)
            .await?
            .ok_or(Error::NotFound("user"))?
            .username
    };
    // The last admin cannot go: checked before any file does.
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    users::change(
        &mut tx,
        user,
        &users::AccountChange {
            disabled: Some(true),
            ..Default::default()
        },
    )
    .await?;
    if users::enabled_admins(&mut tx).await? == 0 {
        return Err(Error::LastAdmin);
    }
    tx.commit().await?;
    state.credentials.forget_account(user);
    multipart::end_all_of(state, user).await?;
    let mut deleted = 0;
    loop {
        let names = files::names_of(state.db.pool(), user, FILES_PER_ROUND).await?;
        if names.is_empty() {
            break;
        }
        for name in names {
            let name = FileName::parse(&name).map_err(|err| Error::Internal(err.into()))?;
            match delete::delete(state, user, &name, audit).await {
                Ok(_) => deleted += 1,
                // Gone meanwhile (the owner, or another admin).
                Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    shares::remove_recipient(&mut tx, user).await?;
    links::remove_owner(&mut tx, user).await?;
    if !users::remove(&mut tx, user).await? {
        return Err(Error::NotFound("user"));
    }
    audit.note_name(&username);
    audit.record(&mut tx, "user_delete").await?;
    tx.commit().await?;
    audit.committed();
    state.credentials.forget_account(user);
    tracing::info!(user = user.get(), files = deleted, "account deleted");
    Ok((username, deleted))
}

/// A quota as its column keeps it; past `i64::MAX` is as good as no limit.
fn stored_limit(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(0)
}
