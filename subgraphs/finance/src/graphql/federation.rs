//! Federation: the entity resolvers of the entities other subgraphs own, to which finance adds
//! fields (`Project.invoices` beside `Invoice` in documents.rs, `Employee.expenses` beside
//! `Expense` in expenses.rs: each type and the one it references live in one file). The
//! references finance returns (`Invoice.project`, `Expense.employee`) the router resolves in PMO
//! and employee.

use async_graphql::{Object, ID};

use super::documents::Project;
use super::expenses::Employee;

#[derive(Default)]
pub struct FederationQuery;

#[Object]
impl FederationQuery {
    /// Federation: a `Project` reference from another subgraph.
    #[graphql(entity)]
    async fn find_project_by_id(&self, id: ID) -> Project {
        Project { id }
    }

    /// Federation: an `Employee` reference from another subgraph.
    #[graphql(entity)]
    async fn find_employee_by_id(&self, id: ID) -> Employee {
        Employee { id }
    }
}
