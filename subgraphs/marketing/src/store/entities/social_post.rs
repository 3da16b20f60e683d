//! `mkt_social_posts`: a post for one channel account, and the publisher's queue row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_social_posts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub campaign_id: Option<String>,
    pub body: String,
    /// The link as entered (its UTM parameters are added when it goes out).
    pub link: Option<String>,
    /// The random key of the public click link.
    pub tracking_key: String,
    /// `domain::social::PostStatus`.
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub lease_until: Option<i64>,
    pub leased_by: Option<String>,
    /// Hand-offs to the adapter so far.
    pub attempts: i32,
    pub handed_off_at: Option<i64>,
    pub published_at: Option<i64>,
    /// The network's id of the published post.
    pub external_id: Option<String>,
    pub failure_reason: Option<String>,
    pub failed_at: Option<i64>,
    pub clicks: i64,
    pub version: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
