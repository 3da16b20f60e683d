//! GCRA (generic cell rate algorithm): a token bucket stored as one number per key, the
//! "theoretical arrival time" (TAT). A quota of `limit` operations per `period` admits one
//! operation every `emission = period / limit`, with a burst of up to `limit` at once.
//!
//! The same arithmetic runs in two places: [`decide`] (the per-replica in-memory fallback, and
//! the unit tests) and [`LUA`] (Redis, shared by every router replica, on Redis's own clock).
//! All times are in microseconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `limit` operations per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn period_us(&self) -> u64 {
        self.period.as_micros().max(1) as u64
    }

    /// The interval between two admitted operations at the sustained rate.
    pub fn emission_us(&self) -> u64 {
        (self.period_us() / u64::from(self.limit.max(1))).max(1)
    }
}

/// The outcome of charging `cost` operations against a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Operations still admitted right now after this decision.
    pub remaining: u32,
    /// When denied: how long until the same charge would be admitted. Zero when allowed.
    pub retry_after_us: u64,
    /// How long until the bucket is full again (the `t` of the `RateLimit` header).
    pub reset_us: u64,
    /// The TAT to store (only when allowed).
    pub new_tat_us: Option<u64>,
}

/// Charges `cost` operations at time `now_us` against a bucket whose stored TAT is `tat_us`.
pub fn decide(tat_us: Option<u64>, now_us: u64, quota: Quota, cost: u32) -> Decision {
    let period = quota.period_us();
    let emission = quota.emission_us();
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let remaining_at = |tat: u64| {
        let used = tat - now_us;
        u32::try_from(period.saturating_sub(used) / emission).unwrap_or(u32::MAX)
    };
    if cost > quota.limit {
        // Can never be admitted: refuse without touching the bucket.
        return Decision {
            allowed: false,
            remaining: remaining_at(tat),
            retry_after_us: period,
            reset_us: tat - now_us,
            new_tat_us: None,
        };
    }
    let new_tat = tat + emission * u64::from(cost);
    if new_tat - now_us > period {
        Decision {
            allowed: false,
            remaining: remaining_at(tat),
            retry_after_us: new_tat - period - now_us,
            reset_us: tat - now_us,
            new_tat_us: None,
        }
    } else {
        Decision {
            allowed: true,
            remaining: remaining_at(new_tat),
            retry_after_us: 0,
            reset_us: new_tat - now_us,
            new_tat_us: Some(new_tat),
        }
    }
}

/// The Redis side of [`decide`]: KEYS[1] = bucket, ARGV = emission_us, period_us, cost, limit,
/// and optionally `extra`: once `cost` is admitted, up to `extra` more operations are taken
/// from what the bucket still has (a replica's lease, see `rate_limit::Leases`; never more than
/// the bucket holds, so a lease cannot admit beyond the limit).
/// Returns {allowed (0/1), remaining, retry_after_us, reset_us, extra granted}; `remaining`
/// excludes the granted extra. Time comes from Redis (`TIME`), so replicas with skewed clocks
/// still share one bucket. Lua numbers are doubles: epoch microseconds (~1.8e15) are exact
/// below 2^53.
pub const LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local extra = tonumber(ARGV[5] or '0')
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = math.max(tonumber(stored), now)
end
local function remaining(at)
  return math.floor(math.max(period - (at - now), 0) / emission)
end
if cost > limit then
  return {0, remaining(tat), period, tat - now, 0}
end
local new_tat = tat + emission * cost
if new_tat - now > period then
  return {0, remaining(tat), new_tat - period - now, tat - now, 0}
end
local granted = math.min(extra, remaining(new_tat))
local leased_tat = new_tat + emission * granted
redis.call('SET', KEYS[1], string.format('%.0f', leased_tat), 'PX', math.max(1, math.ceil((leased_tat - now) / 1000)))
return {1, remaining(leased_tat), 0, leased_tat - now, granted}
"#;

/// Converts the script's reply into a [`Decision`] and the extra operations granted.
pub fn decision_from_reply(reply: &[i64]) -> Option<(Decision, u32)> {
    let [allowed, remaining, retry_after, reset, granted] = reply else {
        return None;
    };
    Some((
        Decision {
            allowed: *allowed == 1,
            remaining: u32::try_from(*remaining).unwrap_or(0),
            retry_after_us: u64::try_from(*retry_after).unwrap_or(0),
            reset_us: u64::try_from(*reset).unwrap_or(0),
            new_tat_us: None,
        },
        u32::try_from(*granted).unwrap_or(0),
    ))
}

/// Per-replica buckets: the fallback when Redis cannot be reached (and the only store when no
/// Redis is configured). Expired buckets are swept when the map grows.
pub struct MemoryBuckets {
    origin: Instant,
    buckets: Mutex<HashMap<String, u64>>,
    sweep_at: usize,
}

impl Default for MemoryBuckets {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl MemoryBuckets {
    pub fn new(sweep_at: usize) -> Self {
        Self {
            origin: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
            sweep_at,
        }
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    pub fn charge(&self, key: &str, quota: Quota, cost: u32) -> Decision {
        let now = self.now_us();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let decision = decide(buckets.get(key).copied(), now, quota, cost);
        if let Some(tat) = decision.new_tat_us {
            if buckets.len() >= self.sweep_at {
                buckets.retain(|_, tat| *tat > now);
            }
            buckets.insert(key.to_owned(), tat);
        }
        decision
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const S: u64 = 1_000_000;

    fn per_minute(limit: u32) -> Quota {
        Quota { limit, period: MIN }
    }

    /// Charges one operation `n` times at `now`, threading the TAT through.
    fn run(tat: &mut Option<u64>, now: u64, quota: Quota, n: usize) -> Vec<Decision> {
        (0..n)
            .map(|_| {
                let d = decide(*tat, now, quota, 1);
                if let Some(t) = d.new_tat_us {
                    *tat = Some(t);
                }
                d
            })
            .collect()
    }

    #[test]
    fn a_full_burst_is_admitted_then_the_next_one_waits_one_emission() {
        let quota = per_minute(30);
        let mut tat = None;
        let now = 1_000 * S;
        let decisions = run(&mut tat, now, quota, 31);
        assert!(decisions[..30].iter().all(|d| d.allowed));
        assert_eq!(decisions[0].remaining, 29);
        assert_eq!(decisions[29].remaining, 0);
        let denied = decisions[30];
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        // 60 s / 30 = one operation every 2 s.
        assert_eq!(denied.retry_after_us, 2 * S);
        assert_eq!(denied.reset_us, 60 * S);
        assert_eq!(denied.new_tat_us, None);
    }

    #[test]
    fn the_bucket_refills_at_the_sustained_rate() {
        let quota = per_minute(30);
        let mut tat = None;
        let start = 1_000 * S;
        run(&mut tat, start, quota, 30);
        assert!(!decide(tat, start + 2 * S - 1, quota, 1).allowed);
        let after = decide(tat, start + 2 * S, quota, 1);
        assert!(after.allowed);
        assert_eq!(after.remaining, 0);
        // A minute of silence refills the whole burst.
        let later = start + 120 * S;
        let decisions = run(&mut tat, later, quota, 31);
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 30);
    }

    #[test]
    fn a_charge_of_several_operations_counts_each_of_them() {
        let quota = per_minute(5);
        let now = 10 * S;
        let d = decide(None, now, quota, 3);
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
        let d2 = decide(d.new_tat_us, now, quota, 3);
        assert!(!d2.allowed, "3 + 3 > 5");
        assert_eq!(d2.remaining, 2);
        // One operation is 12 s; the second charge of 3 needs 1 more emission to be freed.
        assert_eq!(d2.retry_after_us, 12 * S);
        let d3 = decide(d.new_tat_us, now, quota, 2);
        assert!(d3.allowed);
        assert_eq!(d3.remaining, 0);
    }

    #[test]
    fn a_charge_above_the_limit_is_never_admitted_and_does_not_drain_the_bucket() {
        let quota = per_minute(5);
        let d = decide(None, 0, quota, 6);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 5);
        assert_eq!(d.retry_after_us, 60 * S);
    }

    #[test]
    fn a_stale_tat_in_the_past_is_a_full_bucket() {
        let quota = per_minute(500);
        let d = decide(Some(5), 1_000 * S, quota, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 499);
        assert_eq!(quota.emission_us(), 120_000);
    }

    #[test]
    fn script_replies_convert_to_decisions() {
        let (d, granted) = decision_from_reply(&[0, 0, 2_000_000, 60_000_000, 0]).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.retry_after_us, 2 * S);
        assert_eq!(granted, 0);
        let (d, granted) = decision_from_reply(&[1, 450, 0, 6_000_000, 25]).unwrap();
        assert!(d.allowed);
        assert_eq!((d.remaining, granted), (450, 25));
        assert!(decision_from_reply(&[1, 2]).is_none());
        assert!(decision_from_reply(&[1, 2, 0, 0]).is_none());
    }

    #[test]
    fn memory_buckets_are_per_key_and_swept() {
        let buckets = MemoryBuckets::new(2);
        let quota = Quota {
            limit: 2,
            period: Duration::from_millis(50),
        };
        assert!(buckets.charge("a", quota, 1).allowed);
        assert!(buckets.charge("a", quota, 1).allowed);
        assert!(!buckets.charge("a", quota, 1).allowed);
        assert!(buckets.charge("b", quota, 1).allowed);
        std::thread::sleep(Duration::from_millis(60));
        // "a" and "b" have expired: the third key sweeps them.
        assert!(buckets.charge("c", quota, 1).allowed);
        assert_eq!(buckets.len(), 1);
        assert!(buckets.charge("a", quota, 1).allowed);
    }
}
