//! A/B tests of campaigns: 2 to 5 variants (A is the campaign's own template, B, C, ... the
//! challengers), a test share of the audience split evenly between them, and the winner (by
//! open rate, by click rate, or by hand) sent to the rest. Pure rules: the settings' bounds,
//! who is in the test and with which variant, which variant won.

use erp_kit::{ApiError, ApiResult};

use super::contact::string_enum;
use super::reasons;

/// At most this many variants (A plus four challengers).
pub const MAX_VARIANTS: usize = 5;
/// The longest wait before the winner is chosen: a week.
pub const MAX_WAIT_MS: i64 = 7 * 24 * 3600 * 1000;

string_enum! {
    /// How a test's winner is chosen.
    WinnerBy {
        OpenRate => "open_rate",
        ClickRate => "click_rate",
        Manual => "manual",
    }
}

/// A campaign's A/B test, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbTest {
    /// The templates of the variants, A first (the campaign's own template).
    pub templates: Vec<String>,
    /// The share of the audience in the test, 1 to 100 percent (100: no winner phase, the
    /// whole audience is split).
    pub test_percent: i32,
    pub winner_by: WinnerBy,
    /// How long after the start the winner is chosen (automatic winners only).
    pub wait_ms: i64,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::AB_TEST_INVALID, message.into())
}

impl AbTest {
    /// The test, or AB_TEST_INVALID: fewer than 2 or more than [`MAX_VARIANTS`] variants, a
    /// template twice, a share out of 1..=100, a wait out of 0..=a week.
    pub fn new(
        templates: Vec<String>,
        test_percent: i32,
        winner_by: WinnerBy,
        wait_ms: i64,
    ) -> ApiResult<Self> {
        if templates.len() < 2 || templates.len() > MAX_VARIANTS {
            return Err(invalid(format!(
                "an A/B test has 2 to {MAX_VARIANTS} variants (the campaign's template and 1 to {} more), not {}",
                MAX_VARIANTS - 1,
                templates.len()
            ))
            .on_field("abTest.variants"));
        }
        for (i, template) in templates.iter().enumerate() {
            if templates[..i].contains(template) {
                return Err(invalid(format!(
                    "template {template} is two variants: each variant is another template"
                ))
                .on_field("abTest.variants"));
            }
        }
        if !(1..=100).contains(&test_percent) {
            return Err(invalid(format!(
                "the test share is 1 to 100 percent of the audience, not {test_percent}"
            ))
            .on_field("abTest.testPercent"));
        }
        if !(0..=MAX_WAIT_MS).contains(&wait_ms) {
            return Err(
                invalid("the wait before choosing the winner is 0 to 7 days")
                    .on_field("abTest.waitMinutes"),
            );
        }
        Ok(Self {
            templates,
            test_percent,
            winner_by,
            wait_ms,
        })
    }
}

/// A variant's label by its position: A, B, C, ...
pub fn label(position: usize) -> String {
    char::from(b'A' + (position % 26) as u8).to_string()
}

/// How many of `audience` contacts the test goes to: the share rounded up, at least one per
/// variant (a variant with nobody measures nothing), never more than the audience.
pub fn test_size(audience: usize, test_percent: i32, variants: usize) -> usize {
    let share = (audience * test_percent.clamp(0, 100) as usize).div_ceil(100);
    share.max(variants).min(audience)
}

/// The variant (by position) of the `index`-th contact of the test: round robin, so the
/// variants' sizes differ by at most one.
pub fn variant_of(index: usize, variants: usize) -> usize {
    index % variants.max(1)
}

/// What a variant's test messages did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VariantResult {
    pub sent: i64,
    pub opened: i64,
    pub clicked: i64,
}

impl VariantResult {
    /// The rate the winner is chosen by, as a fraction (0 when nothing was sent).
    pub fn rate(&self, by: WinnerBy) -> f64 {
        let part = match by {
            WinnerBy::ClickRate => self.clicked,
            _ => self.opened,
        };
        if self.sent <= 0 {
            0.0
        } else {
            part as f64 / self.sent as f64
        }
    }
}

/// The winning variant's position: the highest rate; a tie goes to the earlier variant (A,
/// the campaign's own template, keeps its place unless a challenger does better). `None` for
/// a manual test (a person chooses) or no variants.
pub fn winner(results: &[VariantResult], by: WinnerBy) -> Option<usize> {
    if by == WinnerBy::Manual {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for (position, result) in results.iter().enumerate() {
        let rate = result.rate(by);
        if best.is_none_or(|(_, best_rate)| rate > best_rate) {
            best = Some((position, rate));
        }
    }
    best.map(|(position, _)| position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tpl{i}")).collect()
    }

    #[test]
    fn settings_are_bounded() {
        assert!(AbTest::new(templates(2), 20, WinnerBy::OpenRate, 3_600_000).is_ok());
        assert!(AbTest::new(templates(5), 100, WinnerBy::Manual, 0).is_ok());
        for (templates, percent, wait) in [
            (templates(1), 20, 0),
            (templates(6), 20, 0),
            (vec!["a".into(), "a".into()], 20, 0),
            (templates(2), 0, 0),
            (templates(2), 101, 0),
            (templates(2), 20, -1),
            (templates(2), 20, MAX_WAIT_MS + 1),
        ] {
            let err = AbTest::new(templates.clone(), percent, WinnerBy::ClickRate, wait)
                .expect_err("refused");
            assert_eq!(
                err.reason(),
                Some(reasons::AB_TEST_INVALID),
                "{templates:?}"
            );
        }
    }

    #[test]
    fn the_test_share_is_split_evenly() {
        assert_eq!(test_size(100, 20, 2), 20);
        assert_eq!(test_size(101, 20, 2), 21);
        assert_eq!(test_size(3, 10, 2), 2, "at least one per variant");
        assert_eq!(test_size(1, 10, 2), 1, "never more than the audience");
        assert_eq!(test_size(40, 100, 3), 40);
        let mut sizes = [0; 3];
        for i in 0..20 {
            sizes[variant_of(i, 3)] += 1;
        }
        assert_eq!(sizes, [7, 7, 6]);
        assert_eq!((0..4).map(label).collect::<Vec<_>>(), ["A", "B", "C", "D"]);
    }

    #[test]
    fn the_winner_has_the_best_rate_and_a_tie_keeps_the_earlier() {
        let r = |sent, opened, clicked| VariantResult {
            sent,
            opened,
            clicked,
        };
        let results = [r(10, 5, 1), r(10, 3, 3), r(9, 5, 0)];
        assert_eq!(winner(&results, WinnerBy::OpenRate), Some(2));
        assert_eq!(winner(&results, WinnerBy::ClickRate), Some(1));
        assert_eq!(winner(&results, WinnerBy::Manual), None);
        assert_eq!(
            winner(&[r(10, 2, 0), r(5, 1, 0)], WinnerBy::OpenRate),
            Some(0)
        );
        assert_eq!(
            winner(&[r(0, 0, 0), r(0, 0, 0)], WinnerBy::ClickRate),
            Some(0)
        );
        assert_eq!(winner(&[], WinnerBy::ClickRate), None);
    }
}
