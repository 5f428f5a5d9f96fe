//! What an account may do — run depot (`admin`), use it (`user`), or only
//! read its own files (`reader`) — and what one credential of it may do
//! (its [`Scope`]): the less of the two holds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountRole {
    Admin,
    User,
    Reader,
}

impl AccountRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
            Self::Reader => "reader",
        }
    }

    /// The role a stored value names; an unknown one reads only.
    pub fn from_stored(text: &str) -> Self {
        match text {
            "admin" => Self::Admin,
            "user" => Self::User,
            _ => Self::Reader,
        }
    }

    /// The most a credential of this account may do.
    pub fn ceiling(self) -> Scope {
        match self {
            Self::Admin => Scope::Admin,
            Self::User => Scope::ReadWrite,
            Self::Reader => Scope::Read,
        }
    }
}

/// What a key, or the account behind a token, may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Read files, listings, metadata and history; nothing changes.
    Read,
    /// Everything a user may do.
    ReadWrite,
    /// Everything, and the admin routes; only an admin's key has it.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "read-write" => Some(Self::ReadWrite),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether it lets its holder change anything.
    pub fn writes(self) -> bool {
        self >= Self::ReadWrite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_order_by_what_they_allow() {
        for scope in [Scope::Read, Scope::ReadWrite, Scope::Admin] {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert!(!Scope::Read.writes() && Scope::ReadWrite.writes() && Scope::Admin.writes());
        assert_eq!(Scope::parse("write"), None);
    }
}
