//! Attendance in GraphQL: locations, check-in / check-out, a person's day.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use erp_kit::{ApiError, RequestContext};

use super::store;
use crate::domain::attendance::{worked_minutes, GeoPoint, Geofence, PunchKind};
use crate::store::attendance::PunchRequest;
use crate::store::entities::{location, punch};

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A work location whose geofence check-ins must fall within.
pub struct Location(pub location::Model);

#[Object]
impl Location {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Centre latitude.
    async fn latitude(&self) -> f64 {
        self.0.latitude
    }
    /// Centre longitude.
    async fn longitude(&self) -> f64 {
        self.0.longitude
    }
    /// Geofence radius in meters.
    async fn radius_meters(&self) -> i32 {
        self.0.radius_meters
    }
}

/// Where a punch came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PunchSource {
    /// The web app.
    Web,
    /// The mobile app.
    Mobile,
    /// A shared kiosk.
    Kiosk,
}

impl PunchSource {
    fn as_str(self) -> &'static str {
        match self {
            PunchSource::Web => "web",
            PunchSource::Mobile => "mobile",
            PunchSource::Kiosk => "kiosk",
        }
    }
}

/// A check-in or check-out.
pub struct Punch(pub punch::Model);

#[Object]
impl Punch {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// `IN` or `OUT`.
    async fn kind(&self) -> &'static str {
        match PunchKind::from_db(&self.0.kind) {
            PunchKind::In => "IN",
            PunchKind::Out => "OUT",
        }
    }
    /// Server time of the punch.
    async fn at(&self) -> DateTime<Utc> {
        millis(self.0.at)
    }
    /// `web`, `mobile` or `kiosk`.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// The location whose geofence it was checked against, if any.
    async fn location_id(&self) -> Option<ID> {
        self.0.location_id.clone().map(ID)
    }
    /// The client's idempotency key.
    async fn punch_key(&self) -> &str {
        &self.0.punch_key
    }
}

/// One person's attendance on one day.
#[derive(SimpleObject)]
pub struct AttendanceDay {
    /// The day (UTC).
    pub day: NaiveDate,
    /// First check-in.
    pub first_in: Option<DateTime<Utc>>,
    /// Last check-out.
    pub last_out: Option<DateTime<Utc>>,
    /// Minutes worked (an open check-in counts until now).
    pub worked_minutes: i64,
    /// True while checked in.
    pub checked_in: bool,
    /// The punches, in time order.
    pub punches: Vec<Punch>,
}

/// A new work location.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// Centre latitude (-90..90).
    pub latitude: f64,
    /// Centre longitude (-180..180).
    pub longitude: f64,
    /// Geofence radius in meters (10..50,000).
    pub radius_meters: i32,
}

/// A check-in or check-out from a device.
#[derive(InputObject)]
pub struct PunchInput {
    /// A key the device generates once per punch; sending the same punch again (a resync)
    /// returns the recorded punch instead of a duplicate.
    pub punch_key: String,
    /// Where the punch comes from.
    pub source: PunchSource,
    /// Device latitude (required with `locationId`).
    pub latitude: Option<f64>,
    /// Device longitude (required with `locationId`).
    pub longitude: Option<f64>,
    /// The location whose geofence the device must be in.
    pub location_id: Option<ID>,
}

fn punch_request(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<PunchRequest> {
    let key = input.punch_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(ApiError::bad_input("punchKey", "a punch key has 1 to 100 characters").into());
    }
    let point = match (input.latitude, input.longitude) {
        (Some(lat), Some(lon)) => Some(GeoPoint::parse(lat, lon)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_input("latitude", "give both latitude and longitude").into())
        }
    };
    Ok(PunchRequest {
        kind,
        punch_key: key.to_owned(),
        source: input.source.as_str().to_owned(),
        ip: ctx
            .data_opt::<erp_kit::http::ClientIp>()
            .map(|ip| ip.0.to_string()),
        point,
        location_id: input.location_id.map(|id| id.0),
    })
}

#[derive(Default)]
pub struct AttendanceQuery;

#[Object]
impl AttendanceQuery {
    /// The caller's attendance on `day` (today when omitted).
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn my_attendance(
        &self,
        ctx: &Context<'_>,
        day: Option<NaiveDate>,
    ) -> Result<Option<AttendanceDay>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let store = store(ctx)?;
        let employee = store.employee_of_user(&tenant, &claims.sub).await?;
        let day = day.unwrap_or_else(|| Utc::now().date_naive());
        let punches = store
            .punches_of_day(&tenant, &employee.id, &day.to_string())
            .await?;
        let timeline: Vec<(PunchKind, i64)> = punches
            .iter()
            .map(|p| (PunchKind::from_db(&p.kind), p.at))
            .collect();
        Ok(Some(AttendanceDay {
            day,
            first_in: punches
                .iter()
                .find(|p| p.kind == "in")
                .map(|p| millis(p.at)),
            last_out: punches
                .iter()
                .rev()
                .find(|p| p.kind == "out")
                .map(|p| millis(p.at)),
            worked_minutes: worked_minutes(&timeline, Utc::now().timestamp_millis()),
            checked_in: timeline.last().is_some_and(|(k, _)| *k == PunchKind::In),
            punches: punches.into_iter().map(Punch).collect(),
        }))
    }
}

#[derive(Default)]
pub struct AttendanceMutation;

#[Object]
impl AttendanceMutation {
    /// Creates a work location with its geofence.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateLocationInput,
    ) -> Result<Option<Location>> {
        let tenant = ctx.tenant()?;
        let name = crate::domain::DisplayName::parse("name", &input.name)?;
        let centre = GeoPoint::parse(input.latitude, input.longitude)?;
        if !(10..=50_000).contains(&input.radius_meters) {
            return Err(
                ApiError::bad_input("radiusMeters", "a radius is 10 to 50,000 meters").into(),
            );
        }
        let fence = Geofence {
            latitude: centre.latitude,
            longitude: centre.longitude,
            radius_meters: f64::from(input.radius_meters),
        };
        Ok(Some(Location(
            store(ctx)?
                .create_location(&tenant, name.as_str(), fence)
                .await?,
        )))
    }

    /// Checks the caller in; publishes `attendance.checked_in` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_in(&self, ctx: &Context<'_>, input: PunchInput) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::In, input).await
    }

    /// Checks the caller out; publishes `attendance.checked_out` and updates live boards.
    #[graphql(requires_scopes = "attendance:checkin")]
    async fn check_out(&self, ctx: &Context<'_>, input: PunchInput) -> Result<Option<Punch>> {
        punch(ctx, PunchKind::Out, input).await
    }
}

async fn punch(ctx: &Context<'_>, kind: PunchKind, input: PunchInput) -> Result<Option<Punch>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let request = punch_request(ctx, kind, input)?;
    let store = store(ctx)?;
    let employee = store.employee_of_user(&tenant, &claims.sub).await?;
    let (punch, _) = store.record_punch(&tenant, &employee, request).await?;
    Ok(Some(Punch(punch)))
}

/// A check-in or check-out as a live board shows it.
#[derive(SimpleObject, serde::Deserialize)]
pub struct AttendanceEvent {
    /// The punch.
    #[serde(rename = "punch_id")]
    pub punch_id: ID,
    /// Who.
    #[serde(rename = "employee_id")]
    pub employee_id: ID,
    /// Their department, if any.
    #[serde(rename = "department_id")]
    pub department_id: Option<ID>,
    /// `in` or `out`.
    pub kind: String,
    /// Server time (Unix milliseconds).
    pub at: i64,
}

#[derive(Default)]
pub struct AttendanceSubscription;

#[async_graphql::Subscription]
impl AttendanceSubscription {
    /// Every check-in and check-out of the tenant (or of one department) as it happens, from
    /// every replica (Redis pub/sub). The subscriber is re-checked before each event.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["attendance:read".into()]]))]
    async fn attendance_board(
        &self,
        ctx: &Context<'_>,
        department_id: Option<ID>,
    ) -> Result<impl futures::Stream<Item = Result<AttendanceEvent>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let messages = store(ctx)?
            .cache()
            .subscribe(&crate::store::attendance::attendance_channel(&tenant))
            .await
            .map_err(ApiError::internal)?;
        let events = messages
            .filter_map(move |bytes| {
                let wanted = department_id.clone();
                async move {
                    let event: AttendanceEvent = serde_json::from_slice(&bytes).ok()?;
                    match &wanted {
                        Some(department) if event.department_id.as_ref() != Some(department) => {
                            None
                        }
                        _ => Some(event),
                    }
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, events))
    }
}
