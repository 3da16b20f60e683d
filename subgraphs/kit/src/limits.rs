//! Request limits checked right after parsing, before validation and execution: depth, aliases,
//! root fields and directives, each refused with its own stable `extensions.code`; then the
//! operation's cost (erp-net's estimate from list sizes, the router's rules): a connection
//! nested under a list may not ask for more than `max_nested_page_size` items (BAD_USER_INPUT:
//! nested pages multiply; a subgraph may give a connection under a list it bounds its own cap,
//! `Limits::with_nested_page_cap`), and an operation estimated above `max_cost` is refused with
//! `COST_LIMIT_EXCEEDED` (`extensions.cost` and `maxCost`), the router's code.
//!
//! Fragments are followed with bounds (spreads nested at most [`MAX_SPREAD_NESTING`] deep,
//! [`MAX_VISITS`] selections visited): a document that spreads a fragment into itself, or
//! doubles a fragment at every level, is refused here (as too deep, or as too costly) instead of
//! being walked forever; validation would refuse a cycle only later.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, Field, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};
use async_graphql_value::{ConstValue, Value};
use erp_net::cost::{self, CostRules, Estimate, Item};

use crate::config::Limits;

pub const MAX_DEPTH_EXCEEDED: &str = "MAX_DEPTH_EXCEEDED";
pub const MAX_ALIASES_EXCEEDED: &str = "MAX_ALIASES_EXCEEDED";
pub const MAX_ROOT_FIELDS_EXCEEDED: &str = "MAX_ROOT_FIELDS_EXCEEDED";
pub const MAX_DIRECTIVES_EXCEEDED: &str = "MAX_DIRECTIVES_EXCEEDED";
/// The router's code too: the estimate is over the limit.
pub const COST_LIMIT_EXCEEDED: &str = "COST_LIMIT_EXCEEDED";

/// Fragment spreads nested at most along one path (a real document nests a few).
pub const MAX_SPREAD_NESTING: usize = 32;
/// Selections the depth walk visits at most.
pub const MAX_VISITS: usize = 100_000;

/// What a document asks for, measured once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DocumentShape {
    pub depth: usize,
    pub aliases: usize,
    pub root_fields: usize,
    pub directives: usize,
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The depth walk's position: how deep, through how many spreads, after how many visits.
struct DepthWalk<'a> {
    fragments: &'a Fragments,
    cap: usize,
    visits: usize,
}

impl DepthWalk<'_> {
    /// The depth of `set` at `level`; anything over `cap` stops the walk (it is refused
    /// anyway): deeper than the cap, a spread nesting over [`MAX_SPREAD_NESTING`] (a cycle) or
    /// a walk over [`MAX_VISITS`] (a fragment doubled at every level) all answer `cap + 1`.
    fn depth(&mut self, set: &SelectionSet, level: usize, spreads: usize) -> usize {
        if level > self.cap {
            return level;
        }
        let mut deepest = level;
        for item in &set.items {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return self.cap + 1;
            }
            let depth = match &item.node {
                Selection::Field(field) => {
                    if field.node.selection_set.node.items.is_empty() {
                        level
                    } else {
                        self.depth(&field.node.selection_set.node, level + 1, spreads)
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.depth(&inline.node.selection_set.node, level, spreads)
                }
                Selection::FragmentSpread(_) if spreads >= MAX_SPREAD_NESTING => self.cap + 1,
                Selection::FragmentSpread(spread) => {
                    let fragments = self.fragments;
                    match fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => {
                            self.depth(&fragment.node.selection_set.node, level, spreads + 1)
                        }
                        None => level,
                    }
                }
            };
            deepest = deepest.max(depth);
            if deepest > self.cap {
                return deepest;
            }
        }
        deepest
    }
}

fn count_set(set: &SelectionSet, aliases: &mut usize, directives: &mut usize) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                *aliases += usize::from(field.node.alias.is_some());
                *directives += field.node.directives.len();
                count_set(&field.node.selection_set.node, aliases, directives);
            }
            Selection::InlineFragment(inline) => {
                *directives += inline.node.directives.len();
                count_set(&inline.node.selection_set.node, aliases, directives);
            }
            Selection::FragmentSpread(spread) => *directives += spread.node.directives.len(),
        }
    }
}

fn root_fields(set: &SelectionSet, fragments: &Fragments, hops: usize) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => {
                root_fields(&inline.node.selection_set.node, fragments, hops)
            }
            Selection::FragmentSpread(spread) if hops < 8 => fragments
                .get(&spread.node.fragment_name.node)
                .map(|f| root_fields(&f.node.selection_set.node, fragments, hops + 1))
                .unwrap_or(0),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Measures `document` (every operation and fragment it contains).
pub fn measure(document: &ExecutableDocument, depth_cap: usize) -> DocumentShape {
    let mut shape = DocumentShape::default();
    for (_, operation) in document.operations.iter() {
        shape.directives += operation.node.directives.len();
        let set = &operation.node.selection_set.node;
        let mut walk = DepthWalk {
            fragments: &document.fragments,
            cap: depth_cap,
            visits: 0,
        };
        shape.depth = shape.depth.max(walk.depth(set, 1, 0));
        shape.root_fields = shape
            .root_fields
            .max(root_fields(set, &document.fragments, 0));
        count_set(set, &mut shape.aliases, &mut shape.directives);
    }
    for fragment in document.fragments.values() {
        shape.directives += fragment.node.directives.len();
        count_set(
            &fragment.node.selection_set.node,
            &mut shape.aliases,
            &mut shape.directives,
        );
    }
    shape
}

fn refuse(code: &'static str, message: String) -> ServerError {
    refuse_with(code, message, |_| {})
}

fn refuse_with(
    code: &'static str,
    message: String,
    more: impl FnOnce(&mut async_graphql::ErrorExtensionValues),
) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    more(&mut ext);
    err.extensions = Some(ext);
    err
}

/// Checks a measured shape against the limits.
pub fn check(shape: &DocumentShape, limits: &Limits) -> Result<(), ServerError> {
    if shape.depth > limits.max_depth {
        return Err(refuse(
            MAX_DEPTH_EXCEEDED,
            format!("the query is deeper than {} levels", limits.max_depth),
        ));
    }
    if shape.aliases > limits.max_aliases {
        return Err(refuse(
            MAX_ALIASES_EXCEEDED,
            format!("the query uses more than {} aliases", limits.max_aliases),
        ));
    }
    if shape.root_fields > limits.max_root_fields {
        return Err(refuse(
            MAX_ROOT_FIELDS_EXCEEDED,
            format!(
                "the operation selects more than {} root fields",
                limits.max_root_fields
            ),
        ));
    }
    if shape.directives > limits.max_directives {
        return Err(refuse(
            MAX_DIRECTIVES_EXCEEDED,
            format!(
                "the query uses more than {} directives",
                limits.max_directives
            ),
        ));
    }
    Ok(())
}

/// A subgraph's registry as erp-net's cost estimate reads it, with the subgraph's own nested
/// page caps.
struct RegistrySchema<'a>(&'a Registry, &'a Limits);

impl cost::Schema for RegistrySchema<'_> {
    fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)> {
        let field = self.0.types.get(parent)?.field_by_name(field)?;
        let ty = MetaTypeName::create(&field.ty);
        Some((MetaTypeName::concrete_typename(&field.ty), ty.is_list()))
    }

    fn is_leaf(&self, type_name: &str) -> bool {
        matches!(
            self.0.types.get(type_name),
            Some(MetaType::Scalar { .. } | MetaType::Enum { .. })
        )
    }

    fn nested_page_cap(&self, parent: &str, field: &str) -> Option<u64> {
        if self.1.nested_page_caps.is_empty() {
            return None;
        }
        self.1
            .nested_page_caps
            .get(&format!("{parent}.{field}"))
            .copied()
    }
}

/// A selection set of a parsed document, with what its spreads and arguments refer to.
#[derive(Clone, Copy)]
struct DocumentSelection<'a> {
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    variables: &'a Variables,
}

impl cost::Selection for DocumentSelection<'_> {
    fn items(self, visit: &mut dyn FnMut(Item<'_, Self>)) {
        for item in &self.set.items {
            match &item.node {
                Selection::Field(field) => visit(Item::Field {
                    name: field.node.name.node.as_str(),
                    slice: slice(&field.node, self.variables),
                    selection: DocumentSelection {
                        set: &field.node.selection_set.node,
                        ..self
                    },
                }),
                Selection::InlineFragment(inline) => visit(Item::Fragment {
                    type_condition: inline
                        .node
                        .type_condition
                        .as_ref()
                        .map(|condition| condition.node.on.node.as_str()),
                    selection: DocumentSelection {
                        set: &inline.node.selection_set.node,
                        ..self
                    },
                }),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node) {
                        visit(Item::Fragment {
                            type_condition: Some(
                                fragment.node.type_condition.node.on.node.as_str(),
                            ),
                            selection: DocumentSelection {
                                set: &fragment.node.selection_set.node,
                                ..self
                            },
                        })
                    }
                }
            }
        }
    }
}

/// How many items a list field asks for: `first`/`last`, or for `_entities` (the router's
/// fetch of entities it has) the number of representations.
fn slice(field: &Field, variables: &Variables) -> Option<u64> {
    let mut largest = None;
    for (name, value) in &field.arguments {
        let size = match name.node.as_str() {
            "first" | "last" => number(&value.node, variables),
            "representations" => list_length(&value.node, variables),
            _ => None,
        };
        largest = largest.max(size);
    }
    largest
}

fn number(value: &Value, variables: &Variables) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::Variable(name) => match variables.get(name)? {
            ConstValue::Number(n) => n.as_u64(),
            _ => None,
        },
        _ => None,
    }
}

fn list_length(value: &Value, variables: &Variables) -> Option<u64> {
    match value {
        Value::List(items) => u64::try_from(items.len()).ok(),
        Value::Variable(name) => match variables.get(name)? {
            ConstValue::List(items) => u64::try_from(items.len()).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The cost of the costliest operation of `document` (the one executed is chosen later).
pub fn estimate(
    document: &ExecutableDocument,
    registry: &Registry,
    variables: &Variables,
    limits: &Limits,
) -> Estimate {
    let rules = CostRules {
        default_list_size: limits.default_list_size,
        default_page_size: crate::pagination::DEFAULT_PAGE_SIZE,
        max_nested_page: Some(limits.max_nested_page_size),
    };
    let schema = RegistrySchema(registry, limits);
    let mut costliest = Estimate {
        cost: 0,
        nested_page: None,
    };
    for (_, operation) in document.operations.iter() {
        let root = match operation.node.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        let Some(root) = root else { continue };
        let estimate = cost::estimate(
            &rules,
            &schema,
            root,
            DocumentSelection {
                set: &operation.node.selection_set.node,
                fragments: &document.fragments,
                variables,
            },
        );
        costliest = Estimate {
            cost: costliest.cost.max(estimate.cost),
            nested_page: costliest.nested_page.or(estimate.nested_page),
        };
    }
    costliest
}

/// Checks an estimate against the limits: a nested page over its cap first (the precise
/// fix), then the cost.
pub fn check_cost(estimate: &Estimate, limits: &Limits) -> Result<(), ServerError> {
    if let Some(page) = &estimate.nested_page {
        return Err(refuse_with(
            crate::ErrorCode::BadUserInput.as_str(),
            format!(
                "a page of `{}` inside a list holds at most {} items (asked: {}): nested pages multiply",
                page.field, page.max, page.size
            ),
            |ext| ext.set("field", "first"),
        ));
    }
    if estimate.cost > limits.max_cost {
        let (cost, max) = (estimate.cost, limits.max_cost);
        return Err(refuse_with(
            COST_LIMIT_EXCEEDED,
            format!("the operation may cost {cost}, more than the limit of {max}: ask for smaller pages (first/last), especially of nested lists"),
            |ext| {
                ext.set("cost", cost);
                ext.set("maxCost", max);
            },
        ));
    }
    Ok(())
}

/// The extension form of [`check`] and [`check_cost`], installed on every subgraph schema.
pub struct RequestLimits(pub Arc<Limits>);

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimitsExtension(self.0.clone()))
    }
}

struct RequestLimitsExtension(Arc<Limits>);

#[async_trait::async_trait]
impl Extension for RequestLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&measure(&document, self.0.max_depth + 1), &self.0)?;
        check_cost(
            &estimate(&document, &ctx.schema_env.registry, variables, &self.0),
            &self.0,
        )?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> DocumentShape {
        measure(&async_graphql::parser::parse_query(query).unwrap(), 100)
    }

    #[test]
    fn measures_depth_aliases_roots_and_directives() {
        let s = shape("{ a { b { c } } d: e @skip(if: false) ...F } fragment F on Query { x { y { z { w } } } }");
        assert_eq!(s.depth, 4);
        assert_eq!(s.aliases, 1);
        assert_eq!(s.root_fields, 3);
        assert_eq!(s.directives, 1);
    }

    #[test]
    fn fragment_cycles_terminate() {
        let s = measure(
            &async_graphql::parser::parse_query("{ ...A } fragment A on Query { a { ...A } }")
                .unwrap(),
            13,
        );
        assert!(s.depth > 12);
        // A fragment spread into itself without a field in between, and a fragment doubled
        // at every level (2^40 selections walked naively), end as over any depth.
        let s = shape("{ ...A } fragment A on Query { ...A }");
        assert!(s.depth > 12, "{s:?}");
        let mut bomb = String::from("{ ...F0 } ");
        for i in 0..40 {
            bomb.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }} ",
                i + 1,
                i + 1
            ));
        }
        bomb.push_str("fragment F40 on Query { a }");
        let s = measure(&async_graphql::parser::parse_query(&bomb).unwrap(), 13);
        assert!(s.depth > 12, "{s:?}");
    }

    mod schema {
        use async_graphql::connection::{Connection, EmptyFields};
        use async_graphql::{EmptyMutation, EmptySubscription, Object, SimpleObject};

        #[derive(SimpleObject)]
        pub struct Employee {
            pub id: i32,
        }

        pub struct Department;

        type Page<T> = Connection<usize, T, EmptyFields, EmptyFields>;

        #[Object]
        impl Department {
            async fn id(&self) -> i32 {
                1
            }
            async fn employees(&self, first: Option<i32>, last: Option<i32>) -> Page<Employee> {
                let _ = (first, last);
                Connection::new(false, false)
            }
        }

        pub struct Query;

        #[Object]
        impl Query {
            async fn departments(&self, first: Option<i32>, last: Option<i32>) -> Page<Department> {
                let _ = (first, last);
                Connection::new(false, false)
            }
            async fn tags(&self) -> Vec<String> {
                vec![]
            }
        }

        pub type TestSchema = async_graphql::Schema<Query, EmptyMutation, EmptySubscription>;

        pub fn build(limits: &crate::config::Limits) -> TestSchema {
            crate::schema::finish(
                async_graphql::Schema::build(Query, EmptyMutation, EmptySubscription),
                limits,
            )
        }
    }

    /// The first error's code and extensions of `query` on a schema with `limits`.
    fn refusal(limits: &Limits, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let schema = schema::build(limits);
        let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
        let response =
            futures::executor::block_on(async_graphql::Executor::execute(&schema, request));
        let body = serde_json::to_value(&response).unwrap();
        body["errors"][0].clone()
    }

    #[test]
    fn a_costly_operation_is_refused_with_its_estimate_and_a_cheap_one_runs() {
        let limits = Limits {
            max_cost: 100,
            ..Limits::default()
        };
        // 1 (connection) + 100 x 1 (nodes): over 100.
        let error = refusal(
            &limits,
            "{ departments(first: 100) { nodes { id } } }",
            serde_json::json!({}),
        );
        assert_eq!(error["extensions"]["code"], COST_LIMIT_EXCEEDED, "{error}");
        assert_eq!(error["extensions"]["cost"], 101);
        assert_eq!(error["extensions"]["maxCost"], 100);
        // The same through a variable.
        let error = refusal(
            &limits,
            "query($n: Int) { departments(first: $n) { nodes { id } } }",
            serde_json::json!({ "n": 100 }),
        );
        assert_eq!(error["extensions"]["cost"], 101, "{error}");
        // 1 + 99: at the limit, allowed; lists of scalars cost nothing.
        let ok = refusal(
            &limits,
            "{ departments(first: 99) { nodes { id } } tags }",
            serde_json::json!({}),
        );
        assert!(ok.is_null(), "{ok}");
    }

    #[test]
    fn a_large_page_nested_under_a_list_is_refused_but_not_at_the_top() {
        let limits = Limits::default();
        let nested = |inner: u32| {
            refusal(
                &limits,
                &format!("{{ departments(first: 10) {{ nodes {{ employees(first: {inner}) {{ nodes {{ id }} }} }} }} }}"),
                serde_json::json!({}),
            )
        };
        let error = nested(26);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], "first");
        assert_eq!(
            error["message"],
            "a page of `Department.employees` inside a list holds at most 25 items (asked: 26): nested pages multiply"
        );
        assert!(nested(25).is_null());
        // Under `edges` too, and in a fragment.
        let error = refusal(
            &limits,
            "{ departments { edges { node { ...D } } } } fragment D on Department { employees(last: 50) { nodes { id } } }",
            serde_json::json!({}),
        );
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        // A top-level connection keeps the page cap of 100 (the resolver's).
        assert!(refusal(
            &limits,
            "{ departments(first: 100) { nodes { id } } }",
            serde_json::json!({})
        )
        .is_null());
    }

    #[test]
    fn a_connection_the_subgraph_bounds_has_its_own_nested_cap() {
        let limits = Limits::default().with_nested_page_cap("Department.employees", 50);
        let nested = |inner: u32| {
            refusal(
                &limits,
                &format!("{{ departments(first: 6) {{ nodes {{ employees(first: {inner}) {{ nodes {{ id }} }} }} }} }}"),
                serde_json::json!({}),
            )
        };
        assert!(nested(50).is_null());
        let error = nested(51);
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(
            error["message"],
            "a page of `Department.employees` inside a list holds at most 50 items (asked: 51): nested pages multiply"
        );
    }
}
