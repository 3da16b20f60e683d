//! `mkt_messages`: one message of a campaign to one contact: the send key and the queue entry.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "mkt_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub campaign_id: String,
    pub contact_id: String,
    pub status: String,
    pub lease_until: Option<i64>,
    pub leased_by: Option<String>,
    pub attempts: i32,
    pub skip_reason: Option<String>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub handed_off_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    /// `hard` or `soft`: the latest bounce the provider reported.
    pub bounce_kind: Option<String>,
    pub bounced_at: Option<i64>,
    /// When the recipient reported it as spam.
    pub complained_at: Option<i64>,
    /// A message deferred by a full sending window is not leased before this time.
    pub not_before: Option<i64>,
    /// The limit that last deferred it (`tenant_minute`, `domain_minute`, `provider_second`,
    /// `provider_hour`, `provider_day`).
    pub deferred_by: Option<String>,
    /// The A/B variant it sends; `None`: the campaign's template (or, while `held`, the winner
    /// still to be chosen).
    pub variant_id: Option<String>,
    /// The journey it belongs to (its `campaign_id` is then the step's send key).
    pub journey_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
