//! The schema lint (issue 15), run on the composed public API (schema/api.graphql) by
//! `schema_sdl`: what a client team relies on, checked for every domain from its first commit.
//!
//! - every type, field, argument, input field, enum value and directive is described;
//! - no `Int`/`Float` holds an instant and no `String` a day, an instant or an ISO week (the
//!   kit has `DateTime`, `Date` and `IsoWeek`);
//! - no `String` where the schema already has an enum or a scalar for the concept (`Punch.source`
//!   beside the `PunchSource` enum, `currency` beside `CurrencyCode`);
//! - naming: types in PascalCase, fields, arguments and input fields in camelCase, enum values
//!   in SCREAMING_SNAKE_CASE, input objects named `...Input`;
//! - Relay connections: a `...Connection` has `edges: [...Edge!]!`, `nodes` and
//!   `pageInfo: PageInfo!`; an edge has `node` and `cursor: String!`; a field returning a
//!   connection takes `first` and `after`;
//! - mutations take one argument, `input: ...Input!` (or none);
//! - no type or directive defined twice, no directive applied twice to one element.
//!
//! What is deprecated is exempt from the type and mutation-shape rules (it stays until removed,
//! beside its replacement) but must still be described: a deprecated field's arguments, and the
//! input objects only deprecated forms reach, with it.

use async_graphql::parser::types::{
    BaseType, ConstDirective, FieldDefinition, InputValueDefinition, Type, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use std::collections::{BTreeMap, BTreeSet};

/// The problems of `sdl`, one line each (`Type.field(arg): what`); empty when it passes.
pub fn lint(sdl: &str) -> Vec<String> {
    let document = match async_graphql::parser::parse_schema(sdl) {
        Ok(document) => document,
        Err(error) => return vec![format!("does not parse: {error}")],
    };
    let mut types: Vec<&TypeDefinition> = Vec::new();
    let mut problems = Vec::new();
    let mut directive_names = BTreeSet::new();
    for definition in &document.definitions {
        match definition {
            TypeSystemDefinition::Type(t) => types.push(&t.node),
            TypeSystemDefinition::Directive(d) => {
                let name = d.node.name.node.as_str();
                if !directive_names.insert(name.to_owned()) {
                    problems.push(format!("@{name}: defined twice"));
                }
                if !described(&d.node.description) {
                    problems.push(format!("@{name}: no description"));
                }
            }
            TypeSystemDefinition::Schema(_) => {}
        }
    }
    let mut type_names = BTreeSet::new();
    for t in &types {
        if !type_names.insert(t.name.node.as_str()) {
            problems.push(format!("{}: defined twice", t.name.node));
        }
    }
    // Enums and custom scalars: the names a `String` must not stand in for.
    let typed_concepts: BTreeSet<&str> = types
        .iter()
        .filter(|t| matches!(t.kind, TypeKind::Enum(_) | TypeKind::Scalar))
        .map(|t| t.name.node.as_str())
        .collect();
    let current_inputs = inputs_in_current_use(&types);
    for t in &types {
        let legacy = matches!(t.kind, TypeKind::InputObject(_))
            && !current_inputs.contains(t.name.node.as_str());
        Lint {
            owner: t,
            legacy,
            concepts: &typed_concepts,
            problems: &mut problems,
        }
        .check();
    }
    problems
}

/// The input objects a current (not deprecated) field or argument reaches; the others serve
/// deprecated forms only and keep their old types until those are removed.
fn inputs_in_current_use<'a>(types: &[&'a TypeDefinition]) -> BTreeSet<&'a str> {
    let by_name: BTreeMap<&str, &TypeDefinition> =
        types.iter().map(|t| (t.name.node.as_str(), *t)).collect();
    let mut pending: Vec<&str> = Vec::new();
    for t in types {
        let fields = match &t.kind {
            TypeKind::Object(object) => &object.fields,
            TypeKind::Interface(interface) => &interface.fields,
            _ => continue,
        };
        for field in fields.iter().filter(|f| !is_deprecated(&f.node.directives)) {
            pending.extend(
                field
                    .node
                    .arguments
                    .iter()
                    .filter(|a| !is_deprecated(&a.node.directives))
                    .map(|a| named_type(&a.node.ty.node)),
            );
        }
    }
    let mut reached = BTreeSet::new();
    while let Some(name) = pending.pop() {
        let Some(TypeKind::InputObject(input)) = by_name.get(name).map(|t| &t.kind) else {
            continue;
        };
        if reached.insert(name) {
            pending.extend(
                input
                    .fields
                    .iter()
                    .filter(|f| !is_deprecated(&f.node.directives))
                    .map(|f| named_type(&f.node.ty.node)),
            );
        }
    }
    reached
}

struct Lint<'a> {
    owner: &'a TypeDefinition,
    /// An input object only deprecated forms use: exempt from the type rules.
    legacy: bool,
    concepts: &'a BTreeSet<&'a str>,
    problems: &'a mut Vec<String>,
}

impl Lint<'_> {
    fn report(&mut self, at: &str, what: &str) {
        self.problems.push(format!("{at}: {what}"));
    }

    fn check(&mut self) {
        let name = self.owner.name.node.as_str();
        if !described(&self.owner.description) {
            self.report(name, "no description");
        }
        if !is_pascal_case(name) {
            self.report(name, "type names are PascalCase");
        }
        self.directives_once(name, &self.owner.directives);
        match &self.owner.kind {
            TypeKind::Object(object) => self.fields(name, &object.fields),
            TypeKind::Interface(interface) => self.fields(name, &interface.fields),
            TypeKind::InputObject(input) => {
                if !name.ends_with("Input") {
                    self.report(name, "input object names end with `Input`");
                }
                for field in &input.fields {
                    let at = format!("{name}.{}", field.node.name.node);
                    self.input_value(&at, &field.node, self.legacy);
                }
            }
            TypeKind::Enum(enumeration) => {
                let mut seen = BTreeMap::new();
                for value in &enumeration.values {
                    let value_name = value.node.value.node.as_str();
                    let at = format!("{name}.{value_name}");
                    if !described(&value.node.description) {
                        self.report(&at, "no description");
                    }
                    if !is_screaming_snake_case(value_name) {
                        self.report(&at, "enum values are SCREAMING_SNAKE_CASE");
                    }
                    if seen.insert(value_name, ()).is_some() {
                        self.report(&at, "defined twice");
                    }
                    self.directives_once(&at, &value.node.directives);
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
        if name.ends_with("Connection") {
            self.connection(name);
        }
        if name.ends_with("Edge") {
            self.edge(name);
        }
    }

    fn fields(&mut self, owner: &str, fields: &[Positioned<FieldDefinition>]) {
        let mut seen = BTreeSet::new();
        for field in fields {
            let field = &field.node;
            let field_name = field.name.node.as_str();
            let at = format!("{owner}.{field_name}");
            if !seen.insert(field_name) {
                self.report(&at, "defined twice");
            }
            if !described(&field.description) {
                self.report(&at, "no description");
            }
            if !is_camel_case(field_name) {
                self.report(&at, "field names are camelCase");
            }
            self.directives_once(&at, &field.directives);
            let deprecated = is_deprecated(&field.directives);
            if !deprecated {
                self.typed_value(&at, owner, field_name, &field.ty.node);
            }
            for argument in &field.arguments {
                let arg_at = format!("{at}({})", argument.node.name.node);
                // A deprecated field's arguments keep their old types with it.
                self.input_value(&arg_at, &argument.node, deprecated);
            }
            let returns = named_type(&field.ty.node);
            if returns.ends_with("Connection") && owner != returns {
                for wanted in ["first", "after"] {
                    if !field.arguments.iter().any(|a| a.node.name.node == wanted) {
                        self.report(&at, &format!("a connection field takes `{wanted}`"));
                    }
                }
            }
            if owner == "Mutation" && !deprecated {
                self.mutation_shape(&at, &field.arguments);
            }
        }
    }

    fn input_value(&mut self, at: &str, value: &InputValueDefinition, legacy: bool) {
        let name = value.name.node.as_str();
        if !described(&value.description) {
            self.report(at, "no description");
        }
        if !is_camel_case(name) {
            self.report(at, "argument and input field names are camelCase");
        }
        self.directives_once(at, &value.directives);
        if !legacy && !is_deprecated(&value.directives) {
            let owner = self.owner.name.node.to_string();
            self.typed_value(at, &owner, name, &value.ty.node);
        }
    }

    /// No time in numbers or strings, no `String` where a typed concept exists.
    fn typed_value(&mut self, at: &str, owner: &str, name: &str, ty: &Type) {
        let base = named_type(ty);
        if matches!(base, "Int" | "Float") {
            if names_an_instant(name) {
                self.report(at, "an instant is a DateTime, not a number");
            } else if names_a_day(name) {
                self.report(at, "a calendar day is a Date, not a number");
            }
        }
        if base == "String" {
            if names_an_instant(name) {
                self.report(at, "an instant is a DateTime, not a String");
            } else if names_a_day(name) {
                self.report(at, "a calendar day is a Date, not a String");
            } else if name == "week" || name.ends_with("Week") {
                self.report(at, "an ISO week is an IsoWeek, not a String");
            }
            if let Some(concept) = self.concept_for(owner, name) {
                self.report(at, &format!("a String where the schema has `{concept}`"));
            }
        }
    }

    /// The enum or scalar a field named `name` on `owner` stands for: `Punch.source` ->
    /// `PunchSource`, `User.status` -> `UserStatus`, `currency` -> `CurrencyCode`, `kind` ->
    /// `Kind` (a plural names its singular).
    fn concept_for(&self, owner: &str, name: &str) -> Option<String> {
        let owner = owner.strip_suffix("Input").unwrap_or(owner);
        let singular = name.strip_suffix('s').unwrap_or(name);
        [name, singular]
            .into_iter()
            .map(upper_first)
            .flat_map(|upper| [format!("{owner}{upper}"), format!("{upper}Code"), upper])
            .find(|candidate| self.concepts.contains(candidate.as_str()))
    }

    /// One `input: XInput!` argument, or none.
    fn mutation_shape(&mut self, at: &str, arguments: &[Positioned<InputValueDefinition>]) {
        let current: Vec<&InputValueDefinition> = arguments
            .iter()
            .map(|a| &a.node)
            .filter(|a| !is_deprecated(&a.directives))
            .collect();
        match current.as_slice() {
            [] => {}
            [only]
                if only.name.node == "input"
                    && !only.ty.node.nullable
                    && named_type(&only.ty.node).ends_with("Input") => {}
            _ => self.report(at, "a mutation takes one argument, `input: ...Input!`"),
        }
    }

    fn connection(&mut self, name: &str) {
        let TypeKind::Object(object) = &self.owner.kind else {
            return self.report(name, "a connection is an object type");
        };
        let item = &name[..name.len() - "Connection".len()];
        let field = |wanted: &str| {
            object
                .fields
                .iter()
                .find(|f| f.node.name.node == wanted)
                .map(|f| f.node.ty.node.to_string())
        };
        if field("edges") != Some(format!("[{item}Edge!]!")) {
            self.report(name, &format!("a connection has `edges: [{item}Edge!]!`"));
        }
        if field("pageInfo").as_deref() != Some("PageInfo!") {
            self.report(name, "a connection has `pageInfo: PageInfo!`");
        }
        if field("nodes").is_none() {
            self.report(name, "a connection has `nodes`");
        }
    }

    fn edge(&mut self, name: &str) {
        let TypeKind::Object(object) = &self.owner.kind else {
            return self.report(name, "an edge is an object type");
        };
        let has = |wanted: &str, ty: Option<&str>| {
            object.fields.iter().any(|f| {
                f.node.name.node == wanted && ty.is_none_or(|ty| f.node.ty.node.to_string() == ty)
            })
        };
        if !has("node", None) {
            self.report(name, "an edge has `node`");
        }
        if !has("cursor", Some("String!")) {
            self.report(name, "an edge has `cursor: String!`");
        }
    }

    fn directives_once(&mut self, at: &str, directives: &[Positioned<ConstDirective>]) {
        let mut seen = BTreeSet::new();
        for directive in directives {
            let name = directive.node.name.node.as_str();
            if !seen.insert(name) {
                self.report(at, &format!("@{name} applied twice"));
            }
        }
    }
}

fn described(description: &Option<Positioned<String>>) -> bool {
    description
        .as_ref()
        .is_some_and(|d| !d.node.trim().is_empty())
}

fn is_deprecated(directives: &[Positioned<ConstDirective>]) -> bool {
    directives.iter().any(|d| d.node.name.node == "deprecated")
}

fn named_type(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named_type(inner),
    }
}

/// `at`, `createdAt`, `timestamp`, `expiresAtMs`, `startedMillis`: an instant by its name.
fn names_an_instant(name: &str) -> bool {
    name == "at"
        || name == "timestamp"
        || name.ends_with("At")
        || name.ends_with("Timestamp")
        || name.ends_with("Ms")
        || name.ends_with("Millis")
        || name.contains("Epoch")
}

/// `day`, `date`, `hiredOn`, `startDate`: a calendar day by its name.
fn names_a_day(name: &str) -> bool {
    matches!(name, "day" | "date") || name.ends_with("On") || name.ends_with("Date")
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn is_pascal_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_camel_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_screaming_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}
