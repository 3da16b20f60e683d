//! Attendance rules: geofences, punches that alternate in / out, and who decides a
//! correction of a day.

use erp_kit::{ApiError, Reason, RuleViolation};

use super::reasons;

/// An attendance rule a punch or a correction broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendanceRule {
    /// A check-in while checked in.
    AlreadyCheckedIn,
    /// A check-out while not checked in.
    NotCheckedIn,
    /// The punch key was used for another punch (another person's, or the other kind).
    PunchKeyReused,
    /// A concurrent request is recording the same punch.
    PunchInProgress,
    /// The device is outside the geofence of the location named.
    OutsideGeofence { location: String },
    /// A correction of the day is already waiting for a decision.
    CorrectionPending { day: String },
    /// Nobody decides their own correction.
    SelfApproval,
    /// Only a manager above the employee or HR decides their corrections.
    NotApprover,
    /// The correction is not pending any more.
    AlreadyDecided { status: String },
    /// Another decision of the correction won the race.
    DecidedMeanwhile,
}

impl RuleViolation for AttendanceRule {
    fn reason(&self) -> Reason {
        match self {
            AttendanceRule::AlreadyCheckedIn => reasons::ALREADY_CHECKED_IN,
            AttendanceRule::NotCheckedIn => reasons::NOT_CHECKED_IN,
            AttendanceRule::PunchKeyReused => reasons::PUNCH_KEY_REUSED,
            AttendanceRule::PunchInProgress => reasons::PUNCH_IN_PROGRESS,
            AttendanceRule::OutsideGeofence { .. } => reasons::OUTSIDE_GEOFENCE,
            AttendanceRule::CorrectionPending { .. } => reasons::CORRECTION_PENDING,
            AttendanceRule::SelfApproval => reasons::SELF_APPROVAL,
            AttendanceRule::NotApprover => reasons::NOT_APPROVER,
            AttendanceRule::AlreadyDecided { .. } | AttendanceRule::DecidedMeanwhile => {
                reasons::ALREADY_DECIDED
            }
        }
    }

    fn message(&self) -> String {
        match self {
            AttendanceRule::AlreadyCheckedIn => "already checked in".into(),
            AttendanceRule::NotCheckedIn => "not checked in".into(),
            AttendanceRule::PunchKeyReused => "this punch key was used for another punch".into(),
            AttendanceRule::PunchInProgress => "this punch is being recorded already".into(),
            AttendanceRule::OutsideGeofence { location } => {
                format!("the device is outside the geofence of `{location}`")
            }
            AttendanceRule::CorrectionPending { day } => {
                format!("a correction of {day} is already waiting for a decision")
            }
            AttendanceRule::SelfApproval => "nobody decides their own attendance correction".into(),
            AttendanceRule::NotApprover => {
                "only the employee's managers or HR decide their corrections".into()
            }
            AttendanceRule::AlreadyDecided { status } => {
                format!("the correction is already {status}")
            }
            AttendanceRule::DecidedMeanwhile => "the correction was decided meanwhile".into(),
        }
    }
}

/// Whether a correction's decider may decide it: never the employee themself, else a manager
/// above them or HR (`hr:admin`); and only while it is pending.
pub fn check_correction_decider(
    is_self: bool,
    is_manager: bool,
    hr_admin: bool,
    status: &str,
) -> Result<(), AttendanceRule> {
    if is_self {
        return Err(AttendanceRule::SelfApproval);
    }
    if status != "pending" {
        return Err(AttendanceRule::AlreadyDecided {
            status: status.to_owned(),
        });
    }
    if !(is_manager || hr_admin) {
        return Err(AttendanceRule::NotApprover);
    }
    Ok(())
}

/// A circle on the earth around a work location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geofence {
    pub latitude: f64,
    pub longitude: f64,
    pub radius_meters: f64,
}

/// A point reported by a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    pub fn parse(latitude: f64, longitude: f64) -> Result<Self, ApiError> {
        if !(-90.0..=90.0).contains(&latitude) || !latitude.is_finite() {
            return Err(ApiError::bad_input(
                "latitude",
                "latitude is between -90 and 90",
            ));
        }
        if !(-180.0..=180.0).contains(&longitude) || !longitude.is_finite() {
            return Err(ApiError::bad_input(
                "longitude",
                "longitude is between -180 and 180",
            ));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }
}

/// Great-circle distance in meters (haversine, mean earth radius).
pub fn distance_meters(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

impl Geofence {
    pub fn contains(&self, point: GeoPoint) -> bool {
        distance_meters(
            GeoPoint {
                latitude: self.latitude,
                longitude: self.longitude,
            },
            point,
        ) <= self.radius_meters
    }
}

/// The kind of a punch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunchKind {
    In,
    Out,
}

impl PunchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PunchKind::In => "in",
            PunchKind::Out => "out",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "in" {
            PunchKind::In
        } else {
            PunchKind::Out
        }
    }
}

/// Whether a punch of `kind` may follow the employee's last punch of the day.
pub fn check_sequence(
    last_today: Option<PunchKind>,
    kind: PunchKind,
) -> Result<(), AttendanceRule> {
    match (last_today, kind) {
        (Some(PunchKind::In), PunchKind::In) => Err(AttendanceRule::AlreadyCheckedIn),
        (None | Some(PunchKind::Out), PunchKind::Out) => Err(AttendanceRule::NotCheckedIn),
        _ => Ok(()),
    }
}

/// Minutes worked from a day's punches in time order (an open check-in counts up to `now`).
pub fn worked_minutes(punches: &[(PunchKind, i64)], now_ms: i64) -> i64 {
    let mut total = 0;
    let mut open: Option<i64> = None;
    for (kind, at) in punches {
        match (kind, open) {
            (PunchKind::In, None) => open = Some(*at),
            (PunchKind::Out, Some(start)) => {
                total += at - start;
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        total += (now_ms - start).max(0);
    }
    total / 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geofence() {
        let office = Geofence {
            latitude: 12.9716,
            longitude: 77.5946,
            radius_meters: 200.0,
        };
        assert!(office.contains(GeoPoint {
            latitude: 12.9720,
            longitude: 77.5950
        }));
        assert!(
            !office.contains(GeoPoint {
                latitude: 12.9816,
                longitude: 77.5946
            }),
            "1.1 km north"
        );
        let paris = GeoPoint {
            latitude: 48.8566,
            longitude: 2.3522,
        };
        let london = GeoPoint {
            latitude: 51.5074,
            longitude: -0.1278,
        };
        assert!((distance_meters(paris, london) - 343_500.0).abs() < 1_500.0);
        assert!(GeoPoint::parse(91.0, 0.0).is_err());
        assert!(GeoPoint::parse(0.0, f64::NAN).is_err());
    }

    #[test]
    fn sequence_and_worked_time() {
        assert!(check_sequence(None, PunchKind::In).is_ok());
        assert_eq!(
            check_sequence(Some(PunchKind::In), PunchKind::In),
            Err(AttendanceRule::AlreadyCheckedIn)
        );
        assert_eq!(
            check_sequence(None, PunchKind::Out),
            Err(AttendanceRule::NotCheckedIn)
        );
        assert!(check_sequence(Some(PunchKind::In), PunchKind::Out).is_ok());
        let h = 3_600_000;
        let punches = [
            (PunchKind::In, 9 * h),
            (PunchKind::Out, 12 * h),
            (PunchKind::In, 13 * h),
        ];
        assert_eq!(worked_minutes(&punches, 17 * h), 7 * 60);
    }

    #[test]
    fn who_decides_a_correction() {
        use AttendanceRule::*;
        assert_eq!(
            check_correction_decider(true, false, true, "pending"),
            Err(SelfApproval),
            "not even HR decides their own"
        );
        assert_eq!(
            check_correction_decider(false, true, false, "approved"),
            Err(AlreadyDecided {
                status: "approved".into()
            })
        );
        assert_eq!(
            check_correction_decider(false, false, false, "pending"),
            Err(NotApprover)
        );
        assert!(check_correction_decider(false, true, false, "pending").is_ok());
        assert!(check_correction_decider(false, false, true, "pending").is_ok());
        assert_eq!(NotApprover.reason().code(), erp_kit::ErrorCode::Forbidden);
        assert_eq!(DecidedMeanwhile.reason().name(), "ALREADY_DECIDED");
    }
}
