//! CRM domain types and rules: pure, no GraphQL, no database. A broken rule is a value of a
//! rule enum implementing [`erp_kit::RuleViolation`], reported as one of the [`reasons`].

pub mod client;
pub mod csv;
pub mod import;
pub mod lead;
pub mod matching;
pub mod pipeline;
pub mod quote;
pub mod visibility;

erp_kit::reasons! {
    /// The CRM domain's rules, each reported as `extensions.reason` beside the kit's
    /// `extensions.code` (the error catalogue, schema/errors.json, lists them).
    pub mod reasons {
        /// A record with the same unique value exists in the tenant (an external id, a price
        /// list item code, a pipeline name).
        ALREADY_EXISTS => Conflict,
        /// The lead is converted already (converting it twice, or changing it afterwards).
        LEAD_ALREADY_CONVERTED => Conflict,
        /// A lead moves new -> contacted -> qualified -> converted, or to disqualified (and
        /// back to new); any other change is refused.
        LEAD_TRANSITION_NOT_ALLOWED => Conflict,
        /// A client moves prospect -> active -> churned (a prospect may churn, a churned
        /// client may become active again); nothing goes back to prospect.
        CLIENT_TRANSITION_NOT_ALLOWED => Conflict,
        /// Disqualifying a lead or losing an opportunity needs a reason.
        REASON_REQUIRED => BadUserInput,
        /// The opportunity is won or lost: only an explicit reopen changes it.
        OPPORTUNITY_CLOSED => Conflict,
        /// Only a won or lost opportunity is reopened.
        OPPORTUNITY_NOT_CLOSED => Conflict,
        /// The stage belongs to another pipeline.
        STAGE_NOT_IN_PIPELINE => BadUserInput,
        /// The record changed since the version the caller read (`expectedVersion`).
        VERSION_CONFLICT => Conflict,
        /// The quote is accepted (or converted): it never changes again.
        QUOTE_LOCKED => Conflict,
        /// Only a draft quote version is edited: revise a sent one to make a new version.
        QUOTE_NOT_DRAFT => Conflict,
        /// The quote expired at the end of its valid-until day in the tenant's time zone.
        QUOTE_EXPIRED => Conflict,
        /// A newer version of the quote replaced the one acted on.
        QUOTE_SUPERSEDED => Conflict,
        /// Any other quote status change the lifecycle (draft -> sent -> accepted / declined /
        /// expired, accepted -> converted) does not allow.
        QUOTE_TRANSITION_NOT_ALLOWED => Conflict,
        /// The content hash given with an acceptance is not the hash of the version (or
        /// proposal) on record: the client was shown something else.
        CONTENT_HASH_MISMATCH => Conflict,
        /// A proposal moves draft -> sent -> accepted / rejected; any other change is refused.
        PROPOSAL_TRANSITION_NOT_ALLOWED => Conflict,
        /// A quote line's currency differs from the quote's (its price list is in another
        /// currency).
        CURRENCY_MISMATCH => BadUserInput,
        /// A record cannot be merged into itself.
        MERGE_INTO_ITSELF => BadUserInput,
        /// The merge is refused: the records are of different kinds, one was merged already,
        /// a lead is converted, or the merge was undone already.
        MERGE_NOT_ALLOWED => Conflict,
        /// The import file's header cannot be imported (unknown or repeated column, no key
        /// column, no name column).
        IMPORT_BAD_HEADER => BadUserInput,
    }
}
