//! Segments: the filter tree input, static lists, membership, the rebuild.

use crate::app::Marketing;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::ApiError;

use super::context::caller;
use super::objects::{MarketingContact, MarketingContactStatus, Segment, SegmentKind};
use crate::app::segments::SegmentKind as AppSegmentKind;
use crate::domain::contact::ContactStatus;
use crate::domain::reasons;
use crate::domain::segment::{BehaviourKind, ContactField, FieldOp, Filter};

/// A contact field a condition reads.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MarketingContactField {
    /// The normalised address.
    Email,
    /// Given name.
    FirstName,
    /// Family name.
    LastName,
    /// Country code.
    Country,
    /// The linked CRM person's id.
    CrmPersonId,
}

/// How a field condition compares (ignoring case).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FieldOperator {
    /// The whole value is equal.
    Equals,
    /// The value contains the text.
    Contains,
    /// The value ends with the text (`@example.com`).
    EndsWith,
    /// The field has a value (the condition's value is ignored).
    IsSet,
}

/// A behaviour event.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BehaviourEvent {
    /// Opened a message.
    Opened,
    /// Clicked a link in a message.
    Clicked,
}

/// A condition on a contact field.
#[derive(InputObject)]
pub struct FieldConditionInput {
    /// The field.
    pub field: MarketingContactField,
    /// The comparison.
    pub operator: FieldOperator,
    /// The text compared with (not for IS_SET).
    #[graphql(default)]
    pub value: String,
}

/// A condition on behaviour.
#[derive(InputObject)]
pub struct BehaviourConditionInput {
    /// What the contact did.
    pub event: BehaviourEvent,
    /// In this campaign only.
    pub campaign_id: Option<ID>,
}

/// A node of a segment's filter tree: exactly one of its fields is set.
#[derive(InputObject)]
pub struct SegmentFilterInput {
    /// Every condition matches.
    pub all: Option<Vec<SegmentFilterInput>>,
    /// At least one condition matches.
    pub any: Option<Vec<SegmentFilterInput>>,
    /// The condition does not match.
    pub not: Option<Box<SegmentFilterInput>>,
    /// A contact field condition.
    pub field: Option<FieldConditionInput>,
    /// The contact's status is this one.
    pub status: Option<MarketingContactStatus>,
    /// The contact is subscribed to this topic (its key).
    pub topic: Option<String>,
    /// The contact holds a granted consent for this purpose.
    pub consent: Option<String>,
    /// A behaviour condition.
    pub behaviour: Option<BehaviourConditionInput>,
    /// The contact is a member of this segment (segments of segments; no cycles).
    pub in_segment: Option<ID>,
}

impl SegmentFilterInput {
    fn into_filter(self) -> Result<Filter, ApiError> {
        let set = [
            self.all.is_some(),
            self.any.is_some(),
            self.not.is_some(),
            self.field.is_some(),
            self.status.is_some(),
            self.topic.is_some(),
            self.consent.is_some(),
            self.behaviour.is_some(),
            self.in_segment.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set != 1 {
            return Err(ApiError::rule(
                reasons::SEGMENT_FILTER_INVALID,
                "each filter node sets exactly one of all, any, not, field, status, topic, consent, behaviour, inSegment",
            )
            .on_field("filter"));
        }
        let children = |of: Vec<SegmentFilterInput>| -> Result<Vec<Filter>, ApiError> {
            of.into_iter()
                .map(SegmentFilterInput::into_filter)
                .collect()
        };
        Ok(if let Some(of) = self.all {
            Filter::All { of: children(of)? }
        } else if let Some(of) = self.any {
            Filter::Any { of: children(of)? }
        } else if let Some(of) = self.not {
            Filter::Not {
                of: Box::new(of.into_filter()?),
            }
        } else if let Some(field) = self.field {
            Filter::Field {
                field: match field.field {
                    MarketingContactField::Email => ContactField::Email,
                    MarketingContactField::FirstName => ContactField::FirstName,
                    MarketingContactField::LastName => ContactField::LastName,
                    MarketingContactField::Country => ContactField::Country,
                    MarketingContactField::CrmPersonId => ContactField::CrmPersonId,
                },
                op: match field.operator {
                    FieldOperator::Equals => FieldOp::Equals,
                    FieldOperator::Contains => FieldOp::Contains,
                    FieldOperator::EndsWith => FieldOp::EndsWith,
                    FieldOperator::IsSet => FieldOp::IsSet,
                },
                value: field.value,
            }
        } else if let Some(status) = self.status {
            Filter::Status {
                status: ContactStatus::from(status).as_str().to_owned(),
            }
        } else if let Some(topic) = self.topic {
            Filter::Topic { topic }
        } else if let Some(purpose) = self.consent {
            Filter::Consent { purpose }
        } else if let Some(behaviour) = self.behaviour {
            Filter::Behaviour {
                event: match behaviour.event {
                    BehaviourEvent::Opened => BehaviourKind::Opened,
                    BehaviourEvent::Clicked => BehaviourKind::Clicked,
                },
                campaign_id: behaviour.campaign_id.map(|id| id.0),
            }
        } else {
            Filter::InSegment {
                segment_id: self.in_segment.map(|id| id.0).unwrap_or_default(),
            }
        })
    }
}

/// A new segment.
#[derive(InputObject)]
pub struct CreateSegmentInput {
    /// Its name.
    pub name: String,
    /// Dynamic (with a filter) or static (a list).
    pub kind: SegmentKind,
    /// The filter tree (dynamic segments only).
    pub filter: Option<SegmentFilterInput>,
}

/// A dynamic segment's new filter.
#[derive(InputObject)]
pub struct UpdateSegmentFilterInput {
    /// The segment.
    pub segment_id: ID,
    /// The new filter tree.
    pub filter: SegmentFilterInput,
}

/// A contact to add to (or take off) a static list.
#[derive(InputObject)]
pub struct SetListMemberInput {
    /// The static list.
    pub segment_id: ID,
    /// The contact.
    pub contact_id: ID,
    /// Member (true) or not.
    pub member: bool,
}

/// What a rebuild found.
#[derive(SimpleObject)]
pub struct SegmentRebuild {
    /// Segments rebuilt.
    pub segments: i64,
    /// Memberships in total.
    pub members: i64,
    /// Memberships the incrementally kept state had wrong (0 when it was right), now fixed.
    pub differences: i64,
}

#[derive(Default)]
pub struct SegmentsQuery;

#[Object]
impl SegmentsQuery {
    /// A segment.
    #[graphql(requires_scopes = "marketing:read")]
    async fn segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment's id.")] id: ID,
    ) -> Result<Option<Segment>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .segment(&tenant, &id)
            .await?
            .map(Into::into))
    }

    /// Every segment of the tenant.
    #[graphql(requires_scopes = "marketing:read")]
    async fn segments(&self, ctx: &Context<'_>) -> Result<Vec<Segment>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .segments(&tenant)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A segment's members, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn segment_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment's id.")] segment_id: ID,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, MarketingContact, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let marketing = ctx.use_cases::<Marketing>()?;
        let ids = marketing
            .segment_member_ids(&tenant, &segment_id, &page)
            .await?;
        let found = marketing.contacts_by_ids(&tenant, &ids).await?;
        let rows = ids
            .iter()
            .filter_map(|id| found.get(id).cloned())
            .map(|model| MarketingContact { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |c| c.model.id.clone()))
    }
}

#[derive(Default)]
pub struct SegmentsMutation;

#[Object]
impl SegmentsMutation {
    /// Creates a segment; its membership is computed at once and kept up to date.
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment.")] input: CreateSegmentInput,
    ) -> Result<Segment> {
        let (tenant, _) = caller(ctx)?;
        let filter = input
            .filter
            .map(SegmentFilterInput::into_filter)
            .transpose()?;
        let kind = match input.kind {
            SegmentKind::Dynamic => AppSegmentKind::Dynamic,
            SegmentKind::Static => AppSegmentKind::Static,
        };
        Ok(ctx
            .use_cases::<Marketing>()?
            .create_segment(&tenant, &input.name, kind, filter)
            .await?
            .into())
    }

    /// Replaces a dynamic segment's filter (SEGMENT_CYCLE when it would include itself).
    #[graphql(requires_scopes = "marketing:write")]
    async fn update_segment_filter(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The segment and its filter.")] input: UpdateSegmentFilterInput,
    ) -> Result<Segment> {
        let (tenant, _) = caller(ctx)?;
        let filter = input.filter.into_filter()?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .update_segment_filter(&tenant, &input.segment_id, filter)
            .await?
            .into())
    }

    /// Adds a contact to a static list, or takes it off.
    #[graphql(requires_scopes = "marketing:write")]
    async fn set_list_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The list and the contact.")] input: SetListMemberInput,
    ) -> Result<Segment> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .set_list_member(&tenant, &input.segment_id, &input.contact_id, input.member)
            .await?
            .into())
    }

    /// Rebuilds every segment's membership from scratch (the oracle of the incremental path)
    /// and reports what differed.
    #[graphql(requires_scopes = "marketing:write")]
    async fn rebuild_segments(&self, ctx: &Context<'_>) -> Result<SegmentRebuild> {
        let (tenant, _) = caller(ctx)?;
        let report = ctx
            .use_cases::<Marketing>()?
            .rebuild_segments(&tenant)
            .await?;
        Ok(SegmentRebuild {
            segments: report.segments as i64,
            members: report.members as i64,
            differences: report.differences as i64,
        })
    }
}
