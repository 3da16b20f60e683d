use std::collections::HashMap;

use crate::executor::execution::plan::CoerceVariablesPayload;
use crate::executor::hooks::on_supergraph_load::SupergraphSnapshot;
use crate::executor::variables::collect_variables;
use crate::telemetry::logging::targets;
use crate::telemetry::traces::spans::graphql::GraphQLVariableCoercionSpan;
use sonic_rs::Value;
use tracing::{debug, warn};

use crate::pipeline::error::{ClientPipelineError, PipelineError};
use crate::pipeline::normalize::GraphQLNormalizationPayload;

#[inline]
pub fn coerce_request_variables(
    supergraph: &SupergraphSnapshot,
    variables: &mut HashMap<String, Value>,
    normalized_operation: &GraphQLNormalizationPayload,
) -> Result<CoerceVariablesPayload, PipelineError> {
    let span = GraphQLVariableCoercionSpan::new();
    let _guard = span.span.enter();
    match collect_variables(
        &normalized_operation.operation_for_plan,
        variables,
        &supergraph.metadata,
    ) {
        Ok(values) => {
            debug!(
                target: targets::COERCE_VARIABLES,
                variables = ?values,
                "successfully collected variables from incoming request",
            );

            Ok(CoerceVariablesPayload {
                variables_map: values,
            })
        }
        Err(err) => {
            warn!(
                target: targets::COERCE_VARIABLES,
                error = %err,
                "failed to collect variables from incoming request",
            );
            Err(ClientPipelineError::VariablesCoercionError(err).into())
        }
    }
}
