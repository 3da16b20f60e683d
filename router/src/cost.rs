//! The cost of an operation at the edge ([`erp_net::cost`]: list sizes from `first`/`last`,
//! defaults for unbounded lists, nested connections multiplying), over hive-router's
//! normalised operation and the supergraph's field types. `erp_rate_limit` refuses an
//! operation above `cost.max_cost` with `COST_LIMIT_EXCEEDED` (the estimate in `extensions`)
//! and charges the rate limiter by it.
//!
//! hive-router 0.2.19 has a demand-control module of its own, but it sizes lists only from
//! `@listSize` directives (none of our subgraphs declares them; a connection's `first` would be
//! ignored), it runs after planning (after the rate limiter has decided) and it answers with its
//! own code and the estimate in headers only.

use erp_net::cost::{estimate, CostRules, Estimate, Item, Schema, Selection};
use hive_router::executor::execution::plan::VariablesMap;
use hive_router::executor::introspection::schema::{FieldNullability, SchemaMetadata};
use hive_router::query_planner::ast::operation::OperationDefinition;
use hive_router::query_planner::ast::selection_item::SelectionItem;
use hive_router::query_planner::ast::selection_set::{FieldSelection, SelectionSet};
use hive_router::query_planner::ast::value::Value;
use hive_router::query_planner::state::supergraph_state::OperationKind;
use hive_router::sonic_rs::JsonValueTrait;
use serde::Deserialize;

use crate::config_value::number;

pub const COST_LIMIT_EXCEEDED: &str = "COST_LIMIT_EXCEEDED";

/// `plugins.erp_rate_limit.config.cost`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Operations estimated above this are refused (`COST_LIMIT_EXCEEDED`).
    #[serde(default = "default_max_cost", deserialize_with = "number")]
    pub max_cost: u64,
    /// Items assumed for a plain list field without `first`/`last`.
    #[serde(default = "default_list_size", deserialize_with = "number")]
    pub default_list_size: u64,
    /// Page size of a connection without `first`/`last` (the subgraph kit's default page).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub default_page_size: u64,
    /// Cost one rate-limit unit buys: an operation is charged its cost divided by this
    /// (rounded up), and at least one unit per root field.
    #[serde(default = "default_cost_per_unit", deserialize_with = "number")]
    pub cost_per_unit: u64,
}

fn default_max_cost() -> u64 {
    20_000
}
fn default_list_size() -> u64 {
    10
}
fn default_page_size() -> u64 {
    20
}
fn default_cost_per_unit() -> u64 {
    100
}

impl Default for CostConfig {
    fn default() -> Self {
        Self {
            max_cost: default_max_cost(),
            default_list_size: default_list_size(),
            default_page_size: default_page_size(),
            cost_per_unit: default_cost_per_unit(),
        }
    }
}

impl CostConfig {
    pub fn rules(&self) -> CostRules {
        CostRules {
            default_list_size: self.default_list_size,
            default_page_size: self.default_page_size,
            // The subgraphs refuse nested pages over their cap; the edge only estimates.
            max_nested_page: None,
        }
    }
}

/// The supergraph's field types, as hive-router keeps them for its own checks.
struct Supergraph<'a>(&'a SchemaMetadata);

impl Schema for Supergraph<'_> {
    fn field(&self, parent: &str, field: &str) -> Option<(&str, bool)> {
        let info = self.0.get_type_fields(parent)?.get(field)?;
        let is_list = matches!(info.nullability, FieldNullability::List { .. });
        Some((info.output_type_name.as_str(), is_list))
    }

    fn is_leaf(&self, type_name: &str) -> bool {
        self.0.is_scalar_type(type_name) || self.0.enum_values.contains_key(type_name)
    }
}

/// A selection set of the normalised operation (fragments are inlined by then) and the
/// variables its arguments may name.
#[derive(Clone, Copy)]
struct Operation<'a> {
    set: &'a SelectionSet,
    variables: Option<&'a VariablesMap>,
}

impl Selection for Operation<'_> {
    fn items(self, visit: &mut dyn FnMut(Item<'_, Self>)) {
        for item in &self.set.items {
            match item {
                SelectionItem::Field(field) => visit(Item::Field {
                    name: &field.name,
                    slice: slice(field, self.variables),
                    selection: Operation {
                        set: &field.selections,
                        ..self
                    },
                }),
                SelectionItem::InlineFragment(fragment) => visit(Item::Fragment {
                    type_condition: Some(&fragment.type_condition),
                    selection: Operation {
                        set: &fragment.selections,
                        ..self
                    },
                }),
                // Normalisation inlines fragments; none remains to count.
                SelectionItem::FragmentSpread(_) => {}
            }
        }
    }
}

/// The field's `first`/`last` (the larger), a literal or a variable.
fn slice(field: &FieldSelection, variables: Option<&VariablesMap>) -> Option<u64> {
    let arguments = field.arguments.as_ref()?;
    ["first", "last"]
        .into_iter()
        .filter_map(|name| arguments.get_argument(name))
        .filter_map(|value| match value {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::Variable(name) => variables?.get(name)?.as_u64(),
            _ => None,
        })
        .max()
}

/// The estimated cost of `operation` (its root type from `schema`).
pub fn operation_cost(
    rules: &CostRules,
    schema: &SchemaMetadata,
    operation: &OperationDefinition,
    variables: Option<&VariablesMap>,
) -> Estimate {
    let root = match operation.operation_kind {
        None | Some(OperationKind::Query) => schema.query_type_name.as_deref(),
        Some(OperationKind::Mutation) => schema.mutation_type_name.as_deref(),
        Some(OperationKind::Subscription) => schema.subscription_type_name.as_deref(),
    };
    estimate(
        rules,
        &Supergraph(schema),
        root.unwrap_or("Query"),
        Operation {
            set: &operation.selection_set,
            variables,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_has_documented_defaults_and_takes_numbers_as_strings() {
        let config: CostConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(config.max_cost, 20_000);
        assert_eq!(config.default_list_size, 10);
        assert_eq!(config.default_page_size, 20);
        assert_eq!(config.cost_per_unit, 100);
        // What `{ from_env: ERP_ROUTER_MAX_COST }` gives when the variable is set.
        let config: CostConfig =
            serde_json::from_value(serde_json::json!({ "max_cost": "500" })).unwrap();
        assert_eq!(config.max_cost, 500);
        assert!(
            serde_json::from_value::<CostConfig>(serde_json::json!({ "max_cost": "lots" }))
                .is_err()
        );
    }
}
