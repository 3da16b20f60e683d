//! Bounce and feedback classification (Mautic #2761: a vacation autoresponder is not an
//! unsubscribe). A hard bounce suppresses the address, a soft one counts (and suppresses after
//! [`SOFT_BOUNCE_LIMIT`]), a complaint suppresses, an automatic reply changes nothing.

/// Soft bounces of one contact after which the address is suppressed.
pub const SOFT_BOUNCE_LIMIT: usize = 3;

/// What a report about a delivered (or not) message means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    /// The mailbox does not exist or refuses for good: suppress.
    Hard,
    /// Temporary (mailbox full, greylisting, timeout): count, retry later.
    Soft,
    /// An out-of-office or other automatic reply: nothing.
    AutoReply,
    /// The recipient reported the message as spam (a feedback loop): suppress.
    Complaint,
}

/// Classifies a report: the enhanced status code (`5.1.1`), the diagnostic text, the
/// `Auto-Submitted` header of a reply and the feedback type of an ARF report.
pub fn classify(
    status: Option<&str>,
    diagnostic: &str,
    auto_submitted: Option<&str>,
    feedback_type: Option<&str>,
) -> BounceKind {
    if feedback_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("abuse")) {
        return BounceKind::Complaint;
    }
    let diagnostic = diagnostic.to_lowercase();
    let automatic = auto_submitted
        .map(|a| a.trim().to_lowercase())
        .is_some_and(|a| !a.is_empty() && a != "no");
    if automatic
        || [
            "out of office",
            "out-of-office",
            "autoreply",
            "auto-reply",
            "automatic reply",
            "vacation",
        ]
        .iter()
        .any(|w| diagnostic.contains(w))
    {
        return BounceKind::AutoReply;
    }
    match status.map(str::trim) {
        // Mailbox full and message too large are temporary by nature, whatever the class.
        Some("5.2.2") | Some("5.3.4") => BounceKind::Soft,
        Some(s) if s.starts_with('5') => BounceKind::Hard,
        Some(s) if s.starts_with('4') => BounceKind::Soft,
        _ if diagnostic.contains("user unknown") || diagnostic.contains("no such user") => {
            BounceKind::Hard
        }
        _ => BounceKind::Soft,
    }
}

#[cfg(test)]
mod tests {
    use super::BounceKind::*;
    use super::*;

    /// status, diagnostic, Auto-Submitted, feedback type, expected class.
    type Row<'a> = (
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        BounceKind,
    );

    #[test]
    fn the_classifier_table() {
        let table: &[Row] = &[
            (Some("5.1.1"), "550 5.1.1 user unknown", None, None, Hard),
            (Some("5.7.1"), "rejected by policy", None, None, Hard),
            (Some("5.2.2"), "mailbox full", None, None, Soft),
            (Some("4.4.7"), "delivery time expired", None, None, Soft),
            (Some("4.7.1"), "greylisted, try again", None, None, Soft),
            (
                None,
                "I am out of office until Monday",
                None,
                None,
                AutoReply,
            ),
            (
                None,
                "Re: Spring offer",
                Some("auto-replied"),
                None,
                AutoReply,
            ),
            (
                Some("5.1.1"),
                "Automatic reply: on vacation",
                None,
                None,
                AutoReply,
            ),
            (None, "Re: Spring offer", Some("no"), None, Soft),
            (None, "no such user here", None, None, Hard),
            (None, "", None, Some("abuse"), Complaint),
        ];
        for (status, diagnostic, auto, feedback, want) in table {
            assert_eq!(
                classify(*status, diagnostic, *auto, *feedback),
                *want,
                "{status:?} {diagnostic}"
            );
        }
    }
}
