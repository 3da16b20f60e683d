//! Marketing domain types and rules: pure, no GraphQL, no database. A broken rule is reported as
//! one of the [`reasons`] (with the kit's code beside it).

pub mod ab_test;
pub mod bounce;
pub mod campaign;
pub mod contact;
pub mod form;
pub mod journey;
pub mod segment;
pub mod social;
pub mod template;
pub mod throttle;
pub mod token;
pub mod webhook;

erp_kit::reasons! {
    /// The marketing domain's rules, each reported as `extensions.reason` beside the kit's
    /// `extensions.code` (the error catalogue, schema/errors.json, lists them).
    pub mod reasons {
        /// The e-mail address is not an address (`local@domain`, no spaces, at most 254
        /// characters).
        INVALID_EMAIL => BadUserInput,
        /// A record with the same unique value exists in the tenant (a topic key, a list
        /// member).
        ALREADY_EXISTS => Conflict,
        /// The address is on the suppression list (the contact unsubscribed, was erased,
        /// bounced hard or complained): only the contact's own confirmed re-opt-in lifts it,
        /// never a staff action.
        CONTACT_SUPPRESSED => Forbidden,
        /// The contact was erased (GDPR): nothing about them can change any more.
        CONTACT_ERASED => Conflict,
        /// The double opt-in confirmation link is unknown or was used already.
        OPT_IN_INVALID => BadUserInput,
        /// The double opt-in confirmation link is genuine but has expired: the contact asks
        /// again (submits the form again), nothing was confirmed.
        OPT_IN_EXPIRED => Unauthenticated,
        /// A signed link (one-click unsubscribe, tracking) does not verify or has expired.
        TOKEN_INVALID => Unauthenticated,
        /// The segment's filter tree is malformed: an empty group, a condition with none or
        /// several of its kinds set, too deep, or an unknown field or topic.
        SEGMENT_FILTER_INVALID => BadUserInput,
        /// The segment would include itself, directly or through other segments.
        SEGMENT_CYCLE => Conflict,
        /// Static list members are added to static lists only; a dynamic segment's members come
        /// from its filter.
        SEGMENT_NOT_STATIC => Conflict,
        /// The template uses a token that does not exist (`{{first_name}}`, `{{last_name}}`,
        /// `{{email}}`, `{{country}}`, `{{unsubscribe_url}}` do), or a token is not closed.
        TEMPLATE_UNKNOWN_TOKEN => BadUserInput,
        /// A campaign sends bulk templates, the transactional stream transactional ones.
        TEMPLATE_KIND_MISMATCH => Conflict,
        /// The campaign moves draft -> scheduled -> sending -> sent, sending <-> paused, and to
        /// cancelled from any state before sent; any other change is refused.
        CAMPAIGN_TRANSITION_NOT_ALLOWED => Conflict,
        /// Only a draft or scheduled campaign is edited: once sending (or paused, sent,
        /// cancelled) its content and audience are fixed.
        CAMPAIGN_NOT_EDITABLE => Conflict,
        /// A web form's definition is refused: no required `email` field, a field listed
        /// twice, a consent wording without its version (or the reverse), a required consent
        /// without a wording, a per-client limit out of range.
        FORM_INVALID => BadUserInput,
        /// The form key a website posted to names no form (or was mistyped).
        FORM_KEY_INVALID => Unauthenticated,
        /// The form was closed: it takes no more submissions.
        FORM_CLOSED => Conflict,
        /// A submission is refused: a field the form does not show, a field sent twice, a
        /// required field empty, a value too long or with control characters, a bad phone
        /// number or website, a body that is not form data or JSON (`extensions.field` names
        /// the field).
        FORM_SUBMISSION_INVALID => BadUserInput,
        /// The form requires the consent to marketing e-mail and the box was not ticked.
        FORM_CONSENT_REQUIRED => BadUserInput,
        /// A request body over the endpoint's limit (a form submission, a webhook call).
        BODY_TOO_LARGE => BadUserInput,
        /// Too many submissions of this form from one client address in a minute
        /// (`retryAfter` says when to try again).
        FORM_RATE_LIMITED => RateLimited,
        /// A sending limit out of range (1 to 1,000,000 a minute), or a per-domain cap above
        /// the tenant's rate.
        SENDING_LIMIT_INVALID => BadUserInput,
        /// A sending provider names an SMTP relay this deployment does not have (`mailRelays`
        /// lists the named relays it has; none: the default relay).
        PROVIDER_RELAY_UNKNOWN => BadUserInput,
        /// The tenant's default sending provider goes through a named SMTP relay this
        /// deployment no longer has (its configuration changed): transactional mail is refused
        /// and double opt-in confirmations wait for the sender's retry, never sent through
        /// another relay, until the operator restores the relay or staff pick another.
        PROVIDER_RELAY_MISSING => Conflict,
        /// A mail provider webhook call without a readable timestamp or a signature that
        /// verifies under the tenant's secrets in force (on the deprecated legacy URL: the
        /// deployment-wide secret).
        WEBHOOK_SIGNATURE_INVALID => Unauthenticated,
        /// A mail provider webhook call signed too long ago (or ahead): a replay is refused.
        WEBHOOK_TIMESTAMP_STALE => Unauthenticated,
        /// A webhook secret rotation whose overlap (how long the previous secret still
        /// verifies) is negative or over a week.
        WEBHOOK_ROTATION_INVALID => BadUserInput,
        /// A mail provider webhook body that is not the documented event batch (an unknown
        /// event type, an empty tenant, an event of another tenant on a tenant's URL, too
        /// many events, an over-long field).
        WEBHOOK_PAYLOAD_INVALID => BadUserInput,
        /// A campaign's A/B test is refused: fewer than 2 or more than 5 variants, a template
        /// twice, a variant that is not a bulk template, a test share out of 1 to 100 percent,
        /// a wait out of 0 to 7 days.
        AB_TEST_INVALID => BadUserInput,
        /// The winner of an A/B test is chosen while its test runs: not before the campaign
        /// sends, not twice, not for a campaign without a test.
        AB_WINNER_NOT_ALLOWED => Conflict,
        /// A journey is refused: no steps or more than 20, a wait out of 1 minute to 90 days,
        /// a condition on the previous message with no message before it, a trigger without
        /// its segment, an event name that is not 1 to 64 characters of a-z, 0-9, `_`, `.`,
        /// `-`.
        JOURNEY_INVALID => BadUserInput,
        /// A journey moves draft -> active <-> paused, and to archived from any other state.
        JOURNEY_TRANSITION_NOT_ALLOWED => Conflict,
        /// An archived journey is not edited (its name and steps are fixed).
        JOURNEY_NOT_EDITABLE => Conflict,
        /// An allowed form origin is not `http(s)://host[:port]` (no path, query, user or
        /// wildcard), or more than 50 are listed.
        FORM_ORIGIN_INVALID => BadUserInput,
        /// A script on a page of this origin may not post the form: the tenant did not list
        /// the origin among those allowed to (setFormOrigins).
        FORM_ORIGIN_NOT_ALLOWED => Forbidden,
        /// A social channel account is refused: a handle that is empty, over 100 characters
        /// or with spaces.
        CHANNEL_ACCOUNT_INVALID => BadUserInput,
        /// The social channel account is disabled: none of its posts is scheduled or retried
        /// until it is enabled again (drafts are still written and edited).
        CHANNEL_ACCOUNT_DISABLED => Conflict,
        /// A social post needs a body (only spaces is empty).
        SOCIAL_POST_BODY_EMPTY => BadUserInput,
        /// A social post's body is longer than its channel takes (X 280, Mastodon 500,
        /// Instagram 2,200, LinkedIn 3,000, Facebook 63,206 characters).
        SOCIAL_POST_BODY_TOO_LONG => BadUserInput,
        /// A social post's link is not an absolute http(s) URL of at most 2,000 characters.
        SOCIAL_POST_LINK_INVALID => BadUserInput,
        /// A social post is scheduled for a time that has passed.
        SOCIAL_POST_SCHEDULE_IN_PAST => BadUserInput,
        /// A social post is edited only before it is handed to its channel: once publishing or
        /// published its body and link are what the network has.
        SOCIAL_POST_NOT_EDITABLE => Conflict,
        /// A social post moves draft -> scheduled -> publishing -> published / failed,
        /// scheduled -> draft, and failed -> scheduled by a retry; any other change is refused.
        SOCIAL_POST_TRANSITION_NOT_ALLOWED => Conflict,
    }
}
