//! The checked-in SDL under schema/ must be what the code exports; the scope declarations must
//! appear in it as federation directives.
//!
//! After an intended schema change: `UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl`.

use std::path::PathBuf;

mod schema_lint;

fn checked_in(name: &str) -> PathBuf {
    erp_tests::tests_dir().join("../schema").join(name)
}

fn compare(name: &str, exported: String) {
    let path = checked_in(name);
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &exported).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == exported,
        "{} differs from the code's SDL; run `UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl` and review the diff",
        path.display()
    );
}

#[test]
fn employee_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_employee::sdl();
    assert!(sdl.contains("url: \"https://specs.apollo.dev/federation/v2.6\""));
    assert!(sdl.contains("\"@requiresScopes\", \"@authenticated\""));
    // The private fields take the type's `employee:read` (self, managers and HR hold it; the
    // subgraph's row rules decide per record); compensation stays HR-only.
    assert!(sdl.contains("\tpersonalEmail: String\n"), "{sdl}");
    assert!(
        sdl.contains("compensation: Compensation @requiresScopes(scopes: [[\"hr:admin\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains(
            "type Employee @key(fields: \"id\") @requiresScopes(scopes: [[\"employee:read\"]])"
        ),
        "{sdl}"
    );
    assert!(sdl.contains("@authenticated"), "{sdl}");
    assert!(!sdl.contains("directive @authenticated"));
    compare("employee.graphql", sdl);
}

#[test]
fn identity_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_identity::sdl();
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(
        sdl.contains("scopes: [Scope!] @requiresScopes(scopes: [[\"identity:admin\"]])"),
        "{sdl}"
    );
    assert!(sdl.contains("me: User @authenticated"), "{sdl}");
    compare("identity.graphql", sdl);
}

#[test]
fn pmo_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_pmo::sdl();
    assert!(
        sdl.contains("type Employee @key(fields: \"id\", resolvable: false)"),
        "{sdl}"
    );
    assert!(
        sdl.contains(
            "budget: Money @requiresScopes(scopes: [[\"project:write\"], [\"timesheet:approve\"]])"
        ),
        "{sdl}"
    );
    assert!(sdl.contains("type Task @key(fields: \"id\")"), "{sdl}");
    compare("pmo.graphql", sdl);
}

#[test]
fn finance_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_finance::sdl();
    assert!(sdl.contains("type Project @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("type Employee @key(fields: \"id\")"), "{sdl}");
    assert!(
        sdl.contains("type JournalEntry @requiresScopes(scopes: [[\"finance:read\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains("\t\tinput: PostJournalEntryInput!\n\t): PostJournalEntryPayload @requiresScopes(scopes: [[\"finance:write\"]])"),
        "{sdl}"
    );
    // The kit's scalars and money, as in every subgraph (issue 15's contract).
    assert!(
        sdl.contains(
            "scalar Date @specifiedBy(url: \"https://www.rfc-editor.org/rfc/rfc3339#section-5.6\")"
        ),
        "{sdl}"
    );
    assert!(sdl.contains("type Money @shareable"), "{sdl}");
    // No floating point anywhere in finance's schema.
    assert!(!sdl.contains("Float"), "{sdl}");
    compare("finance.graphql", sdl);
}

#[test]
fn crm_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_crm::sdl();
    assert!(sdl.contains("type Client @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("scalar CurrencyCode"), "{sdl}");
    // The kit's Money, never a second definition (composition would refuse it).
    assert!(sdl.contains("type Money @shareable"), "{sdl}");
    compare("crm.graphql", sdl);
}

#[test]
fn ops_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_ops::sdl();
    assert!(sdl.contains("url: \"https://specs.apollo.dev/federation/v2.6\""));
    assert!(
        sdl.contains("\"\"\"\nAn asset of the register.\n\"\"\"\ntype Asset {"),
        "{sdl}"
    );
    assert!(
        sdl.contains("): Asset! @requiresScopes(scopes: [[\"assets:write\"]])"),
        "{sdl}"
    );
    // The kit's Money, never a second definition (composition would refuse it).
    assert!(sdl.contains("type Money @shareable"), "{sdl}");
    compare("ops.graphql", sdl);
}

#[test]
fn analytics_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_analytics::sdl();
    assert!(
        sdl.contains("): MetricResult! @requiresScopes(scopes: [[\"analytics:read\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains("): AnalyticsExport! @requiresScopes(scopes: [[\"analytics:export\"]])"),
        "{sdl}"
    );
    compare("analytics.graphql", sdl);
}

#[test]
fn marketing_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_marketing::sdl();
    assert!(
        sdl.contains("): Campaign! @requiresScopes(scopes: [[\"marketing:send\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains("): MarketingContact! @requiresScopes(scopes: [[\"marketing:write\"]])"),
        "{sdl}"
    );
    compare("marketing.graphql", sdl);
}

/// Every `extensions.code` and `reason` the API can return, as published in schema/errors.json
/// (and docs/errors.md, generated from it): a reason added in code without being published fails
/// here, and so does one published but gone from the code.
#[test]
fn the_error_catalogue_is_checked_in() {
    let domains: &[(&str, &[erp_kit::Reason])] = &[
        ("identity", erp_identity::reasons::ALL),
        ("employee", erp_employee::reasons::ALL),
        ("pmo", erp_pmo::reasons::ALL),
        ("finance", erp_finance::reasons::ALL),
        ("crm", erp_crm::reasons::ALL),
        ("ops", erp_ops::reasons::ALL),
        ("analytics", erp_analytics::reasons::ALL),
        ("marketing", erp_marketing::reasons::ALL),
    ];
    // One name, one code: the same reason in two domains means the same rule.
    let mut codes_by_name = std::collections::HashMap::new();
    for (domain, reasons) in domains {
        let mut seen = std::collections::HashSet::new();
        for reason in reasons.iter() {
            assert!(
                seen.insert(reason.name()),
                "{domain} declares {} twice",
                reason.name()
            );
            assert!(
                !reason.description().trim().is_empty(),
                "{domain}'s {} has no description",
                reason.name()
            );
            let code = *codes_by_name.entry(reason.name()).or_insert(reason.code());
            assert_eq!(
                code,
                reason.code(),
                "{} means two codes ({} in {domain})",
                reason.name(),
                reason.code().as_str()
            );
        }
    }
    let catalogue = erp_kit::error::catalogue(domains);
    let json = serde_json::to_string_pretty(&catalogue).unwrap() + "\n";
    compare("errors.json", json);
    compare("../docs/errors.md", errors_markdown(&catalogue));
}

/// docs/errors.md: the catalogue for people.
fn errors_markdown(catalogue: &serde_json::Value) -> String {
    let mut out = String::from(
        "# Error codes and reasons\n\n\
         Generated from the code by tests/tests/schema_sdl.rs (`UPDATE_SCHEMA=1`); the same list,\n\
         machine-readable, is schema/errors.json. Every GraphQL error carries `extensions.code`;\n\
         a broken domain rule also carries `extensions.reason`. Branch on `code` first, then on\n\
         `reason`. Codes and reasons are never renamed: new ones are added.\n\n\
         ## Codes\n\n| code | meaning |\n|---|---|\n",
    );
    let rows = |key: &str| catalogue[key].as_array().cloned().unwrap_or_default();
    for code in rows("codes") {
        out += &format!(
            "| `{}` | {} |\n",
            code["code"].as_str().unwrap(),
            code["description"].as_str().unwrap()
        );
    }
    out += "\n## Codes answered before an operation executes\n\n| code | meaning |\n|---|---|\n";
    for code in rows("transportCodes") {
        out += &format!(
            "| `{}` | {} |\n",
            code["code"].as_str().unwrap(),
            code["description"].as_str().unwrap()
        );
    }
    out += "\n## Reasons\n\n| domain | reason | code | meaning |\n|---|---|---|---|\n";
    for reason in rows("reasons") {
        out += &format!(
            "| {} | `{}` | `{}` | {} |\n",
            reason["domain"].as_str().unwrap(),
            reason["reason"].as_str().unwrap(),
            reason["code"].as_str().unwrap(),
            reason["description"].as_str().unwrap().replace('\n', " ")
        );
    }
    out
}

/// The floor plan's layering (docs/ARCHITECTURE.md, "Who may import whom"): in every subgraph
/// no file imports a file that imports it back, directly or through others, and a layer never
/// imports a layer above it (domain <- store <- app <- graphql).
#[test]
fn subgraph_files_import_downwards_only() {
    let root = erp_tests::tests_dir().join("../subgraphs");
    let mut problems = Vec::new();
    for subgraph in [
        "identity",
        "employee",
        "pmo",
        "finance",
        "crm",
        "ops",
        "analytics",
        "marketing",
    ] {
        let src = root.join(subgraph).join("src");
        let graph = import_graph(&src);
        for (file, imports) in &graph {
            for imported in imports {
                if let (Some(from), Some(to)) = (layer_rank(file), layer_rank(imported)) {
                    if to > from {
                        problems.push(format!(
                            "{subgraph}: {file} imports {imported}, a layer above it"
                        ));
                    }
                }
            }
        }
        for cycle in cycles(&graph) {
            problems.push(format!("{subgraph}: import cycle {}", cycle.join(" -> ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// domain 0, store 1, events 1, app 2, graphql 3; lib.rs, main.rs and other modules unranked.
fn layer_rank(file: &str) -> Option<u8> {
    let top = file.split('/').next()?;
    match top {
        "domain" => Some(0),
        "store" => Some(1),
        "app" => Some(2),
        "graphql" => Some(3),
        _ => None,
    }
}

/// file (relative to src/, e.g. `app/timers.rs`) -> the files of the crate it imports.
fn import_graph(
    src: &std::path::Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let rel = |p: &std::path::Path| {
        p.strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    let known: std::collections::BTreeSet<String> = files.iter().map(|p| rel(p)).collect();
    // The file a module path (`graphql::loaders::X`) lives in: the longest prefix that is a file.
    let file_of = |segments: &[&str]| -> Option<String> {
        for len in (1..=segments.len()).rev() {
            let base = segments[..len].join("/");
            for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
                if known.contains(&candidate) {
                    return Some(candidate);
                }
            }
        }
        None
    };
    let mut graph = std::collections::BTreeMap::new();
    for path in &files {
        let me = rel(path);
        // The module path of this file, for `super::`.
        let mut module: Vec<String> = me
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if module
            .last()
            .is_some_and(|m| m == "mod" || m == "lib" || m == "main")
        {
            module.pop();
        }
        let text = std::fs::read_to_string(path).unwrap();
        // Test modules may reach anywhere; comments name what they like.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or(&text)
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.as_str();
        let mut imports = std::collections::BTreeSet::new();
        for (prefix, base) in [
            ("crate::", Vec::new()),
            ("super::", module[..module.len().saturating_sub(1)].to_vec()),
        ] {
            let mut rest = code;
            while let Some(at) = rest.find(prefix) {
                let before = rest[..at].chars().last();
                rest = &rest[at + prefix.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut path_segments: Vec<&str> = Vec::new();
                let tail: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
                    .collect();
                for segment in tail.split("::") {
                    let segment = segment.trim_end_matches('{');
                    if segment.is_empty() || !segment.chars().next().unwrap().is_lowercase() {
                        break;
                    }
                    path_segments.push(segment);
                }
                let mut full: Vec<&str> = base.iter().map(String::as_str).collect();
                full.extend(path_segments);
                if full.is_empty() {
                    continue;
                }
                if let Some(target) = file_of(&full) {
                    if target != me && !target.ends_with("lib.rs") {
                        imports.insert(target);
                    }
                }
            }
        }
        graph.insert(me, imports);
    }
    graph
}

/// Every cycle's files, found by a depth-first search (each cycle reported once by its
/// smallest file).
fn cycles(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    if path.iter().all(|p| p >= start) {
                        let mut cycle = path.clone();
                        cycle.push(start.clone());
                        found.push(cycle);
                    }
                } else if next > start && seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

/// The schema lint (tests/tests/schema_lint) passes on the composed public API.
#[test]
fn the_public_api_passes_the_schema_lint() {
    let api = std::fs::read_to_string(checked_in("api.graphql")).unwrap();
    let problems = schema_lint::lint(&api);
    assert!(
        problems.is_empty(),
        "schema/api.graphql breaks the schema lint:\n{}",
        problems.join("\n")
    );
}

/// The lint finds each kind of violation planted in a small schema (and nothing else).
#[test]
fn the_schema_lint_finds_planted_violations() {
    let planted = r#"
"""The queries."""
type Query {
  """Things, as a connection."""
  things("""How many.""" first: Int): PlantedThingConnection!
  """A kept field: deprecated, so exempt from the type rules."""
  day: String @deprecated(reason: "use `date`")
  """A day."""
  date(at: String): Int
}

"""The mutations."""
type Mutation {
  """Two loose arguments."""
  doThing("""The id.""" id: ID!, """The name.""" name: String): Boolean!
  """The convention."""
  updateThing("""The change.""" input: UpdateThingInput!): Boolean!
}

"""A thing."""
type PlantedThing {
  """When it was created, in Unix milliseconds."""
  createdAt: Int!
  undescribed: String
  """Its status."""
  status: String!
  """A snake."""
  snake_case: Int @deprecated(reason: "gone") @deprecated(reason: "twice")
}

"""The statuses of a thing."""
enum PlantedThingStatus {
  """Fine."""
  ACTIVE
  """Not upper case."""
  inactive
}

"""A page of things, without pageInfo."""
type PlantedThingConnection {
  """The edges."""
  edges: [PlantedThingEdge!]!
  """The things."""
  nodes: [PlantedThing!]!
}

"""A thing and its cursor."""
type PlantedThingEdge {
  """The thing."""
  node: PlantedThing!
}

"""A change."""
input UpdateThingInput {
  """Its new week."""
  week: String
}

"""Arguments not named as inputs."""
input ThingArgs {
  """A number."""
  count: Int
}

"""Once."""
directive @planted on FIELD_DEFINITION
"""Twice."""
directive @planted on FIELD_DEFINITION
"#;
    let problems = schema_lint::lint(planted);
    assert_eq!(
        problems,
        [
            "@planted: defined twice",
            "Query.things: a connection field takes `after`",
            "Query.date: a calendar day is a Date, not a number",
            "Query.date(at): no description",
            "Query.date(at): an instant is a DateTime, not a String",
            "Mutation.doThing: a mutation takes one argument, `input: ...Input!`",
            "PlantedThing.createdAt: an instant is a DateTime, not a number",
            "PlantedThing.undescribed: no description",
            "PlantedThing.status: a String where the schema has `PlantedThingStatus`",
            "PlantedThing.snake_case: field names are camelCase",
            "PlantedThing.snake_case: @deprecated applied twice",
            "PlantedThingStatus.inactive: enum values are SCREAMING_SNAKE_CASE",
            "PlantedThingConnection: a connection has `pageInfo: PageInfo!`",
            "PlantedThingEdge: an edge has `cursor: String!`",
            "UpdateThingInput.week: an ISO week is an IsoWeek, not a String",
            "ThingArgs: input object names end with `Input`",
        ],
        "{problems:#?}"
    );
    // The public API with one planted problem fails too.
    let api = std::fs::read_to_string(checked_in("api.graphql")).unwrap();
    let broken = api.replacen("\"\"\"One employee of the caller's tenant.\"\"\"\n", "", 1);
    assert_ne!(broken, api, "the planted removal did not apply");
    assert_eq!(
        schema_lint::lint(&broken),
        ["Query.employee: no description"]
    );
}
