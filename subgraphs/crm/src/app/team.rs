//! The row rules' facts: whose records a viewer sees, from the team directory the employee
//! subgraph's events keep.

use std::collections::BTreeSet;

use erp_kit::ApiResult;

use super::{Crm, Viewer};
use crate::domain::visibility::{visible_owners, Member, Visibility, MAX_DEPTH};
use crate::store::directory;
use crate::store::entities::team_member;

fn member(model: team_member::Model) -> Member {
    Member {
        employee_id: model.employee_id,
        user_id: model.user_id,
        manager_id: model.manager_id,
    }
}

impl Crm {
    /// Whose records `viewer` sees: everything for `crm:admin`; else their own, their team's
    /// (the people sharing their manager) and those of everyone below them. A few indexed
    /// reads: the viewer's member record, their team, then the reports level by level.
    pub async fn visibility(&self, viewer: &Viewer) -> ApiResult<Visibility> {
        if viewer.admin {
            return Ok(Visibility::All);
        }
        let tenant = &viewer.tenant;
        let me = directory::member_of_user(&self.db, tenant, &viewer.user_id)
            .await?
            .map(member);
        let team: Vec<Member> = match me.as_ref().and_then(|me| me.manager_id.clone()) {
            Some(manager) => directory::reports_of(&self.db, tenant, &[manager])
                .await?
                .into_iter()
                .map(member)
                .collect(),
            None => Vec::new(),
        };
        // The reports, level by level (read ahead of the pure walk, which stays free of I/O).
        let mut levels: Vec<Vec<Member>> = Vec::new();
        if let Some(me) = &me {
            let mut seen: BTreeSet<String> = BTreeSet::from([me.employee_id.clone()]);
            let mut frontier = vec![me.employee_id.clone()];
            for _ in 0..MAX_DEPTH {
                if frontier.is_empty() {
                    break;
                }
                let below: Vec<Member> = directory::reports_of(&self.db, tenant, &frontier)
                    .await?
                    .into_iter()
                    .map(member)
                    .filter(|m| seen.insert(m.employee_id.clone()))
                    .collect();
                frontier = below.iter().map(|m| m.employee_id.clone()).collect();
                levels.push(below);
            }
        }
        let all_below: Vec<Member> = levels.into_iter().flatten().collect();
        let owners = visible_owners(&viewer.user_id, me.as_ref(), &team, |managers| {
            all_below
                .iter()
                .filter(|m| {
                    m.manager_id
                        .as_ref()
                        .is_some_and(|manager| managers.contains(manager))
                })
                .cloned()
                .collect()
        });
        Ok(Visibility::Owners(owners))
    }
}
