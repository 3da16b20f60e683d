//! Bulk loads from another system (the seed loader, a migration): what a company sets up
//! (departments, locations, people with their compensation) goes through the same writes as
//! the API, rules and events included, idempotent by each record's natural key; its HISTORY
//! (punches) is written in batches WITHOUT events: a year of check-ins is not news, and
//! consumers must not receive it as if it happened now. Nothing outside this crate writes the
//! employee tables.

use std::collections::HashMap;

use chrono::NaiveDate;

use erp_kit::db::begin_write;
use erp_kit::{ApiResult, TenantId};

use super::people::CompensationChange;
use super::Employee;
use crate::domain::attendance::{GeoPoint, Geofence, PunchKind};
use crate::domain::NewHire;
use crate::store::attendance::{self as punches, NewPunch};
use crate::store::people;

/// A department to import; its parent, when it has one, is an earlier department of the same
/// import (by index).
#[derive(Debug, Clone)]
pub struct DepartmentImport {
    pub name: String,
    pub parent: Option<usize>,
}

/// A work location to import.
#[derive(Debug, Clone)]
pub struct LocationImport {
    pub name: String,
    pub fence: Geofence,
}

/// What an import of named records did: their ids in input order, and how many it wrote (the
/// rest existed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub ids: Vec<String>,
    pub written: usize,
}

/// A person the tenant holds, as an import sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub employee_id: String,
    pub user_id: Option<String>,
    /// Whether a compensation is stored (sealed).
    pub has_compensation: bool,
}

/// A person to import: the hire, and the compensation to seal.
#[derive(Debug, Clone)]
pub struct PersonImport {
    pub hire: NewHire,
    pub compensation: Option<CompensationChange>,
}

/// What importing one person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    pub employee_id: String,
    /// Whether anything was written (false: an earlier import wrote it all).
    pub wrote: bool,
}

/// A punch of the attendance history.
#[derive(Debug, Clone)]
pub struct HistoricPunch {
    /// The punch's id: the importer's, so that a second import of the same history finds it.
    pub id: String,
    pub employee_id: String,
    pub kind: PunchKind,
    /// Unix milliseconds.
    pub at: i64,
    /// The attendance day it belongs to.
    pub day: NaiveDate,
    pub source: String,
    pub point: Option<GeoPoint>,
    pub location_id: Option<String>,
    /// Unique in the tenant: a punch whose key is stored already is skipped.
    pub punch_key: String,
}

impl Employee {
    /// Departments, found by name or created in order (parents first) through the same write
    /// as `createDepartment` (its rules, `department.created`).
    pub async fn import_departments(
        &self,
        tenant: &TenantId,
        actor: &str,
        departments: &[DepartmentImport],
    ) -> ApiResult<Imported> {
        let stored: HashMap<String, String> = people::all_departments(&self.db, tenant)
            .await?
            .into_iter()
            .map(|d| (d.name, d.id))
            .collect();
        let mut imported = Imported::default();
        for department in departments {
            if let Some(id) = stored.get(&department.name) {
                imported.ids.push(id.clone());
                continue;
            }
            let parent = department
                .parent
                .and_then(|index| imported.ids.get(index).cloned());
            let model = self
                .create_department(tenant, actor, &department.name, parent)
                .await?;
            imported.ids.push(model.id);
            imported.written += 1;
        }
        Ok(imported)
    }

    /// Work locations, found by name or created.
    pub async fn import_locations(
        &self,
        tenant: &TenantId,
        locations: &[LocationImport],
    ) -> ApiResult<Imported> {
        let stored = self.location_ids_by_name(tenant).await?;
        let mut imported = Imported::default();
        for location in locations {
            if let Some(id) = stored.get(&location.name) {
                imported.ids.push(id.clone());
                continue;
            }
            let model = self
                .create_location(tenant, &location.name, location.fence)
                .await?;
            imported.ids.push(model.id);
            imported.written += 1;
        }
        Ok(imported)
    }

    /// The tenant's location ids by name.
    pub async fn location_ids_by_name(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<HashMap<String, String>> {
        Ok(punches::all_locations(&self.db, tenant)
            .await?
            .into_iter()
            .map(|l| (l.name, l.id))
            .collect())
    }

    /// The people the tenant holds, by employee number (one query).
    pub async fn people_by_number(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<HashMap<String, StoredPerson>> {
        Ok(people::employee_keys(&self.db, tenant)
            .await?
            .into_iter()
            .map(|(employee_id, number, user_id, salary)| {
                let person = StoredPerson {
                    employee_id,
                    user_id,
                    has_compensation: salary.is_some(),
                };
                (number, person)
            })
            .collect())
    }

    /// One person: hired (`employee.hired`) unless `stored` (from
    /// [`Self::people_by_number`]) holds them, their compensation sealed
    /// (`employee.compensation_changed`) unless one is stored.
    pub async fn import_person(
        &self,
        tenant: &TenantId,
        actor: &str,
        person: PersonImport,
        stored: Option<&StoredPerson>,
    ) -> ApiResult<ImportedPerson> {
        let mut wrote = false;
        let (employee_id, has_compensation) = match stored {
            Some(stored) => (stored.employee_id.clone(), stored.has_compensation),
            None => {
                let model = self.hire(tenant, actor, person.hire).await?;
                wrote = true;
                (model.id, false)
            }
        };
        if let (false, Some(change)) = (has_compensation, person.compensation) {
            self.set_compensation(tenant, actor, &employee_id, change)
                .await?;
            wrote = true;
        }
        Ok(ImportedPerson { employee_id, wrote })
    }

    /// Attendance history: the punches in ONE transaction with multi-row INSERTs, skipping
    /// those whose punch key the tenant holds already (a second import of the same history
    /// writes nothing), with no outbox event. Answers how many were written.
    pub async fn import_punches(
        &self,
        tenant: &TenantId,
        history: Vec<HistoricPunch>,
    ) -> ApiResult<u64> {
        if history.is_empty() {
            return Ok(0);
        }
        let rows = history
            .into_iter()
            .map(|punch| NewPunch {
                id: punch.id,
                employee_id: punch.employee_id,
                kind: punch.kind,
                at: punch.at,
                day: punch.day.to_string(),
                source: punch.source,
                ip: None,
                point: punch.point,
                location_id: punch.location_id,
                punch_key: punch.punch_key,
            })
            .collect();
        let txn = begin_write(&self.db).await?;
        let written = punches::insert_punches_skipping_known(&txn, tenant, rows).await?;
        txn.commit().await?;
        Ok(written)
    }
}
