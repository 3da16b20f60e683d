//! The PMO use cases, on [`Pmo`]: one function per mutation, each a transaction script written
//! once for both stores — read the facts, apply the domain's rule, write conditionally (the
//! write and its event are one atomic write of the store), wake the outbox relay, publish the
//! live notification. A conditional write that finds its facts changed meanwhile
//! ([`Guarded::Stale`]) sends the script back to read them again (the kit's
//! `erp_kit::retry::Attempts`). Knows nothing
//! of GraphQL.
//!
//! One file per feature: projects and members, boards, tasks (dependencies, subtasks,
//! comments, custom fields), sprints, timers, time entries and timesheets, the import of
//! history, and the live streams.

pub mod boards;
pub mod handoffs;
pub mod import;
pub mod live;
pub mod projects;
pub mod sprints;
pub mod tasks;
pub mod time_entries;
pub mod timers;
pub mod timesheets;

use std::sync::Arc;
use std::time::Duration;

use erp_kit::auth::Claims;
use erp_kit::events::Wake;
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::project::{require_role, ProjectRole};
use crate::store::timers::{TimerStarts, TimerStore};
use crate::store::{ProjectDoc, SharedStore};

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct PmoOptions {
    /// How often a running timer's subscribers get a tick with the elapsed time.
    pub timer_tick: Duration,
}

impl Default for PmoOptions {
    fn default() -> Self {
        Self {
            timer_tick: Duration::from_secs(1),
        }
    }
}

impl PmoOptions {
    /// The defaults, with `PMO_TIMER_TICK_MS` (100 to 60000) when set.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut options = Self::default();
        if let Ok(raw) = std::env::var("PMO_TIMER_TICK_MS") {
            let ms: u64 = raw
                .trim()
                .parse()
                .ok()
                .filter(|ms| (100..=60_000).contains(ms))
                .ok_or_else(|| {
                    anyhow::anyhow!("PMO_TIMER_TICK_MS is milliseconds between 100 and 60000")
                })?;
            options.timer_tick = Duration::from_millis(ms);
        }
        Ok(options)
    }
}

/// The PMO use cases over a store, the timers' cache and the outbox relay's wake.
#[derive(Clone)]
pub struct Pmo {
    pub store: SharedStore,
    /// The store's part of a timer start (see `crate::store::timers`).
    pub timer_starts: Arc<dyn TimerStarts>,
    pub timers: TimerStore,
    pub options: PmoOptions,
    wake: Wake,
}

impl Pmo {
    pub fn new(store: SharedStore, timers: TimerStore, wake: Wake, options: PmoOptions) -> Self {
        Self {
            timer_starts: store.clone().timer_starts(),
            store,
            timers,
            options,
            wake,
        }
    }

    /// The project (NOT_FOUND when the tenant has none with the id), with the caller's role in
    /// it when that role allows `what` (FORBIDDEN otherwise).
    async fn project_for(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        allowed: fn(ProjectRole) -> bool,
        what: &str,
    ) -> ApiResult<(ProjectDoc, ProjectRole)> {
        let project = self
            .project(tenant, project_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))?;
        let role = require_role(project.role_of(&caller.sub), allowed, what)?;
        Ok((project, role))
    }

    /// Tells the outbox relay that events were committed.
    fn wake(&self) {
        self.wake.wake();
    }
}
