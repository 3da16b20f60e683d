//! Contacts, their addresses, statuses and consent vocabulary.

use erp_kit::{ApiError, ApiResult};

use super::reasons;

/// An e-mail address as stored and compared: trimmed and lower-cased (the local part too:
/// every relay we know of treats it case-insensitively, and suppression must match duplicates
/// that differ only in case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> ApiResult<Self> {
        let normalised = raw.trim().to_lowercase();
        let invalid = || {
            ApiError::rule(
                reasons::INVALID_EMAIL,
                format!("`{}` is not an e-mail address", raw.trim()),
            )
            .on_field("email")
        };
        if normalised.len() > 254
            || normalised
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = normalised.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.contains('@')
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The blind-index column name the address hashes are keyed under (the kit's
/// `FieldCipher::blind_index`), the same for contacts and suppressions.
pub const ADDRESS_HASH_COLUMN: &str = "mkt.address";

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The stored text back (an unknown text is a corrupt row).
            pub fn parse(text: &str) -> ApiResult<Self> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(ApiError::internal(format!(
                        concat!("unknown ", stringify!($name), " `{}`"),
                        other
                    ))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// Where a contact stands for marketing mail.
    ContactStatus {
        Pending => "pending",
        Subscribed => "subscribed",
        Unsubscribed => "unsubscribed",
        Erased => "erased",
    }
}

string_enum! {
    /// The GDPR article 6 basis a consent record relies on.
    LawfulBasis {
        Consent => "consent",
        LegitimateInterest => "legitimate_interest",
        Contract => "contract",
    }
}

string_enum! {
    /// Why an address is suppressed.
    SuppressionReason {
        Unsubscribed => "unsubscribed",
        Erased => "erased",
        HardBounce => "hard_bounce",
        Complaint => "complaint",
    }
}

impl SuppressionReason {
    /// Whether the contact's own confirmed re-opt-in lifts it (a bounce or a complaint is the
    /// mailbox's verdict, not the person's choice: it stays).
    pub fn lifted_by_own_opt_in(self) -> bool {
        matches!(
            self,
            SuppressionReason::Unsubscribed | SuppressionReason::Erased
        )
    }
}

/// The purpose every marketing e-mail is sent under (consent records name their purpose; a
/// campaign needs a granted record for this one).
pub const EMAIL_MARKETING: &str = "email_marketing";

/// Who recorded a consent change when it was the contact themself (one-click unsubscribe,
/// double opt-in confirmation).
pub const CONTACT_ACTOR: &str = "contact";

/// How long a double opt-in confirmation link stays valid by default: three days (a person
/// who signed up reads the mail soon; an old link confirming years later proves little).
pub const OPT_IN_TTL_SECS: i64 = 3 * 24 * 3600;

/// What a confirmation through the signed link is logged as (the consent's confirmed source).
pub const CONFIRMATION_LINK: &str = "confirmation_link";

/// A consent record's free-text fields must be present and short.
pub fn consent_text(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` must be 1 to 200 characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Whether a contact may receive marketing mail at send time: subscribed, not suppressed, and
/// (when the campaign names a topic) not opted out of it.
pub fn may_receive(
    status: ContactStatus,
    suppressed: bool,
    has_consent: bool,
    topic_ok: bool,
) -> Result<(), &'static str> {
    if suppressed {
        return Err("suppressed");
    }
    if status != ContactStatus::Subscribed {
        return Err("not_subscribed");
    }
    if !has_consent {
        return Err("no_consent");
    }
    if !topic_ok {
        return Err("topic_opted_out");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse("  Ana.Gomez@Example.COM ")
                .unwrap()
                .as_str(),
            "ana.gomez@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@.com",
            "a@x..com",
            "a@b@c.com",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert_eq!(err.reason(), Some(reasons::INVALID_EMAIL), "{bad}");
        }
    }

    #[test]
    fn suppression_beats_everything_at_send_time() {
        use ContactStatus::*;
        assert_eq!(may_receive(Subscribed, true, true, true), Err("suppressed"));
        assert_eq!(
            may_receive(Pending, false, true, true),
            Err("not_subscribed")
        );
        assert_eq!(
            may_receive(Subscribed, false, false, true),
            Err("no_consent")
        );
        assert_eq!(
            may_receive(Subscribed, false, true, false),
            Err("topic_opted_out")
        );
        assert_eq!(may_receive(Subscribed, false, true, true), Ok(()));
    }

    #[test]
    fn only_a_persons_own_choice_is_lifted_by_their_opt_in() {
        assert!(SuppressionReason::Unsubscribed.lifted_by_own_opt_in());
        assert!(SuppressionReason::Erased.lifted_by_own_opt_in());
        assert!(!SuppressionReason::HardBounce.lifted_by_own_opt_in());
        assert!(!SuppressionReason::Complaint.lifted_by_own_opt_in());
    }
}
