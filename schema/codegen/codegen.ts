// graphql-codegen over the checked-in public API schema, as a client team runs it
// (docs/clients.md shows this file). strictScalars: a custom scalar without a mapping below is an
// error, so a new scalar cannot silently become `any`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../api.graphql",
  documents: "operations/*.graphql",
  generates: {
    "generated/graphql.ts": {
      plugins: ["typescript-operations", "typed-document-node"],
      config: {
        strictScalars: true,
        scalars: {
          DateTime: "string", // 2026-01-05T09:30:00.000Z (RFC 3339, UTC, milliseconds)
          Date: "string", // 2026-01-05
          IsoWeek: "string", // 2026-W02
          TimeOfDay: "string", // 09:30
          TimeZone: "string", // Europe/Berlin (IANA)
          Decimal: "string", // "85000.00": never a float
          CurrencyCode: "string", // EUR (ISO 4217)
          JSON: "unknown", // WebAuthn options and credentials
        },
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: false },
      },
    },
  },
};

export default config;
