//! Social posts: a tenant's channel accounts (a kind of network and a handle), and posts
//! written for one account, scheduled, then handed to the channel's adapter by the publisher
//! (app/social.rs) exactly once.
//!
//! A post moves `draft -> scheduled -> publishing -> published / failed`, `scheduled -> draft`
//! (unscheduled), and `failed -> scheduled` only by an explicit retry. `publishing` is the
//! hand-off: the adapter has it, its answer is not recorded yet. A post's link goes out with
//! its UTM parameters (`utm_source` the channel, `utm_medium=social`, `utm_campaign` the post's
//! campaign, `utm_content` the post) so the leads it brings are attributed to it.

use erp_kit::{ApiError, ApiResult};
use url::Url;

use super::contact::string_enum;
use super::reasons;

string_enum! {
    /// The network a channel account is on.
    ChannelKind {
        X => "x",
        LinkedIn => "linkedin",
        Facebook => "facebook",
        Instagram => "instagram",
        Mastodon => "mastodon",
    }
}

impl ChannelKind {
    /// The longest body the network accepts, in characters (Unicode scalar values): X 280,
    /// Mastodon 500 (a default instance), Instagram 2,200, LinkedIn 3,000, Facebook 63,206.
    pub fn max_body_chars(self) -> usize {
        match self {
            ChannelKind::X => 280,
            ChannelKind::Mastodon => 500,
            ChannelKind::Instagram => 2_200,
            ChannelKind::LinkedIn => 3_000,
            ChannelKind::Facebook => 63_206,
        }
    }
}

string_enum! {
    /// Where a post stands.
    PostStatus {
        Draft => "draft",
        Scheduled => "scheduled",
        Publishing => "publishing",
        Published => "published",
        Failed => "failed",
    }
}

impl PostStatus {
    /// Whether `self -> to` is a move the lifecycle allows.
    pub fn can_move_to(self, to: PostStatus) -> bool {
        use PostStatus::*;
        matches!(
            (self, to),
            (Draft, Scheduled)
                | (Scheduled, Draft)
                | (Scheduled, Publishing)
                | (Publishing, Published)
                | (Publishing, Failed)
                | (Failed, Scheduled)
        )
    }

    /// The move, or SOCIAL_POST_TRANSITION_NOT_ALLOWED.
    pub fn move_to(self, to: PostStatus) -> ApiResult<PostStatus> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(ApiError::rule(
                reasons::SOCIAL_POST_TRANSITION_NOT_ALLOWED,
                format!("a {} post cannot become {}", self.as_str(), to.as_str()),
            ))
        }
    }

    /// Body, link and campaign change until the post is handed off; once publishing or
    /// published they are what the network has (SOCIAL_POST_NOT_EDITABLE).
    pub fn ensure_editable(self) -> ApiResult<()> {
        match self {
            PostStatus::Draft | PostStatus::Scheduled | PostStatus::Failed => Ok(()),
            other => Err(ApiError::rule(
                reasons::SOCIAL_POST_NOT_EDITABLE,
                format!("a {} post cannot be edited", other.as_str()),
            )),
        }
    }
}

/// The longest handle kept (characters).
pub const MAX_HANDLE_CHARS: usize = 100;

/// A channel account's handle (`@erp_os`, `company/erp-os`): 1 to 100 characters, no spaces or
/// control characters.
pub fn handle(raw: &str) -> ApiResult<String> {
    let handle = raw.trim();
    if handle.is_empty()
        || handle.chars().count() > MAX_HANDLE_CHARS
        || handle.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::rule(
            reasons::CHANNEL_ACCOUNT_INVALID,
            format!("a handle is 1 to {MAX_HANDLE_CHARS} characters without spaces"),
        )
        .on_field("handle"));
    }
    Ok(handle.to_owned())
}

/// A post's body for a channel of `kind`: not empty (SOCIAL_POST_BODY_EMPTY), at most the
/// channel's length (SOCIAL_POST_BODY_TOO_LONG). Kept as written (only the ends trimmed).
pub fn body(kind: ChannelKind, raw: &str) -> ApiResult<String> {
    let body = raw.trim();
    if body.is_empty() {
        return Err(
            ApiError::rule(reasons::SOCIAL_POST_BODY_EMPTY, "a post needs a body").on_field("body"),
        );
    }
    let length = body.chars().count();
    let max = kind.max_body_chars();
    if length > max {
        return Err(ApiError::rule(
            reasons::SOCIAL_POST_BODY_TOO_LONG,
            format!(
                "the body is {length} characters; {} takes at most {max}",
                kind.as_str()
            ),
        )
        .on_field("body"));
    }
    Ok(body.to_owned())
}

/// The longest link kept (characters).
pub const MAX_LINK_CHARS: usize = 2_000;

/// A post's link: an absolute `http(s)` URL with a host, at most 2,000 characters
/// (SOCIAL_POST_LINK_INVALID).
pub fn link(raw: &str) -> ApiResult<String> {
    let invalid = || {
        ApiError::rule(
            reasons::SOCIAL_POST_LINK_INVALID,
            format!("a link is an absolute http(s) URL of at most {MAX_LINK_CHARS} characters"),
        )
        .on_field("link")
    };
    let text = raw.trim();
    if text.chars().count() > MAX_LINK_CHARS {
        return Err(invalid());
    }
    let url = Url::parse(text).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(url.to_string())
}

/// The UTM parameters a post's link carries (any of the same name the link had are replaced).
pub const UTM_MEDIUM: &str = "social";

/// `link` with the post's UTM parameters: `utm_source` the channel kind, `utm_medium=social`,
/// `utm_campaign` the post's campaign (when it has one), `utm_content` the post (what a lead
/// is attributed to the post by). Other query parameters stay, in order.
pub fn utm_link(link: &str, kind: ChannelKind, campaign_id: Option<&str>, post_id: &str) -> String {
    let Ok(mut url) = Url::parse(link) else {
        return link.to_owned();
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| !name.starts_with("utm_"))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        for (name, value) in &kept {
            query.append_pair(name, value);
        }
        query.append_pair("utm_source", kind.as_str());
        query.append_pair("utm_medium", UTM_MEDIUM);
        if let Some(campaign) = campaign_id {
            query.append_pair("utm_campaign", campaign);
        }
        query.append_pair("utm_content", post_id);
    }
    url.to_string()
}

/// A schedule at `at_ms` seen at `now_ms`: strictly in the future
/// (SOCIAL_POST_SCHEDULE_IN_PAST).
pub fn schedule_at(at_ms: i64, now_ms: i64) -> ApiResult<i64> {
    if at_ms <= now_ms {
        return Err(ApiError::rule(
            reasons::SOCIAL_POST_SCHEDULE_IN_PAST,
            "a post is scheduled for a time still to come",
        )
        .on_field("at"));
    }
    Ok(at_ms)
}

/// Why a post failed when its publisher vanished between the hand-off and the adapter's
/// answer: the network may have it, so it is never published again on its own; a person looks
/// and retries.
pub const OUTCOME_UNKNOWN: &str = "publish_outcome_unknown";

#[cfg(test)]
mod tests {
    use super::PostStatus::*;
    use super::*;

    #[test]
    fn lifecycle() {
        let all = [Draft, Scheduled, Publishing, Published, Failed];
        let allowed = [
            (Draft, Scheduled),
            (Scheduled, Draft),
            (Scheduled, Publishing),
            (Publishing, Published),
            (Publishing, Failed),
            (Failed, Scheduled),
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
            Published.move_to(Scheduled).unwrap_err().reason(),
            Some(reasons::SOCIAL_POST_TRANSITION_NOT_ALLOWED)
        );
        for editable in [Draft, Scheduled, Failed] {
            assert!(editable.ensure_editable().is_ok());
        }
        for fixed in [Publishing, Published] {
            assert_eq!(
                fixed.ensure_editable().unwrap_err().reason(),
                Some(reasons::SOCIAL_POST_NOT_EDITABLE)
            );
        }
    }

    #[test]
    fn bodies_are_checked_against_the_channel() {
        assert_eq!(
            body(ChannelKind::X, "  \n ").unwrap_err().reason(),
            Some(reasons::SOCIAL_POST_BODY_EMPTY)
        );
        // Characters, not bytes: 280 two-byte letters fit X.
        assert!(body(ChannelKind::X, &"é".repeat(280)).is_ok());
        assert_eq!(
            body(ChannelKind::X, &"a".repeat(281)).unwrap_err().reason(),
            Some(reasons::SOCIAL_POST_BODY_TOO_LONG)
        );
        assert!(body(ChannelKind::LinkedIn, &"a".repeat(281)).is_ok());
        assert_eq!(body(ChannelKind::X, " Hello ").unwrap(), "Hello");
    }

    #[test]
    fn links_and_handles() {
        for bad in [
            "",
            "shop.example.com",
            "ftp://x.example.com/a",
            "https://",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                link(bad).unwrap_err().reason(),
                Some(reasons::SOCIAL_POST_LINK_INVALID),
                "{bad}"
            );
        }
        assert_eq!(
            link("https://shop.example.com/offer").unwrap(),
            "https://shop.example.com/offer"
        );
        assert_eq!(
            handle("with space").unwrap_err().reason(),
            Some(reasons::CHANNEL_ACCOUNT_INVALID)
        );
        assert_eq!(handle(" @erp_os ").unwrap(), "@erp_os");
    }

    #[test]
    fn utm_parameters_replace_any_the_link_had_and_keep_the_rest() {
        assert_eq!(
            utm_link(
                "https://shop.example.com/offer?x=1&utm_source=old&y=a%20b",
                ChannelKind::LinkedIn,
                Some("cmp1"),
                "post1"
            ),
            "https://shop.example.com/offer?x=1&y=a+b&utm_source=linkedin&utm_medium=social&utm_campaign=cmp1&utm_content=post1"
        );
        assert_eq!(
            utm_link("https://shop.example.com/", ChannelKind::X, None, "p"),
            "https://shop.example.com/?utm_source=x&utm_medium=social&utm_content=p"
        );
    }

    #[test]
    fn a_schedule_is_in_the_future() {
        assert_eq!(schedule_at(1_001, 1_000).unwrap(), 1_001);
        assert_eq!(
            schedule_at(1_000, 1_000).unwrap_err().reason(),
            Some(reasons::SOCIAL_POST_SCHEDULE_IN_PAST)
        );
    }
}
