//! The life of one upload attempt, as its processing record tells it (seed 1).

use std::fmt;
use std::str::FromStr;

/// `pending` (accepted, bytes not flowing yet) → `processing` (bytes streaming,
/// hashing, recording) → `completed` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [Self::Pending, Self::Processing, Self::Completed, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; one of pending, processing, completed, failed")]
pub struct UnknownStatus(String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| UnknownStatus(raw.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert_eq!("Failed".parse::<Status>(), Ok(Status::Failed));
        assert!("done".parse::<Status>().is_err());
    }
}
