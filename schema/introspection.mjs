// What a client's tools see through introspection, printed the way schema/api.graphql is printed.
//
//   node schema/introspection.mjs query   prints the introspection query graphql-codegen and
//                                         GraphQL IDEs send (descriptions, @specifiedBy URLs,
//                                         repeatable directives, deprecated arguments)
//   node schema/introspection.mjs sdl     reads an introspection response ({"data": {"__schema"...}})
//                                         on stdin and prints its schema with graphql-js's
//                                         printSchema, as schema/compose.mjs prints api.graphql
//
// tests/tests/router_supergraph.rs sends the query to the router with a `schema:read` token and
// checks that the printed schema equals schema/api.graphql (without its comment header).
import { readFileSync } from "node:fs";
import { buildClientSchema, getIntrospectionQuery, printSchema } from "graphql";

const INTROSPECTION_OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  inputValueDeprecation: true,
};

const mode = process.argv[2];
if (mode === "query") {
  process.stdout.write(getIntrospectionQuery(INTROSPECTION_OPTIONS) + "\n");
} else if (mode === "sdl") {
  const response = JSON.parse(readFileSync(0, "utf8"));
  if (!response.data || !response.data.__schema) {
    process.stderr.write(`introspection: no data.__schema in the response: ${JSON.stringify(response).slice(0, 500)}\n`);
    process.exit(1);
  }
  process.stdout.write(printSchema(buildClientSchema(response.data)).trimEnd() + "\n");
} else {
  process.stderr.write("usage: node schema/introspection.mjs query | sdl < response.json\n");
  process.exit(2);
}
