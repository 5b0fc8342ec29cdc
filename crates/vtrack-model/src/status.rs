//! Sales' status of an account, and the rules that read it: one type for both stores, the API, the funnel,
//! the follow-up deadline and the re-contact rule of deliveries.

use serde::{Deserialize, Serialize};

/// Where sales stands with an account. Every account is [`Status::New`] until sales sets another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    New,
    Contacted,
    Qualified,
    Won,
    Lost,
}

/// A status that is not one of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status must be one of new, contacted, qualified, won, lost (got {0:?})")]
pub struct UnknownStatus(pub String);

impl Status {
    /// Every status, in the order of the funnel.
    pub const ALL: [Status; 5] = [Status::New, Status::Contacted, Status::Qualified, Status::Won, Status::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Contacted => "contacted",
            Status::Qualified => "qualified",
            Status::Won => "won",
            Status::Lost => "lost",
        }
    }

    /// Sales is working the account: any status but `new`. A worked account is not re-alerted below the
    /// score sales set it at, its follow-up deadline is met, and it counts as contacted in the funnel.
    pub fn is_worked(self) -> bool {
        self != Status::New
    }

    /// The account reached the funnel's `qualified` step: `qualified` or `won`.
    pub fn is_qualified(self) -> bool {
        matches!(self, Status::Qualified | Status::Won)
    }

    /// A status as a store read it back. Stores only hold statuses written through [`Status`], so an
    /// unknown one is a store edited by hand; it reads as `new` rather than failing a whole page.
    pub fn from_stored(s: &str) -> Status {
        s.parse().unwrap_or_default()
    }

    /// An account's latest status as a store read it: none set yet is [`Status::New`].
    pub fn latest(stored: Option<&str>) -> Status {
        stored.map_or_else(Status::default, Status::from_stored)
    }
}

impl std::str::FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Status, UnknownStatus> {
        Status::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_their_rules() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!(!Status::New.is_worked() && Status::Lost.is_worked());
        assert!(Status::Won.is_qualified() && !Status::Lost.is_qualified());
        assert_eq!(Status::from_stored("bogus"), Status::New);
        assert!("Won".parse::<Status>().unwrap_err().to_string().contains("new, contacted"));
    }
}
