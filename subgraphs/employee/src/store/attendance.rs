//! Attendance persistence: locations and punches, idempotent by the client's punch key.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::{employee, location, punch};
use super::EmployeeStore;
use crate::domain::attendance::{check_sequence, GeoPoint, Geofence, PunchKind};
use crate::events;

/// A punch as a device sends it.
#[derive(Debug, Clone)]
pub struct PunchRequest {
    pub kind: PunchKind,
    pub punch_key: String,
    pub source: String,
    pub ip: Option<String>,
    pub point: Option<GeoPoint>,
    pub location_id: Option<String>,
}

/// The live-board channel of a tenant's attendance (Redis pub/sub across replicas).
pub fn attendance_channel(tenant: &TenantId) -> String {
    format!("attendance:{tenant}")
}

impl EmployeeStore {
    pub async fn create_location(
        &self,
        tenant: &TenantId,
        name: &str,
        fence: Geofence,
    ) -> ApiResult<location::Model> {
        location::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            latitude: Set(fence.latitude),
            longitude: Set(fence.longitude),
            radius_meters: Set(fence.radius_meters as i32),
            created_at: Set(chrono::Utc::now().timestamp_millis()),
        }
        .insert(self.db())
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict(format!("a location named `{name}` exists"))
            }
            other => other,
        })
    }

    /// The employee record of a logged-in user.
    pub async fn employee_of_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> ApiResult<employee::Model> {
        employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::UserId.eq(user_id))
            .one(self.db())
            .await?
            .ok_or_else(|| ApiError::Forbidden("no employee record is linked to this user".into()))
    }

    /// Records a punch. The same punch key again returns the punch already recorded (a kiosk
    /// resync never duplicates), with `false` for "not new".
    pub async fn record_punch(
        &self,
        tenant: &TenantId,
        employee: &employee::Model,
        request: PunchRequest,
    ) -> ApiResult<(punch::Model, bool)> {
        let txn = self.db().begin().await?;
        let existing = punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(punch::Column::PunchKey.eq(request.punch_key.as_str()))
            .one(&txn)
            .await?;
        if let Some(existing) = existing {
            if existing.employee_id != employee.id || existing.kind != request.kind.as_str() {
                return Err(ApiError::Conflict(
                    "this punch key was used for another punch".into(),
                ));
            }
            return Ok((existing, false));
        }
        if let Some(location_id) = &request.location_id {
            let location = location::Entity::find_by_id(location_id.clone())
                .filter(location::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?
                .ok_or_else(|| ApiError::bad_input("locationId", "no such location"))?;
            let point = request.point.ok_or_else(|| {
                ApiError::bad_input(
                    "latitude",
                    "a punch at a location needs the device position",
                )
            })?;
            let fence = Geofence {
                latitude: location.latitude,
                longitude: location.longitude,
                radius_meters: f64::from(location.radius_meters),
            };
            if !fence.contains(point) {
                return Err(ApiError::Forbidden(format!(
                    "the device is outside the geofence of `{}`",
                    location.name
                )));
            }
        }
        let now = chrono::Utc::now();
        let day = now.date_naive().to_string();
        let last = punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(punch::Column::EmployeeId.eq(employee.id.as_str()))
            .filter(punch::Column::Day.eq(day.as_str()))
            .order_by_desc(punch::Column::At)
            .one(&txn)
            .await?;
        check_sequence(last.map(|p| PunchKind::from_db(&p.kind)), request.kind)?;
        let model = punch::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            employee_id: Set(employee.id.clone()),
            kind: Set(request.kind.as_str().to_owned()),
            at: Set(now.timestamp_millis()),
            day: Set(day),
            source: Set(request.source.clone()),
            ip: Set(request.ip.clone()),
            latitude: Set(request.point.map(|p| p.latitude)),
            longitude: Set(request.point.map(|p| p.longitude)),
            location_id: Set(request.location_id.clone()),
            punch_key: Set(request.punch_key.clone()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            // A concurrent resync of the same punch won the insert.
            ApiError::Conflict(_) => {
                ApiError::Conflict("this punch is being recorded already".into())
            }
            other => other,
        })?;
        let event_type = match request.kind {
            PunchKind::In => events::CHECKED_IN,
            PunchKind::Out => events::CHECKED_OUT,
        };
        let payload = serde_json::json!({
            "punch_id": model.id,
            "employee_id": employee.id,
            "department_id": employee.department_id,
            "at": model.at,
            "source": model.source,
            "location_id": model.location_id,
        });
        let event = EventEnvelope::new(tenant, event_type, &employee.id, payload.clone())
            .map_err(ApiError::internal)?
            .with_actor(employee.user_id.clone().unwrap_or_default());
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        // Live boards: best effort after commit (the event in the outbox is the durable record).
        let mut live = payload;
        live["kind"] = serde_json::json!(request.kind.as_str());
        if let Err(err) = self
            .cache()
            .publish(&attendance_channel(tenant), live.to_string().as_bytes())
            .await
        {
            tracing::warn!(error = %err, "attendance live update not published");
        }
        Ok((model, true))
    }

    /// An employee's punches of one day, in time order.
    pub async fn punches_of_day(
        &self,
        tenant: &TenantId,
        employee_id: &str,
        day: &str,
    ) -> ApiResult<Vec<punch::Model>> {
        Ok(punch::Entity::find()
            .filter(punch::Column::TenantId.eq(tenant.as_str()))
            .filter(punch::Column::EmployeeId.eq(employee_id))
            .filter(punch::Column::Day.eq(day))
            .order_by_asc(punch::Column::At)
            .all(self.db())
            .await?)
    }
}
