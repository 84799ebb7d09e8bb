"""The template's functions as warm worker processes, each with its own environment and identity.

Each function runs in its own pool of worker processes, as Lambda runs each in its own containers: one per
core, so the frames of a clip (and several clips) are worked on in parallel. A worker gets exactly its
function's environment (the template's variables resolved, the endpoint, its credentials), given when it
is spawned: the parent process's environment is neither read for it nor changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Credentials, Endpoint
from facepipe.local.lambdas import LocalFunction, LocalLambdaRuntime, WorkerPool

# Besides the template's variables: tracing and metrics are off locally (no X-Ray daemon, no CloudWatch).
POWERTOOLS_LOCAL = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


def function_env(deployment: Deployment, logical: str, endpoint: Endpoint, log_dir: Path) -> dict[str, str]:
    """The environment a function's container would have, pointed at the local endpoint."""
    t = deployment.template
    env = {k: str(v) for k, v in deployment.resolve(t.function_environment(logical)).items()}
    return (
        env
        | POWERTOOLS_LOCAL
        # Quiet unless asked: a function's logs go to its file (POWERTOOLS_LOG_LEVEL overrides the template).
        | {"POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR")}
        | endpoint.env()
        | {"FACEPIPE_LOCAL_LOG_DIR": str(log_dir)}
    )


def start_functions(
    deployment: Deployment,
    endpoint: Endpoint,
    *,
    workers: int,
    log_dir: Path,
    roles: dict[str, Credentials] | None = None,
    concurrency: int | None = None,
) -> tuple[LocalLambdaRuntime, float]:
    """Warm pools of every function (``roles``: logical id -> the credentials its workers run as; ``concurrency``:
    each function's quota, past which an invocation is throttled).

    Returns the runtime that answers the state machine's invocations and the image function's cold start.
    """
    t = deployment.template
    runtime = LocalLambdaRuntime()
    cold_start_s = 0.0
    for logical in t.resources("AWS::Serverless::Function"):
        own = endpoint.as_principal(roles[logical]) if roles and logical in roles else endpoint
        app = t.function_app(logical)
        pool = WorkerPool(app, deployment.refs[logical], function_env(deployment, logical, own, log_dir), workers)
        runtime.add(LocalFunction(name=deployment.refs[logical], app=app, pool=pool, concurrency=concurrency))
        seconds = pool.warm()
        if t.properties(logical).get("PackageType") == "Image":
            cold_start_s = seconds
    runtime.install()
    return runtime, cold_start_s
