//! A/B tests of campaigns: the variants written with the campaign, the audience split when it
//! starts (the test share round robin over the variants in a per-campaign shuffled order, the
//! rest `held`), the winner chosen by the sender once the wait is over and the test's messages
//! are marked (or by hand), its held messages then queued with the winner; the funnel of each
//! variant.
//!
//! Everything is in the database: a restarted or second sender picks up a test where it
//! stands (no timer in memory).

use erp_kit::{ApiError, ApiResult, TenantId};

use super::campaigns::{AbTestFields, Funnel};
use super::{not_found, now_ms, Marketing};
use crate::domain::ab_test::{self, AbTest, VariantResult, WinnerBy};
use crate::domain::campaign::CampaignStatus;
use crate::domain::reasons;
use crate::events::{self, CampaignWinnerChosen};
use crate::store::entities::{campaign, variant};
use crate::store::{campaigns, new_id, queue};

/// What a contact of a starting campaign gets: a variant of the test, or held for the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Assigned {
    Variant(String),
    Held,
}

/// The audience of a campaign with an A/B test, each contact with what it gets: the order is
/// shuffled per campaign (a hash of the campaign and the contact) so the test share is not
/// the oldest contacts, then the first [`ab_test::test_size`] go round robin over the
/// variants and the rest are held.
pub(crate) fn assign(
    campaign_id: &str,
    members: impl IntoIterator<Item = String>,
    test_percent: i32,
    variants: &[variant::Model],
) -> Vec<(String, Option<Assigned>)> {
    let mut order: Vec<(Vec<u8>, String)> = members
        .into_iter()
        .map(|contact| {
            let key = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                format!("{campaign_id}\u{0}{contact}").as_bytes(),
            );
            (key.as_ref().to_vec(), contact)
        })
        .collect();
    order.sort();
    if variants.is_empty() {
        return order.into_iter().map(|(_, c)| (c, None)).collect();
    }
    let tested = ab_test::test_size(order.len(), test_percent, variants.len());
    order
        .into_iter()
        .enumerate()
        .map(|(index, (_, contact))| {
            let assigned = if index < tested {
                Assigned::Variant(
                    variants[ab_test::variant_of(index, variants.len())]
                        .id
                        .clone(),
                )
            } else {
                Assigned::Held
            };
            (contact, Some(assigned))
        })
        .collect()
}

/// A variant with its funnel.
#[derive(Debug, Clone)]
pub struct VariantFunnel {
    pub variant: variant::Model,
    pub funnel: Funnel,
}

impl Marketing {
    /// Writes a campaign's A/B test (in the caller's transaction, the campaign's row locked):
    /// `Some(Some(test))` sets it, `Some(None)` removes it, `None` keeps the challengers there
    /// are but rewrites variant A when the campaign's template changed. Each challenger is a
    /// bulk template of the tenant (AB_TEST_INVALID otherwise).
    pub(crate) async fn write_ab_test(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        model: &mut campaign::Model,
        change: Option<Option<AbTestFields>>,
    ) -> ApiResult<()> {
        let fields = match change {
            Some(fields) => fields,
            None => {
                let Some(percent) = model.ab_test_percent else {
                    return Ok(());
                };
                let existing = campaigns::variants(db, tenant, &model.id).await?;
                Some(AbTestFields {
                    challengers: existing
                        .into_iter()
                        .skip(1)
                        .map(|v| v.template_id)
                        .collect(),
                    test_percent: percent,
                    winner_by: WinnerBy::parse(model.ab_winner_by.as_deref().unwrap_or("manual"))?,
                    wait_ms: model.ab_wait_ms.unwrap_or(0),
                })
            }
        };
        let Some(fields) = fields else {
            campaigns::replace_variants(db, tenant, &model.id, Vec::new()).await?;
            model.ab_test_percent = None;
            model.ab_winner_by = None;
            model.ab_wait_ms = None;
            return Ok(());
        };
        let mut templates = vec![model.template_id.clone()];
        templates.extend(fields.challengers);
        let test = AbTest::new(
            templates,
            fields.test_percent,
            fields.winner_by,
            fields.wait_ms,
        )?;
        for template_id in &test.templates[1..] {
            self.check_bulk_template(db, tenant, template_id, "abTest.variants")
                .await?;
        }
        let rows = test
            .templates
            .iter()
            .enumerate()
            .map(|(position, template_id)| variant::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                campaign_id: model.id.clone(),
                label: ab_test::label(position),
                template_id: template_id.clone(),
                position: position as i32,
            })
            .collect();
        campaigns::replace_variants(db, tenant, &model.id, rows).await?;
        model.ab_test_percent = Some(test.test_percent);
        model.ab_winner_by = Some(test.winner_by.as_str().to_owned());
        model.ab_wait_ms = Some(test.wait_ms);
        Ok(())
    }

    /// A campaign's A/B variants, A first (none without a test).
    pub async fn campaign_variants(
        &self,
        tenant: &TenantId,
        campaign_id: &str,
    ) -> ApiResult<Vec<variant::Model>> {
        Ok(campaigns::variants(&self.db, tenant, campaign_id).await?)
    }

    /// The funnel of each of a campaign's A/B variants, A first: every message the variant
    /// sent (its share of the test and, for the winner, the rest of the audience), exact (the
    /// variants' funnels add up to the campaign's, held messages aside).
    pub async fn variant_funnels(
        &self,
        tenant: &TenantId,
        campaign_id: &str,
    ) -> ApiResult<Vec<VariantFunnel>> {
        let variants = campaigns::variants(&self.db, tenant, campaign_id).await?;
        if variants.is_empty() {
            return Ok(Vec::new());
        }
        let tallies = queue::tallies(&self.db, tenant, campaign_id).await?;
        let unsubscribed = queue::unsubscribes_by_variant(
            &self.db,
            tenant,
            campaign_id,
            &Self::one_click_source(campaign_id),
        )
        .await?;
        Ok(variants
            .into_iter()
            .map(|variant| {
                let mine = |id: &Option<String>| id.as_deref() == Some(variant.id.as_str());
                let mut funnel = Funnel::fold(tallies.iter().filter(|t| mine(&t.variant_id)));
                funnel.unsubscribed = unsubscribed
                    .iter()
                    .filter(|(id, _)| mine(id))
                    .map(|(_, n)| n)
                    .sum();
                VariantFunnel { variant, funnel }
            })
            .collect())
    }

    /// Chooses an A/B test's winner by hand (any test, before the sender chose one): the held
    /// messages are queued with it. AB_WINNER_NOT_ALLOWED for a campaign without a test, not
    /// sending (or paused) or whose winner is known.
    pub async fn choose_winner(
        &self,
        tenant: &TenantId,
        actor: &str,
        campaign_id: &str,
        variant_id: &str,
    ) -> ApiResult<campaign::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let model = campaigns::lock(&*txn, tenant, campaign_id)
            .await?
            .ok_or_else(|| not_found("campaign"))?;
        if model.ab_test_percent.is_none() {
            return Err(ApiError::rule(
                reasons::AB_WINNER_NOT_ALLOWED,
                "the campaign has no A/B test",
            ));
        }
        let status = CampaignStatus::parse(&model.status)?;
        if !matches!(status, CampaignStatus::Sending | CampaignStatus::Paused) {
            return Err(ApiError::rule(
                reasons::AB_WINNER_NOT_ALLOWED,
                format!(
                    "a {} campaign's test does not run: its winner is chosen while it sends",
                    status.as_str()
                ),
            ));
        }
        if model.ab_winner_variant_id.is_some() {
            return Err(ApiError::rule(
                reasons::AB_WINNER_NOT_ALLOWED,
                "the test's winner is chosen already",
            ));
        }
        let variant = campaigns::variant(&*txn, tenant, variant_id)
            .await?
            .filter(|v| v.campaign_id == model.id)
            .ok_or_else(|| ApiError::bad_input("variantId", "no such variant of the campaign"))?;
        let model = self
            .record_winner(&txn, tenant, model, &variant, WinnerBy::Manual, actor)
            .await?;
        self.commit(txn).await?;
        self.sender_wake.notify_waiters();
        Ok(model)
    }

    /// The sender's part: the winners of the automatic tests whose wait is over at `now` and
    /// whose test messages are all marked (none queued, leased or on the way to the relay).
    pub(crate) async fn decide_due_tests(&self, now: i64) -> ApiResult<usize> {
        let mut decided = 0;
        for candidate in campaigns::undecided_tests(&self.db, 50).await? {
            let wait_over = candidate
                .started_at
                .is_some_and(|at| at + candidate.ab_wait_ms.unwrap_or(0) <= now);
            if !wait_over {
                continue;
            }
            let tenant = TenantId::from_claim(&candidate.tenant_id);
            if queue::test_in_flight(&self.db, &tenant, &candidate.id, now).await? > 0 {
                continue;
            }
            let by = WinnerBy::parse(candidate.ab_winner_by.as_deref().unwrap_or("manual"))?;
            let variants = campaigns::variants(&self.db, &tenant, &candidate.id).await?;
            let tallies = queue::tallies(&self.db, &tenant, &candidate.id).await?;
            let results: Vec<VariantResult> = variants
                .iter()
                .map(|variant| {
                    let funnel = Funnel::fold(
                        tallies
                            .iter()
                            .filter(|t| t.variant_id.as_deref() == Some(variant.id.as_str())),
                    );
                    VariantResult {
                        sent: funnel.sent,
                        opened: funnel.opened,
                        clicked: funnel.clicked,
                    }
                })
                .collect();
            let Some(position) = ab_test::winner(&results, by) else {
                continue;
            };
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let Some(model) = campaigns::lock(&*txn, &tenant, &candidate.id).await? else {
                continue;
            };
            // A person may have chosen (or paused the campaign) meanwhile.
            if model.status != CampaignStatus::Sending.as_str()
                || model.ab_winner_variant_id.is_some()
            {
                continue;
            }
            self.record_winner(
                &txn,
                &tenant,
                model,
                &variants[position],
                by,
                "system:sender",
            )
            .await?;
            self.commit(txn).await?;
            decided += 1;
        }
        Ok(decided)
    }

    async fn record_winner(
        &self,
        txn: &erp_kit::db::WriteTransaction,
        tenant: &TenantId,
        mut model: campaign::Model,
        winner: &variant::Model,
        by: WinnerBy,
        actor: &str,
    ) -> ApiResult<campaign::Model> {
        let now = now_ms();
        let released = queue::release_held(&**txn, tenant, &model.id, &winner.id).await?;
        model.ab_winner_variant_id = Some(winner.id.clone());
        model.ab_decided_at = Some(now);
        model.version += 1;
        model.updated_at = now;
        let model = campaigns::update(&**txn, model).await?;
        self.enqueue(
            txn,
            tenant,
            events::CAMPAIGN_WINNER_CHOSEN,
            &model.id,
            actor,
            CampaignWinnerChosen {
                campaign_id: model.id.clone(),
                variant_id: winner.id.clone(),
                label: winner.label.clone(),
                chosen_by: by.as_str().to_owned(),
                released: i64::try_from(released).unwrap_or(i64::MAX),
            },
        )
        .await?;
        Ok(model)
    }
}
