//! Pipelines and opportunities: stages with a win probability and a rotting time, the
//! opportunity's lifecycle (`open -> won / lost`, a reason required to lose, reopening an
//! explicit transition) and the board's arithmetic (per-stage totals, the weighted forecast).

use std::collections::BTreeMap;

use erp_kit::{Reason, RuleViolation};

use super::reasons;

/// The most stages a pipeline has.
pub const MAX_STAGES: usize = 20;

/// The most cards a board column shows per page: the board's columns are at most
/// [`MAX_STAGES`], so a full page of every column stays bounded (6 x 50 on a usual board);
/// more of a column are paged with its cursor.
pub const MAX_CARDS_PER_COLUMN: u64 = 50;

/// A stage as a pipeline is set up with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    pub name: String,
    /// Percent, 0 to 100.
    pub probability: i32,
    /// Days in the stage after which an open opportunity rots (is flagged on the board).
    pub rotting_days: Option<i32>,
}

/// Checks a pipeline's stages: 1 to [`MAX_STAGES`], distinct names (case-insensitive),
/// probabilities 0 to 100, rotting days 1 to 3650. The failing input field and message.
pub fn check_stages(stages: &[StageSpec]) -> Result<(), (String, String)> {
    if stages.is_empty() || stages.len() > MAX_STAGES {
        return Err((
            "stages".into(),
            format!("a pipeline has 1 to {MAX_STAGES} stages"),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (index, stage) in stages.iter().enumerate() {
        check_probability(stage.probability)
            .map_err(|message| (format!("stages[{index}].probability"), message))?;
        if let Some(days) = stage.rotting_days {
            if !(1..=3650).contains(&days) {
                return Err((
                    format!("stages[{index}].rottingDays"),
                    "rotting days are 1 to 3650".into(),
                ));
            }
        }
        if !names.insert(stage.name.to_lowercase()) {
            return Err((
                format!("stages[{index}].name"),
                format!("two stages are called `{}`", stage.name),
            ));
        }
    }
    Ok(())
}

/// A win probability: 0 to 100 percent.
pub fn check_probability(probability: i32) -> Result<(), String> {
    if (0..=100).contains(&probability) {
        Ok(())
    } else {
        Err("a probability is 0 to 100 (percent)".into())
    }
}

/// Where an opportunity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpportunityStatus {
    /// In a stage of its pipeline.
    Open,
    Won,
    Lost,
}

impl OpportunityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "open" => Some(OpportunityStatus::Open),
            "won" => Some(OpportunityStatus::Won),
            "lost" => Some(OpportunityStatus::Lost),
            _ => None,
        }
    }
}

/// A change of an opportunity's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpportunityChange {
    /// To another stage of its pipeline (or an edit of an open one).
    Move,
    Win,
    Lose,
    Reopen,
}

/// What the lifecycle refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpportunityRule {
    /// Won and lost are terminal: only an explicit reopen changes them.
    Closed(OpportunityStatus),
    /// Only a won or lost opportunity is reopened.
    NotClosed,
    /// Losing needs a reason.
    LossReasonRequired,
}

impl RuleViolation for OpportunityRule {
    fn reason(&self) -> Reason {
        match self {
            OpportunityRule::Closed(_) => reasons::OPPORTUNITY_CLOSED,
            OpportunityRule::NotClosed => reasons::OPPORTUNITY_NOT_CLOSED,
            OpportunityRule::LossReasonRequired => reasons::REASON_REQUIRED,
        }
    }

    fn message(&self) -> String {
        match self {
            OpportunityRule::Closed(status) => {
                format!("the opportunity is {}: reopen it first", status.as_str())
            }
            OpportunityRule::NotClosed => "only a won or lost opportunity is reopened".into(),
            OpportunityRule::LossReasonRequired => "losing an opportunity needs a reason".into(),
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            OpportunityRule::LossReasonRequired => Some("reason"),
            _ => None,
        }
    }
}

/// The status after `change` of an opportunity in `status` (`reason` given for a loss).
pub fn apply_change(
    status: OpportunityStatus,
    change: OpportunityChange,
    reason: Option<&str>,
) -> Result<OpportunityStatus, OpportunityRule> {
    use OpportunityStatus::*;
    match change {
        OpportunityChange::Reopen => match status {
            Won | Lost => Ok(Open),
            Open => Err(OpportunityRule::NotClosed),
        },
        _ if status != Open => Err(OpportunityRule::Closed(status)),
        OpportunityChange::Move => Ok(Open),
        OpportunityChange::Win => Ok(Won),
        OpportunityChange::Lose => {
            if reason.is_some_and(|reason| !reason.trim().is_empty()) {
                Ok(Lost)
            } else {
                Err(OpportunityRule::LossReasonRequired)
            }
        }
    }
}

/// `amount * probability / 100`, rounded half away from zero (minor units).
pub fn weighted(amount_minor: i64, probability: i32) -> i64 {
    let product = i128::from(amount_minor) * i128::from(probability);
    let rounded = if product >= 0 {
        (product + 50) / 100
    } else {
        (product - 50) / 100
    };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Whether an open opportunity has sat in its stage longer than the stage's rotting time.
pub fn is_rotting(stage_entered_at_ms: i64, rotting_days: Option<i32>, now_ms: i64) -> bool {
    match rotting_days {
        Some(days) => now_ms - stage_entered_at_ms > i64::from(days) * 86_400_000,
        None => false,
    }
}

/// One row of the cached totals: open opportunities of one owner in one stage and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsRow {
    pub stage_id: String,
    pub currency: String,
    pub count: i64,
    pub amount_minor: i64,
}

/// A stage's totals on the board, per currency (amounts of different currencies are never
/// added up: there is no conversion rate to apply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageTotals {
    pub count: i64,
    /// currency -> Σ amount.
    pub amounts: BTreeMap<String, i64>,
    /// currency -> Σ amount × the stage's probability.
    pub weighted: BTreeMap<String, i64>,
}

/// The board's totals per stage from the cached rows of the owners a viewer may see (the
/// rows of other owners are never passed in: C7), with each stage's probability.
pub fn board_totals(
    rows: &[TotalsRow],
    probability_of: impl Fn(&str) -> Option<i32>,
) -> BTreeMap<String, StageTotals> {
    let mut stages: BTreeMap<String, StageTotals> = BTreeMap::new();
    for row in rows {
        let Some(probability) = probability_of(&row.stage_id) else {
            continue;
        };
        let totals = stages.entry(row.stage_id.clone()).or_default();
        totals.count += row.count;
        *totals.amounts.entry(row.currency.clone()).or_default() += row.amount_minor;
        // Weighted per stage sum: the probability applies to the stage's total.
        let amount = totals.amounts[&row.currency];
        totals
            .weighted
            .insert(row.currency.clone(), weighted(amount, probability));
    }
    stages
}

/// Σ over stages, per currency.
pub fn sum_by_currency<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, i64>>,
) -> BTreeMap<String, i64> {
    let mut sum = BTreeMap::new();
    for map in maps {
        for (currency, amount) in map {
            *sum.entry(currency.clone()).or_default() += amount;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, probability: i32) -> StageSpec {
        StageSpec {
            name: name.into(),
            probability,
            rotting_days: None,
        }
    }

    #[test]
    fn stages_are_checked() {
        assert!(check_stages(&[stage("Lead", 10), stage("Won", 100)]).is_ok());
        assert_eq!(check_stages(&[]).unwrap_err().0, "stages");
        assert_eq!(
            check_stages(&[stage("A", 10), stage("a", 20)])
                .unwrap_err()
                .0,
            "stages[1].name"
        );
        assert_eq!(
            check_stages(&[stage("A", 101)]).unwrap_err().0,
            "stages[0].probability"
        );
        assert_eq!(
            check_stages(&[stage("A", -1)]).unwrap_err().0,
            "stages[0].probability"
        );
        let mut rotting = stage("A", 10);
        rotting.rotting_days = Some(0);
        assert_eq!(
            check_stages(&[rotting]).unwrap_err().0,
            "stages[0].rottingDays"
        );
    }

    /// Every (status, change) pair: won and lost are terminal except for a reopen, a loss
    /// needs a reason, only a closed opportunity reopens (C1).
    #[test]
    fn the_opportunity_state_machine() {
        use OpportunityChange::*;
        use OpportunityStatus::*;
        for status in [Open, Won, Lost] {
            for change in [Move, Win, Lose, Reopen] {
                for reason in [None, Some(""), Some("price")] {
                    let result = apply_change(status, change, reason);
                    let expected = match (status, change) {
                        (Open, Move) => Ok(Open),
                        (Open, Win) => Ok(Won),
                        (Open, Lose) if reason == Some("price") => Ok(Lost),
                        (Open, Lose) => Err(OpportunityRule::LossReasonRequired),
                        (Open, Reopen) => Err(OpportunityRule::NotClosed),
                        (Won | Lost, Reopen) => Ok(Open),
                        (closed, _) => Err(OpportunityRule::Closed(closed)),
                    };
                    assert_eq!(result, expected, "{status:?} {change:?} {reason:?}");
                }
            }
        }
    }

    #[test]
    fn weighting_and_rotting() {
        assert_eq!(weighted(10_000, 25), 2_500);
        assert_eq!(weighted(333, 50), 167);
        assert_eq!(weighted(-333, 50), -167);
        assert_eq!(weighted(100, 0), 0);
        let day = 86_400_000;
        assert!(is_rotting(0, Some(3), 3 * day + 1));
        assert!(!is_rotting(0, Some(3), 3 * day));
        assert!(!is_rotting(0, None, 100 * day));
    }

    #[test]
    fn board_totals_per_stage_and_currency() {
        let rows = vec![
            TotalsRow {
                stage_id: "s1".into(),
                currency: "EUR".into(),
                count: 2,
                amount_minor: 1_000,
            },
            TotalsRow {
                stage_id: "s1".into(),
                currency: "EUR".into(),
                count: 1,
                amount_minor: 500,
            },
            TotalsRow {
                stage_id: "s1".into(),
                currency: "USD".into(),
                count: 1,
                amount_minor: 700,
            },
            TotalsRow {
                stage_id: "s2".into(),
                currency: "EUR".into(),
                count: 1,
                amount_minor: 2_000,
            },
            TotalsRow {
                stage_id: "gone".into(),
                currency: "EUR".into(),
                count: 9,
                amount_minor: 9,
            },
        ];
        let totals = board_totals(&rows, |stage| match stage {
            "s1" => Some(10),
            "s2" => Some(50),
            _ => None,
        });
        assert_eq!(totals.len(), 2);
        assert_eq!(totals["s1"].count, 4);
        assert_eq!(totals["s1"].amounts["EUR"], 1_500);
        assert_eq!(totals["s1"].weighted["EUR"], 150);
        assert_eq!(totals["s1"].weighted["USD"], 70);
        let forecast = sum_by_currency(totals.values().map(|t| &t.weighted));
        assert_eq!(forecast["EUR"], 150 + 1_000);
    }
}
