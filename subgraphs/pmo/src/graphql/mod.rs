//! The PMO subgraph's GraphQL schema: objects, inputs and thin resolvers over
//! [`crate::app::Pmo`], one file per feature; the objects that reference each other
//! (projects, boards, sprints, tasks) share [`objects`]; relations resolve through the
//! DataLoaders of [`loaders`].

pub mod boards;
pub mod context;
pub mod live;
pub mod loaders;
pub mod objects;
pub mod projects;
pub mod sprints;
pub mod tasks;
pub mod timers;
pub mod timesheets;

use async_graphql::{Schema, SchemaBuilder};

use erp_kit::loaders::loader;

use crate::app::Pmo;
use loaders::{
    BoardLoader, CommentPagesLoader, EntryEditsLoader, ProjectBoardsLoader, ProjectLoader,
    SprintLoader, SprintPagesLoader, TaskLoader, TaskPagesLoader,
};

pub use live::Subscription;

pub type PmoSchema = Schema<Query, Mutation, Subscription>;

// The parts are merged in the order the SDL lists their fields.
// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    projects::ProjectQuery,
    tasks::TaskQuery,
    sprints::SprintQuery,
    boards::BoardQuery,
    timers::TimerQuery,
    timesheets::TimesheetQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    projects::ProjectMutation,
    boards::BoardMutation,
    tasks::TaskMutation,
    sprints::SprintMutation,
    timers::TimerMutation,
    timesheets::TimesheetMutation,
);

/// The schema builder with its data; the kit adds its rules in [`crate::build_schema`].
pub fn schema_builder(pmo: Option<Pmo>) -> SchemaBuilder<Query, Mutation, Subscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription);
    let builder = describe_connection::<objects::Project, _, _, _>(builder);
    let builder = describe_connection::<objects::Task, _, _, _>(builder);
    let builder = describe_connection::<objects::Sprint, _, _, _>(builder);
    let builder = describe_connection::<objects::Comment, _, _, _>(builder);
    let builder = describe_connection::<timesheets::TimeEntry, _, _, _>(builder);
    let builder = describe_connection::<timesheets::Timesheet, _, _, _>(builder);
    match pmo {
        Some(pmo) => builder
            .data(loader(ProjectLoader(pmo.store.clone())))
            .data(loader(TaskLoader(pmo.store.clone())))
            .data(loader(BoardLoader(pmo.store.clone())))
            .data(loader(SprintLoader(pmo.store.clone())))
            .data(loader(ProjectBoardsLoader(pmo.store.clone())))
            .data(loader(EntryEditsLoader(pmo.store.clone())))
            .data(loader(TaskPagesLoader(pmo.store.clone())))
            .data(loader(CommentPagesLoader(pmo.store.clone())))
            .data(loader(SprintPagesLoader(pmo.store.clone())))
            .data(pmo),
        None => builder,
    }
}
