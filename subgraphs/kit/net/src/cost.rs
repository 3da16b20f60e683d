//! The cost of an operation: how much it may make the servers load, estimated from its list
//! sizes before anything runs. The router refuses an operation above its limit and charges the
//! rate limiter by it; each subgraph refuses one above its own limit (a request that did not
//! come through the router, or a router that misjudged).
//!
//! The rules (close to IBM's GraphQL cost directives, with Relay connections understood):
//!
//! - a scalar or enum field costs 0, introspection fields (`__typename`, `__schema`) cost 0;
//! - an object field costs 1 plus its selection;
//! - a list field costs its size times (1 + its selection): the size is its `first`/`last`
//!   argument, else [`CostRules::default_list_size`];
//! - a connection (an object type with `pageInfo` and a list `edges`) costs 1 plus its
//!   selection, whose `edges` and `nodes` lists have the connection's page size: `first` or
//!   `last`, else [`CostRules::default_page_size`].
//!
//! So nested connections multiply: `departments(first: 100) { nodes { employees(first: 100)
//! { nodes { id } } } }` costs 1 + 100 x (1 + 1 + 100 x 1) = 10,201. A connection under a list
//! whose page is larger than [`CostRules::max_nested_page`] is reported (the kit refuses it).
//!
//! The walk is generic over the two syntax trees that use it (the router's normalised operation
//! and async-graphql's document) through [`Schema`] and [`Selection`]; it visits at most
//! [`MAX_VISITS`] selections (a fragment that spreads itself twice at every level would
//! otherwise take exponential time) nested at most [`MAX_NESTING`] deep (a fragment cycle), and
//! an operation that needs more costs `u64::MAX`.

/// How list sizes are assumed when an operation does not give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostRules {
    /// Items of a plain list field (`[Employee!]!`) without a slicing argument.
    pub default_list_size: u64,
    /// Page size of a connection without `first`/`last` (the kit's `DEFAULT_PAGE_SIZE`).
    pub default_page_size: u64,
    /// The largest page a connection nested under a list may ask for; `None`: no cap.
    pub max_nested_page: Option<u64>,
}

impl Default for CostRules {
    fn default() -> Self {
        Self {
            default_list_size: 10,
            default_page_size: 20,
            max_nested_page: None,
        }
    }
}

/// Selections visited at most per estimate.
pub const MAX_VISITS: u32 = 100_000;
/// Selection sets nested at most (fields and fragments both count): far beyond any depth limit,
/// only reached by a fragment cycle, which validation refuses later.
pub const MAX_NESTING: u32 = 64;

/// What the estimate needs from a schema.
pub trait Schema {
    /// The named type `parent.field` returns and whether it is a list (at any depth of
    /// wrapping); `None` for a field the schema does not know.
    fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)>;
    /// Whether a named type is a scalar or an enum.
    fn is_leaf(&self, type_name: &str) -> bool;
    /// The largest page the connection `parent.field` may ask for under a list when it is not
    /// [`CostRules::max_nested_page`]: a field whose enclosing list the schema bounds (a
    /// board's few stages) may allow more. `None` (the default): the rules' cap.
    fn nested_page_cap(&self, _parent: &str, _field: &str) -> Option<u64> {
        None
    }
}

/// One selection of a selection set, as [`Selection::items`] hands it out.
pub enum Item<'a, S> {
    Field {
        name: &'a str,
        /// The field's `first`/`last` (the larger when both), resolved from the variables;
        /// `None` when it has neither (or a value that is not a non-negative integer).
        slice: Option<u64>,
        selection: S,
    },
    /// An inline fragment or a fragment spread.
    Fragment {
        type_condition: Option<&'a str>,
        selection: S,
    },
}

/// A selection set of some syntax tree.
pub trait Selection: Copy {
    fn items(self, visit: &mut dyn FnMut(Item<'_, Self>));
}

/// A connection below a list whose page exceeds [`CostRules::max_nested_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedPage {
    /// `Type.field`.
    pub field: String,
    pub size: u64,
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub cost: u64,
    /// The first nested connection over its cap, if any.
    pub nested_page: Option<NestedPage>,
}

/// The cost of `selection`, an operation on `root_type`.
pub fn estimate<Sch: Schema, S: Selection>(
    rules: &CostRules,
    schema: &Sch,
    root_type: &str,
    selection: S,
) -> Estimate {
    let mut walk = Walk {
        rules,
        schema,
        visits: 0,
        nesting: 0,
        nested_page: None,
    };
    let cost = walk.set(root_type, selection, None, false);
    Estimate {
        cost,
        nested_page: walk.nested_page,
    }
}

/// The rate-limit units of an operation: one per root field (as before costs existed), or its
/// cost divided by `cost_per_unit` (rounded up) when that is more.
pub fn units(cost: u64, root_fields: usize, cost_per_unit: u64) -> u32 {
    let by_cost = cost.div_ceil(cost_per_unit.max(1));
    let by_fields = u64::try_from(root_fields).unwrap_or(u64::MAX).max(1);
    u32::try_from(by_cost.max(by_fields)).unwrap_or(u32::MAX)
}

struct Walk<'r, Sch> {
    rules: &'r CostRules,
    schema: &'r Sch,
    visits: u32,
    nesting: u32,
    nested_page: Option<NestedPage>,
}

impl<'r, Sch: Schema> Walk<'r, Sch> {
    /// `page`: the page size of the connection this set belongs to (for its `edges`/`nodes`);
    /// `multiplied`: whether the set is under a list (each item repeats it).
    fn set<S: Selection>(
        &mut self,
        parent: &str,
        selection: S,
        page: Option<u64>,
        multiplied: bool,
    ) -> u64 {
        if self.nesting >= MAX_NESTING {
            return u64::MAX;
        }
        self.nesting += 1;
        let mut total = 0u64;
        selection.items(&mut |item| {
            self.visits = self.visits.saturating_add(1);
            if self.visits > MAX_VISITS {
                total = u64::MAX;
                return;
            }
            let cost = match item {
                Item::Field {
                    name,
                    slice,
                    selection,
                } => self.field(parent, name, slice, selection, page, multiplied),
                Item::Fragment {
                    type_condition,
                    selection,
                } => self.set(
                    type_condition.unwrap_or(parent),
                    selection,
                    page,
                    multiplied,
                ),
            };
            total = total.saturating_add(cost);
        });
        self.nesting -= 1;
        total
    }

    fn field<S: Selection>(
        &mut self,
        parent: &str,
        name: &str,
        slice: Option<u64>,
        selection: S,
        page: Option<u64>,
        multiplied: bool,
    ) -> u64 {
        if name.starts_with("__") {
            return 0;
        }
        let schema = self.schema;
        let Some((ty, is_list)) = schema.field(parent, name) else {
            return 1;
        };
        if schema.is_leaf(ty) {
            return 0;
        }
        if is_list {
            let size = match page {
                Some(page) if name == "edges" || name == "nodes" => page,
                _ => slice.unwrap_or(self.rules.default_list_size),
            };
            let per_item = 1u64.saturating_add(self.set(ty, selection, None, true));
            return size.saturating_mul(per_item);
        }
        if is_connection(schema, ty) {
            let size = slice.unwrap_or(self.rules.default_page_size);
            if let Some(max) = self.rules.max_nested_page {
                let max = schema.nested_page_cap(parent, name).unwrap_or(max);
                if multiplied && size > max && self.nested_page.is_none() {
                    self.nested_page = Some(NestedPage {
                        field: format!("{parent}.{name}"),
                        size,
                        max,
                    });
                }
            }
            return 1u64.saturating_add(self.set(ty, selection, Some(size), multiplied));
        }
        1u64.saturating_add(self.set(ty, selection, None, multiplied))
    }
}

/// A Relay connection: an object type with `pageInfo` and a list `edges`.
fn is_connection(schema: &impl Schema, type_name: &str) -> bool {
    schema.field(type_name, "pageInfo").is_some()
        && schema
            .field(type_name, "edges")
            .is_some_and(|(_, is_list)| is_list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A schema written as `Type.field -> (type, list)`; leaves are the names starting with a
    /// lowercase letter or `String`/`ID`/`Int`.
    struct TestSchema(HashMap<(&'static str, &'static str), (&'static str, bool)>);

    impl Schema for TestSchema {
        fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)> {
            self.0
                .iter()
                .find(|((p, f), _)| *p == parent && *f == field)
                .map(|(_, (ty, list))| (*ty, *list))
        }
        fn is_leaf(&self, type_name: &str) -> bool {
            matches!(type_name, "String" | "ID" | "Int" | "Status")
        }
    }

    fn schema() -> TestSchema {
        let mut fields = HashMap::new();
        for (parent, field, ty, list) in [
            ("Query", "departments", "DepartmentConnection", false),
            ("Query", "employee", "Employee", false),
            ("Query", "chart", "Node", false),
            ("DepartmentConnection", "edges", "DepartmentEdge", true),
            ("DepartmentConnection", "nodes", "Department", true),
            ("DepartmentConnection", "pageInfo", "PageInfo", false),
            ("DepartmentEdge", "node", "Department", false),
            ("DepartmentEdge", "cursor", "String", false),
            ("Department", "id", "ID", false),
            ("Department", "employees", "EmployeeConnection", false),
            ("EmployeeConnection", "edges", "EmployeeEdge", true),
            ("EmployeeConnection", "nodes", "Employee", true),
            ("EmployeeConnection", "pageInfo", "PageInfo", false),
            ("EmployeeEdge", "node", "Employee", false),
            ("Employee", "id", "ID", false),
            ("Employee", "status", "Status", false),
            ("Employee", "tags", "String", true),
            ("Employee", "reports", "EmployeeConnection", false),
            ("Employee", "chain", "Employee", true),
            ("PageInfo", "hasNextPage", "Int", false),
            ("Node", "children", "Node", true),
            ("Node", "id", "ID", false),
        ] {
            fields.insert((parent, field), (ty, list));
        }
        TestSchema(fields)
    }

    /// A tiny syntax tree: `(name, slice, children)`; a name starting with `...` is an inline
    /// fragment on the rest of the name.
    #[derive(Debug)]
    struct Node(&'static str, Option<u64>, Vec<Node>);

    #[derive(Clone, Copy)]
    struct Set<'a>(&'a [Node]);

    impl Selection for Set<'_> {
        fn items(self, visit: &mut dyn FnMut(Item<'_, Self>)) {
            for Node(name, slice, children) in self.0 {
                match name.strip_prefix("...") {
                    Some(on) => visit(Item::Fragment {
                        type_condition: Some(on),
                        selection: Set(children),
                    }),
                    None => visit(Item::Field {
                        name,
                        slice: *slice,
                        selection: Set(children),
                    }),
                }
            }
        }
    }

    fn f(name: &'static str, slice: Option<u64>, children: Vec<Node>) -> Node {
        Node(name, slice, children)
    }

    fn leaf(name: &'static str) -> Node {
        Node(name, None, vec![])
    }

    fn rules() -> CostRules {
        CostRules {
            default_list_size: 10,
            default_page_size: 20,
            max_nested_page: Some(25),
        }
    }

    fn cost(query: Vec<Node>) -> Estimate {
        estimate(&rules(), &schema(), "Query", Set(&query))
    }

    #[test]
    fn scalars_are_free_objects_cost_one_and_introspection_nothing() {
        assert_eq!(cost(vec![leaf("__typename")]).cost, 0);
        assert_eq!(
            cost(vec![f("employee", None, vec![leaf("id"), leaf("status")])]).cost,
            1
        );
        // A list of scalars costs nothing either.
        assert_eq!(cost(vec![f("employee", None, vec![leaf("tags")])]).cost, 1);
        // A field the schema does not know costs 1.
        assert_eq!(cost(vec![leaf("mystery")]).cost, 1);
    }

    #[test]
    fn a_connection_multiplies_its_edges_and_nodes_by_its_page() {
        let page = |slice| {
            cost(vec![f(
                "departments",
                slice,
                vec![
                    f("pageInfo", None, vec![leaf("hasNextPage")]),
                    f("nodes", None, vec![leaf("id")]),
                ],
            )])
            .cost
        };
        // 1 (connection) + 1 (pageInfo) + page x 1 (nodes).
        assert_eq!(page(Some(5)), 1 + 1 + 5);
        assert_eq!(page(None), 1 + 1 + 20, "the default page");
        let edges = cost(vec![f(
            "departments",
            Some(3),
            vec![f("edges", None, vec![f("node", None, vec![leaf("id")])])],
        )]);
        // 1 + 3 x (edge 1 + node 1).
        assert_eq!(edges.cost, 1 + 3 * 2);
    }

    #[test]
    fn nested_connections_multiply_and_a_large_nested_page_is_reported() {
        let nested = |inner| {
            cost(vec![f(
                "departments",
                Some(100),
                vec![f(
                    "nodes",
                    None,
                    vec![f(
                        "employees",
                        inner,
                        vec![f("nodes", None, vec![leaf("id")])],
                    )],
                )],
            )])
        };
        let small = nested(Some(25));
        assert_eq!(small.cost, 1 + 100 * (1 + 1 + 25));
        assert_eq!(small.nested_page, None);
        let large = nested(Some(100));
        assert_eq!(large.cost, 1 + 100 * (1 + 1 + 100));
        assert_eq!(
            large.nested_page,
            Some(NestedPage {
                field: "Department.employees".into(),
                size: 100,
                max: 25
            })
        );
        // Under a single object a connection is not multiplied: not capped.
        let single = cost(vec![f(
            "employee",
            None,
            vec![f(
                "reports",
                Some(100),
                vec![f("nodes", None, vec![leaf("id")])],
            )],
        )]);
        assert_eq!(single.cost, 1 + 1 + 100);
        assert_eq!(single.nested_page, None);
    }

    /// The test schema with `Department.employees` allowed 60 items under a list.
    struct BoundedEmployees(TestSchema);

    impl Schema for BoundedEmployees {
        fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)> {
            self.0.field(parent, field)
        }
        fn is_leaf(&self, type_name: &str) -> bool {
            self.0.is_leaf(type_name)
        }
        fn nested_page_cap(&self, parent: &str, field: &str) -> Option<u64> {
            (parent == "Department" && field == "employees").then_some(60)
        }
    }

    #[test]
    fn a_field_with_its_own_nested_cap_is_held_to_it() {
        let nested = |inner| {
            let query = vec![f(
                "departments",
                Some(6),
                vec![f(
                    "nodes",
                    None,
                    vec![f(
                        "employees",
                        inner,
                        vec![f("nodes", None, vec![leaf("id")])],
                    )],
                )],
            )];
            estimate(&rules(), &BoundedEmployees(schema()), "Query", Set(&query))
        };
        // Over the rules' 25, within the field's own 60: allowed, and costed as usual.
        let within = nested(Some(50));
        assert_eq!(within.nested_page, None);
        assert_eq!(within.cost, 1 + 6 * (1 + 1 + 50));
        assert_eq!(
            nested(Some(61)).nested_page,
            Some(NestedPage {
                field: "Department.employees".into(),
                size: 61,
                max: 60
            })
        );
        // Without a cap in the rules (the router) nothing is reported.
        let query = vec![f(
            "departments",
            Some(6),
            vec![f("nodes", None, vec![f("employees", Some(500), vec![])])],
        )];
        let uncapped = CostRules {
            max_nested_page: None,
            ..rules()
        };
        let estimate = estimate(&uncapped, &BoundedEmployees(schema()), "Query", Set(&query));
        assert_eq!(estimate.nested_page, None);
    }

    #[test]
    fn plain_lists_use_their_slice_or_the_default_and_fragments_count_on_their_type() {
        let chain = cost(vec![f(
            "employee",
            None,
            vec![f("chain", None, vec![leaf("id")])],
        )]);
        assert_eq!(chain.cost, 1 + 10);
        let tree = cost(vec![f(
            "chart",
            None,
            vec![f(
                "children",
                None,
                vec![f("children", Some(2), vec![leaf("id")])],
            )],
        )]);
        // 1 + 10 x (1 + 2 x 1).
        assert_eq!(tree.cost, 1 + 10 * 3);
        let fragment = cost(vec![f(
            "employee",
            None,
            vec![f("...Employee", None, vec![f("chain", Some(4), vec![])])],
        )]);
        assert_eq!(fragment.cost, 1 + 4);
    }

    #[test]
    fn costs_saturate_and_the_walk_is_bounded() {
        // 20 levels of 1,000-item lists overflow u64: saturated, not wrapped.
        let mut node = leaf("id");
        for _ in 0..20 {
            node = f("children", Some(1000), vec![node]);
        }
        assert_eq!(cost(vec![f("chart", None, vec![node])]).cost, u64::MAX);

        /// Fragments spreading the next one twice, `levels` deep (2^levels selections if walked
        /// naively); `levels` above the nesting bound is a cycle.
        #[derive(Clone, Copy)]
        struct Bomb(u32);
        impl Selection for Bomb {
            fn items(self, visit: &mut dyn FnMut(Item<'_, Self>)) {
                if self.0 == 0 {
                    return visit(Item::Field {
                        name: "__typename",
                        slice: None,
                        selection: self,
                    });
                }
                for _ in 0..2 {
                    visit(Item::Fragment {
                        type_condition: None,
                        selection: Bomb(self.0 - 1),
                    });
                }
            }
        }
        assert_eq!(estimate(&rules(), &schema(), "Query", Bomb(10)).cost, 0);
        assert_eq!(
            estimate(&rules(), &schema(), "Query", Bomb(40)).cost,
            u64::MAX
        );
        assert_eq!(
            estimate(&rules(), &schema(), "Query", Bomb(1_000)).cost,
            u64::MAX
        );
    }

    #[test]
    fn units_are_root_fields_or_cost_per_unit_whichever_is_more() {
        assert_eq!(units(0, 0, 100), 1, "at least one");
        assert_eq!(units(40, 20, 100), 20, "twenty light root fields");
        assert_eq!(units(101, 1, 100), 2);
        assert_eq!(units(10_201, 1, 100), 103);
        assert_eq!(units(u64::MAX, 1, 100), u32::MAX);
        assert_eq!(units(5, 1, 0), 5, "a zero unit is one");
    }
}
