//! The campaign lifecycle: draft -> scheduled -> sending -> sent, sending <-> paused, and
//! cancelled from any state before sent.

use erp_kit::{ApiError, ApiResult};

use super::contact::string_enum;
use super::reasons;

string_enum! {
    /// Where a campaign stands.
    CampaignStatus {
        Draft => "draft",
        Scheduled => "scheduled",
        Sending => "sending",
        Paused => "paused",
        Sent => "sent",
        Cancelled => "cancelled",
    }
}

impl CampaignStatus {
    /// Whether `self -> to` is a move the lifecycle allows.
    pub fn can_move_to(self, to: CampaignStatus) -> bool {
        use CampaignStatus::*;
        matches!(
            (self, to),
            (Draft, Scheduled)
                | (Scheduled, Draft)
                | (Scheduled, Sending)
                | (Sending, Paused)
                | (Paused, Sending)
                | (Sending, Sent)
                | (Draft | Scheduled | Sending | Paused, Cancelled)
        )
    }

    /// The move, or CAMPAIGN_TRANSITION_NOT_ALLOWED.
    pub fn move_to(self, to: CampaignStatus) -> ApiResult<CampaignStatus> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(ApiError::rule(
                reasons::CAMPAIGN_TRANSITION_NOT_ALLOWED,
                format!("a {} campaign cannot become {}", self.as_str(), to.as_str()),
            ))
        }
    }

    /// Content and audience change only before sending starts.
    pub fn ensure_editable(self) -> ApiResult<()> {
        match self {
            CampaignStatus::Draft | CampaignStatus::Scheduled => Ok(()),
            other => Err(ApiError::rule(
                reasons::CAMPAIGN_NOT_EDITABLE,
                format!("a {} campaign cannot be edited", other.as_str()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CampaignStatus::*;
    use super::*;

    #[test]
    fn lifecycle() {
        let all = [Draft, Scheduled, Sending, Paused, Sent, Cancelled];
        let allowed = [
            (Draft, Scheduled),
            (Scheduled, Draft),
            (Scheduled, Sending),
            (Sending, Paused),
            (Paused, Sending),
            (Sending, Sent),
            (Draft, Cancelled),
            (Scheduled, Cancelled),
            (Sending, Cancelled),
            (Paused, Cancelled),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert_eq!(
            Sent.move_to(Sending).unwrap_err().reason(),
            Some(reasons::CAMPAIGN_TRANSITION_NOT_ALLOWED)
        );
        assert!(Scheduled.ensure_editable().is_ok());
        assert_eq!(
            Sending.ensure_editable().unwrap_err().reason(),
            Some(reasons::CAMPAIGN_NOT_EDITABLE)
        );
    }
}
