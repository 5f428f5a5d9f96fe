//! Links: made, changed and revoked by their owner, each change with its
//! audit event in its transaction; opened by whoever holds the URL. A
//! download link opens one file for reading; an upload link lets its holder
//! upload files into the owner's space, under names of their own.
//!
//! Opening a link: a token whose MAC does not verify names no link (404);
//! one that verifies but finds no live link has ended (410 `link_expired`:
//! expired, used up, revoked, its file deleted or its owner disabled). A
//! password is checked off the async threads (argon2id), rate-limited as
//! sign-ins are: every try counts against the address's `login` bucket,
//! and the failures of one address on one link against the
//! `login_failures` bucket, which once used up refuses without checking.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::AuthError;
use crate::auth::link;
use crate::auth::password;
use crate::db::audit::hold_head;
use crate::db::files;
use crate::db::links::{self, Kind, Link, NewLink};
use crate::domain::timestamp::now_micros;
use crate::domain::{FileName, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::keys::expiry;
use crate::pipeline::limits::Limit;
use crate::pipeline::state::AppState;

/// How long the links the web UI makes for its own downloads work.
pub const BROWSER_LINK_TTL: Duration = Duration::from_secs(300);

/// What a new link allows; `None` is no limit.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub expires_in: Option<Duration>,
    pub password: Option<String>,
    pub max_downloads: Option<u64>,
    pub max_files: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// What a link opens: one of the owner's files, or uploads into their space.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A download link; `listed` false for the web UI's own.
    File {
        name: &'a FileName,
        listed: bool,
    },
    Upload,
}

/// Makes `owner` a link to `target` with `rules`.
pub async fn create(
    state: &AppState,
    audit: &Audit,
    owner: UserId,
    target: Target<'_>,
    rules: Rules,
) -> Result<Link, Error> {
    if let Target::File { name, .. } = target {
        audit.note_name(name.as_str());
    }
    let expires_at = rules.expires_in.map(expiry).transpose()?;
    let max_downloads = positive("max_downloads", rules.max_downloads)?;
    let max_files = positive("max_files", rules.max_files)?;
    let max_bytes = positive("max_bytes", rules.max_bytes)?;
    let password_hash = match rules.password {
        Some(given) => {
            password::check_password(&given)?;
            Some(password::hash(given).await?)
        }
        None => None,
    };
    let id = link::new_id();
    audit.note_detail(format!("link {id}"));
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let (kind, file_id, listed) = match target {
        Target::File { name, listed } => {
            let file = files::lock_owned(&mut tx, owner, name.as_str())
                .await?
                .ok_or(Error::NotFound("file"))?;
            audit.note_file(&file.file_name, &file.sha256, 0);
            (Kind::Download, Some(file.id), listed)
        }
        Target::Upload => (Kind::Upload, None, true),
    };
    let new = NewLink {
        id: &id,
        owner,
        kind,
        file_id,
        listed,
        password_hash: password_hash.as_deref(),
        expires_at,
        max_downloads: if kind == Kind::Download {
            max_downloads
        } else {
            None
        },
        max_files: if kind == Kind::Upload { max_files } else { None },
        max_bytes: if kind == Kind::Upload { max_bytes } else { None },
        created_at: now_micros(),
    };
    links::insert(&mut tx, &new).await?;
    let made = links::find(&mut tx, &id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("link {id} vanished in its own transaction")))?;
    audit.record(&mut tx, "link_create").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(owner = owner.get(), link = %id, kind = kind.as_str(), "link created");
    Ok(made)
}

/// A change to a link: each field `None` leaves it, `Some(None)` removes the limit.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub expires_in: Option<Option<Duration>>,
    pub max_downloads: Option<Option<u64>>,
}

/// Changes `owner`'s link `id`: 404 if they have none such.
pub async fn change(
    state: &AppState,
    audit: &Audit,
    owner: UserId,
    id: &str,
    change: Change,
) -> Result<Link, Error> {
    let id = link::parse_id(id).ok_or(Error::NotFound("link"))?;
    audit.note_detail(format!("link {id}"));
    let expires_at = match change.expires_in {
        Some(Some(lifetime)) => Some(Some(expiry(lifetime)?)),
        Some(None) => Some(None),
        None => None,
    };
    let max_downloads = match change.max_downloads {
        Some(most) => Some(positive("max_downloads", most)?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let link = links::find_owned(&mut tx, owner, id)
        .await?
        .ok_or(Error::NotFound("link"))?;
    if max_downloads.flatten().is_some() && link.kind() == Kind::Upload {
        return Err(Error::Validation(
            "an upload link has no downloads to limit".into(),
        ));
    }
    note_subject(audit, &link);
    links::change(
        &mut tx,
        owner,
        id,
        expires_at.unwrap_or(link.expires_at),
        max_downloads.unwrap_or(link.max_downloads),
    )
    .await?;
    let changed = links::find(&mut tx, id).await?.ok_or(Error::NotFound("link"))?;
    audit.record(&mut tx, "link_update").await?;
    tx.commit().await?;
    audit.committed();
    Ok(changed)
}

/// Revokes `owner`'s link `id`: it answers 410 from now on.
pub async fn revoke(state: &AppState, audit: &Audit, owner: UserId, id: &str) -> Result<(), Error> {
    let id = link::parse_id(id).ok_or(Error::NotFound("link"))?;
    audit.note_detail(format!("link {id}"));
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let link = links::find_owned(&mut tx, owner, id)
        .await?
        .ok_or(Error::NotFound("link"))?;
    note_subject(audit, &link);
    links::remove(&mut tx, owner, id).await?;
    audit.record(&mut tx, "link_revoke").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(owner = owner.get(), link = %id, "link revoked");
    Ok(())
}

/// What a request does with a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Something new: a download, a file, a look at what it opens.
    New,
    /// Goes on with a resumable upload begun through it, which holds one of
    /// its files already: only its expiry (or its end) stops that.
    Continue,
}

/// A request through a link: what it asks for, and what it brings.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    pub kind: Kind,
    pub purpose: Use,
    /// The password it gives, if any.
    pub password: Option<&'a str>,
    /// Its client's address, which password tries are counted by.
    pub address: IpAddr,
}

/// The live link of `visit.kind` that `token` opens, once its password (if
/// it has one) is given; its use noted on the trail as its owner's through it.
pub async fn open(state: &AppState, audit: &Audit, token: &str, visit: Visit<'_>) -> Result<Link, Error> {
    let Visit {
        kind,
        purpose,
        password,
        address,
    } = visit;
    let id = state.keys.links().id_of(token).ok_or(Error::NotFound("link"))?;
    audit.note_detail(format!("via link {id}"));
    let mut conn = state.db.pool().acquire().await?;
    let link = links::find(&mut conn, &id).await?.ok_or(Error::LinkExpired)?;
    drop(conn);
    if link.kind() != kind {
        return Err(Error::NotFound("link"));
    }
    audit.note_actor(link.owner_id);
    note_subject(audit, &link);
    let now = now_micros();
    let ended = match purpose {
        Use::New => link.ended(now),
        Use::Continue => link.expired(now),
    };
    if ended {
        return Err(Error::LinkExpired);
    }
    // A disabled owner's links end with their account; a database that does
    // not answer is no reason to say so.
    match state.credentials.check_enabled(link.owner_id).await {
        Err(AuthError::Unauthorized(_)) => return Err(Error::LinkExpired),
        Err(err) => return Err(err.into()),
        Ok(()) => {}
    }
    unlock(state, &link, password, address).await?;
    Ok(link)
}

/// Lets the request through `link` if the link has no password or `given`
/// is it.
async fn unlock(state: &AppState, link: &Link, given: Option<&str>, address: IpAddr) -> Result<(), Error> {
    let Some(stored) = &link.password_hash else {
        return Ok(());
    };
    let given = given
        .filter(|given| !given.is_empty())
        .ok_or(Error::LinkPasswordRequired)?;
    if let Some(refused) = state.limits.take(Limit::Login, &address.to_string()).await
        && !refused.decision.allowed
    {
        crate::metrics::rate_limited(refused.limit.name());
        return Err(Error::RateLimited(refused));
    }
    let guessing = format!("link {}", link.id);
    if let Some(refused) = state.limits.sign_in_allowed(&guessing, address).await {
        crate::metrics::rate_limited(refused.limit.name());
        return Err(Error::RateLimited(refused));
    }
    if !password::verify(given.to_owned(), stored.clone()).await? {
        state.limits.sign_in_failed(&guessing, address).await;
        return Err(Error::LinkPasswordWrong);
    }
    state.limits.sign_in_succeeded(&guessing, address).await;
    Ok(())
}

/// Counts a download through `link`: 410 if another took its last one first.
pub async fn count_download(state: &AppState, link: &Link) -> Result<(), Error> {
    if links::take_download(state.db.pool(), &link.id, now_micros()).await? {
        Ok(())
    } else {
        Err(Error::LinkExpired)
    }
}

/// A file counted against an upload link while its upload runs: given back
/// unless [`FileSlot::keep`] says the upload stored it.
#[derive(Debug)]
pub struct FileSlot {
    state: AppState,
    link: String,
    kept: bool,
}

impl FileSlot {
    /// Takes one of `link`'s files: 410 if none is left.
    pub async fn take(state: &AppState, link: &Link) -> Result<Self, Error> {
        if !links::take_file(state.db.pool(), &link.id, now_micros()).await? {
            return Err(Error::LinkExpired);
        }
        Ok(Self {
            state: state.clone(),
            link: link.id.clone(),
            kept: false,
        })
    }

    /// The upload stored its file, or — a resumable one — holds it from now
    /// on (removing the upload gives it back): the count stays.
    pub fn keep(mut self) {
        self.kept = true;
    }

    /// The upload failed: the file is given back before the answer, so a
    /// retry finds it.
    pub async fn give_back(mut self) {
        self.kept = true;
        give_back(&self.state, &self.link).await;
    }
}

impl Drop for FileSlot {
    fn drop(&mut self) {
        if !self.kept {
            let state = self.state.clone();
            let link = std::mem::take(&mut self.link);
            tokio::spawn(async move { give_back(&state, &link).await });
        }
    }
}

async fn give_back(state: &AppState, link: &str) {
    if let Err(err) = links::give_back_file(state.db.pool(), link).await {
        tracing::warn!(link, error = %err, "could not give an upload link's file back");
    }
}

/// The name an upload through link `id` stores a file the client called
/// `client_name` under: the client's name (its last path segment, made
/// safe), then the link and a random tag in brackets before the extension,
/// so that it cannot take the name of one of the owner's files.
pub fn stored_name(client_name: Option<&str>, id: &str) -> Result<FileName, Error> {
    let base = client_name
        .and_then(|name| name.rsplit(['/', '\\']).next())
        // Only dots or blanks name nothing.
        .filter(|name| !name.trim_matches(['.', ' ']).is_empty())
        .map(|name| {
            name.chars()
                .map(|c| if c.is_control() { '_' } else { c })
                .collect::<String>()
                .replace("..", "_")
        })
        .unwrap_or_else(|| "upload".to_owned());
    let (stem, extension) = match base.rfind('.') {
        Some(dot) if dot > 0 => base.split_at(dot),
        _ => (base.as_str(), ""),
    };
    let tag = format!(" [{} {}]", &id[..id.len().min(8)], &link::new_id()[..6]);
    let room = crate::domain::file_name::MAX_SEGMENT.saturating_sub(tag.len() + extension.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(FileName::parse(&format!("{}{tag}{extension}", &stem[..cut]))?)
}

fn note_subject(audit: &Audit, link: &Link) {
    if let Some(name) = &link.file_name {
        audit.note_name(name);
    }
}

/// A limit given as a count: at least one.
fn positive(field: &str, value: Option<u64>) -> Result<Option<i64>, Error> {
    match value {
        Some(0) => Err(Error::Validation(format!("{field} must be at least 1"))),
        Some(value) => Ok(Some(i64::try_from(value).unwrap_or(i64::MAX))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_links_names_keep_the_extension_and_stay_safe() {
        let id = "0123456789abcdef";
        let name = stored_name(Some("C:\\Users\\x\\report.csv"), id).unwrap();
        assert!(name.as_str().starts_with("report [01234567 "), "{name}");
        assert!(name.as_str().ends_with("].csv"), "{name}");
        assert_ne!(name, stored_name(Some("report.csv"), id).unwrap(), "a random tag");
        assert!(
            stored_name(Some("../.."), id)
                .unwrap()
                .as_str()
                .starts_with("upload [")
        );
        assert!(stored_name(None, id).unwrap().as_str().starts_with("upload ["));
        let long = format!("{}.parquet", "é".repeat(300));
        let name = stored_name(Some(&long), id).unwrap();
        assert!(name.as_str().len() <= crate::domain::file_name::MAX_SEGMENT);
        assert!(name.as_str().ends_with("].parquet"));
        assert!(
            stored_name(Some("a\u{0}b.txt"), id)
                .unwrap()
                .as_str()
                .starts_with("a_b [")
        );
    }
}
