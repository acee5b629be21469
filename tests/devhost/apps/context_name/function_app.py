"""Test app whose orchestrator names its context 'ctx': devhost must refuse to start."""

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="ctx")
def misnamed(ctx: df.DurableOrchestrationContext):
    yield ctx.call_activity("missing", None)
