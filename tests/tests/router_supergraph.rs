//! The checked-in `schema/supergraph.graphql` (what the router serves) must be exactly what
//! `schema/compose.mjs` composes from the checked-in subgraph SDLs (`schema/<name>.graphql`).
//!
//! Needs Node >= 18 and, on a fresh clone, the npm registry (`npm ci --prefix schema` runs once).
//! After an intended schema change:
//!   UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl && bash scripts/compose.sh

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    erp_tests::tests_dir().join("..").canonicalize().unwrap()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} (is Node >= 18 installed?): {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn ensure_composer(root: &Path) {
    // Both composers (schema/package.json): The Guild's writes the supergraph, Apollo's is the
    // strict second check.
    let installed = ["@theguild/federation-composition", "@apollo/composition"]
        .iter()
        .all(|package| {
            root.join("schema/node_modules")
                .join(package)
                .join("package.json")
                .exists()
        });
    if !installed {
        run(
            Command::new("npm")
                .args(["ci", "--prefix", "schema", "--no-audit", "--no-fund"])
                .current_dir(root),
            "npm ci --prefix schema",
        );
    }
}

#[test]
fn checked_in_supergraph_is_what_the_subgraph_sdls_compose_to() {
    let root = repo_root();
    ensure_composer(&root);
    let composed = run(
        Command::new("node")
            .args(["schema/compose.mjs", "--stdout"])
            .current_dir(&root),
        "node schema/compose.mjs --stdout",
    );
    assert!(
        composed
            .contains("@join__graph(name: \"employee\", url: \"http://127.0.0.1:4002/graphql\")"),
        "the employee subgraph is missing from the composition:\n{composed}"
    );
    let on_disk =
        std::fs::read_to_string(root.join("schema/supergraph.graphql")).unwrap_or_default();
    if on_disk != composed {
        let first_difference = on_disk
            .lines()
            .zip(composed.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  checked in: {a}\n  composed:   {b}", i + 1))
            .unwrap_or_else(|| {
                format!(
                    "one is a prefix of the other ({} vs {} lines)",
                    on_disk.lines().count(),
                    composed.lines().count()
                )
            });
        panic!(
            "schema/supergraph.graphql differs from what schema/*.graphql compose to; \
             run `bash scripts/compose.sh` and review the diff.\nFirst difference at {first_difference}"
        );
    }
}

#[test]
fn composition_fails_loudly_on_an_invalid_subgraph() {
    let root = repo_root();
    ensure_composer(&root);
    // A scratch copy of the composer with one subgraph whose entity key names a missing field.
    let scratch = std::env::temp_dir().join(format!("erp-compose-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::copy(root.join("schema/compose.mjs"), scratch.join("compose.mjs")).unwrap();
    std::os::unix::fs::symlink(
        root.join("schema/node_modules"),
        scratch.join("node_modules"),
    )
    .unwrap();
    std::fs::write(
        scratch.join("employee.graphql"),
        "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.6\", import: [\"@key\"])\n\
         type Query { a: A }\n\
         type A @key(fields: \"missing\") { id: ID! }\n",
    )
    .unwrap();
    let output = Command::new("node")
        .args(["compose.mjs", "--stdout"])
        .current_dir(&scratch)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(!output.status.success(), "composition should have failed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("composition of employee.graphql failed"),
        "{stderr}"
    );
    // The strict composer ran on the same input and said why too.
    assert!(
        stderr.contains("the strict composer (@apollo/composition) rejects employee.graphql"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
