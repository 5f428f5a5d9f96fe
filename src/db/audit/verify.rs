//! Walking the chain, and checkpoints of its head.
//!
//! A walk checks that events are numbered without gaps, that each links to
//! the one before, and that each hash is what its content makes under the
//! audit key — unkeyed hashes are accepted only before `keyed_from`, the
//! first event written after the chain became keyed. What a walk cannot see
//! is events removed from the end together with the head moved back, or a
//! whole chain rewritten as unkeyed with `keyed_from` moved: a
//! [`Checkpoint`] — the head's id and hash and `keyed_from`, at a time,
//! signed with the key — kept outside the database catches both.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use super::chain::{ChainKey, KeyVersion, event_hash};
use super::{Filter, GENESIS, page};

/// Where the chain breaks first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// No event has this id, though later ones exist or the head counts it.
    Missing { id: i64 },
    /// The event does not link to the one before.
    Unlinked { id: i64 },
    /// The event's content is not what its hash says (or the key is not the
    /// one it was written with).
    Altered { id: i64 },
    /// The event is unkeyed, though it comes after the chain became keyed.
    Unkeyed { id: i64, keyed_from: i64 },
    /// The head names another last event than the chain ends with.
    Head { last_id: i64 },
    /// A checkpoint's event is gone or different: the chain was cut short
    /// or rewritten since it was taken.
    Checkpoint { last_id: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { id } => write!(f, "event {id} is missing"),
            Self::Unlinked { id } => write!(f, "event {id} does not link to the event before it"),
            Self::Altered { id } => write!(
                f,
                "event {id} was altered: its content does not match its hash (or the audit key is not the one it was written with)"
            ),
            Self::Unkeyed { id, keyed_from } => write!(
                f,
                "event {id} has an unkeyed hash, but every event from {keyed_from} on is keyed"
            ),
            Self::Head { last_id } => write!(
                f,
                "the chain ends at event {last_id}, but its head names another last event (events after it are missing)"
            ),
            Self::Checkpoint { last_id } => write!(
                f,
                "the checkpoint's last event {last_id} is not in the chain as it was: the chain was cut short or rewritten since"
            ),
        }
    }
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events checked (before the first broken link, if any).
    pub checked: u64,
    /// The first keyed event's id.
    pub keyed_from: i64,
    pub broken: Option<Break>,
}

/// Walks the whole chain, `batch` events at a time, checking keyed hashes
/// with `key`, and reports the first broken link; `progress` hears how many
/// events are checked as it goes.
pub async fn verify(
    pool: &AnyPool,
    key: &ChainKey,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> Result<Verification, sqlx::Error> {
    let head = Head::read(pool).await?;
    let mut expected_prev = GENESIS.to_owned();
    let mut last_id = 0;
    let mut checked = 0;
    let done = |checked, broken| Verification {
        checked,
        keyed_from: head.keyed_from,
        broken,
    };
    loop {
        let events = page(pool, &Filter::default(), last_id, batch).await?;
        let Some(last) = events.last() else {
            break;
        };
        let next_after = last.id;
        for event in events {
            let version = match event.key_version {
                0 => KeyVersion::Unkeyed,
                _ => KeyVersion::Keyed,
            };
            let broken = if event.id != last_id + 1 {
                Some(Break::Missing { id: last_id + 1 })
            } else if event.prev_hash != expected_prev {
                Some(Break::Unlinked { id: event.id })
            } else if version == KeyVersion::Unkeyed && event.id >= head.keyed_from {
                Some(Break::Unkeyed {
                    id: event.id,
                    keyed_from: head.keyed_from,
                })
            } else if !hash_matches(version, key, &event) {
                Some(Break::Altered { id: event.id })
            } else {
                None
            };
            if broken.is_some() {
                return Ok(done(checked, broken));
            }
            checked += 1;
            last_id = event.id;
            expected_prev = event.hash;
        }
        progress(checked);
        last_id = next_after;
    }
    let broken =
        (head.last_id != last_id || head.last_hash != expected_prev).then_some(if head.last_id > last_id {
            Break::Missing { id: last_id + 1 }
        } else {
            Break::Head { last_id }
        });
    Ok(done(checked, broken))
}

fn hash_matches(version: KeyVersion, key: &ChainKey, event: &super::Event) -> bool {
    let expected = event_hash(version, key, event.id, &event.prev_hash, &event.content);
    // Both are hex of a fixed-length digest; compared without a shortcut.
    subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), event.hash.as_bytes()).into()
}

/// The chain's head row.
#[derive(Debug, sqlx::FromRow)]
struct Head {
    last_id: i64,
    last_hash: String,
    keyed_from: i64,
}

impl Head {
    async fn read(pool: &AnyPool) -> Result<Self, sqlx::Error> {
        sqlx::query_as("SELECT last_id, last_hash, keyed_from FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await
    }
}

/// The chain's head at a moment, signed with the audit key: kept outside the
/// database (a file, a ticket, a log elsewhere), it lets a later
/// [`Checkpoint::check`] show that the chain still holds that event as it
/// was — not cut short, not rewritten — whoever could write the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last event's id, and so how many events the chain held.
    pub last_id: i64,
    pub last_hash: String,
    pub keyed_from: i64,
    /// When it was taken (RFC 3339).
    pub taken_at: String,
    /// HMAC-SHA256 (hex) of the fields above under the audit key.
    pub signature: String,
}

impl Checkpoint {
    /// The chain's head now, signed.
    pub async fn take(pool: &AnyPool, key: &ChainKey, taken_at: String) -> Result<Self, sqlx::Error> {
        let head = Head::read(pool).await?;
        let mut checkpoint = Self {
            last_id: head.last_id,
            last_hash: head.last_hash,
            keyed_from: head.keyed_from,
            taken_at,
            signature: String::new(),
        };
        checkpoint.signature = key.sign(&checkpoint.signed_parts().each_ref().map(String::as_bytes));
        Ok(checkpoint)
    }

    fn signed_parts(&self) -> [String; 5] {
        [
            "depot audit checkpoint v1".to_owned(),
            self.last_id.to_string(),
            self.last_hash.clone(),
            self.keyed_from.to_string(),
            self.taken_at.clone(),
        ]
    }

    /// Whether the signature is the audit key's.
    pub fn is_signed_by(&self, key: &ChainKey) -> bool {
        key.verifies(
            &self.signed_parts().each_ref().map(String::as_bytes),
            &self.signature,
        )
    }

    /// Whether the chain still holds the checkpoint's last event, with its
    /// hash, and became keyed no later: `None` if so, else how it broke.
    pub async fn check(&self, pool: &AnyPool) -> Result<Option<Break>, sqlx::Error> {
        let broken = Some(Break::Checkpoint {
            last_id: self.last_id,
        });
        if Head::read(pool).await?.keyed_from > self.keyed_from {
            return Ok(broken);
        }
        if self.last_id == 0 {
            return Ok(None);
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_events WHERE id = $1")
            .bind(self.last_id)
            .fetch_optional(pool)
            .await?;
        Ok(if hash.as_deref() == Some(self.last_hash.as_str()) {
            None
        } else {
            broken
        })
    }
}
