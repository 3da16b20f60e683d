//! The employee subgraph's GraphQL schema: one file per feature (objects, inputs, resolvers,
//! subscriptions), each resolver parsing its input and calling the use cases on
//! [`Employee`](crate::app::Employee) (taken from the request with [`context`]); the
//! DataLoaders in [`loaders`]. No file here imports a file that imports it back: `people.rs`
//! holds the `Employee` type and the types its fields return that point back at it.

pub mod attendance;
pub mod context;
pub mod exits;
pub mod leave;
pub mod loaders;
pub mod okr;
pub mod org;
pub mod people;
pub mod shift;

use async_graphql::{Schema, SchemaBuilder};

use crate::app::Employee;

pub type EmployeeSchema = Schema<Query, Mutation, Subscription>;

// The order of the parts is the order of the fields in the SDL (schema/employee.graphql).
// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    people::PeopleQuery,
    attendance::AttendanceQuery,
    leave::LeaveQuery,
    org::OrgQuery,
    okr::OkrQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    people::PeopleMutation,
    attendance::AttendanceMutation,
    shift::PunchMutation,
    leave::LeaveMutation,
    org::OrgMutation,
    okr::OkrMutation,
    exits::ExitMutation,
);

/// The live streams of the API (graphql-transport-ws, or SSE): one root for every domain,
/// each subgraph adding its fields.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(
    attendance::AttendanceSubscription,
    attendance::HrBoardSubscription,
);

/// The schema builder with its data (the use cases and the DataLoaders over them); the kit
/// adds its rules in [`crate::build_schema`].
pub fn schema_builder(employee: Option<Employee>) -> SchemaBuilder<Query, Mutation, Subscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = describe_connection::<people::Employee, _, _, _>(builder);
    let builder = describe_connection::<people::Department, _, _, _>(builder);
    let builder = describe_connection::<people::AttendanceCorrection, _, _, _>(builder);
    let builder = describe_connection::<attendance::BoardEntry, _, _, _>(builder);
    let builder = describe_connection::<shift::Shift, _, _, _>(builder);
    let builder = describe_connection::<leave::LeaveLedgerEntry, _, _, _>(builder);
    let builder = describe_connection::<leave::LeaveRequest, _, _, _>(builder);
    let builder = describe_connection::<leave::LeaveType, _, _, _>(builder);
    let builder = describe_connection::<leave::Holiday, _, _, _>(builder);
    let builder = describe_connection::<okr::Objective, _, _, _>(builder);
    let builder = describe_connection::<okr::OkrCheckIn, _, _, _>(builder);
    match employee {
        Some(employee) => loaders::register(builder, &employee).data(employee),
        None => builder,
    }
}
