"""Local Lambda runtime: the state machine's ``lambda:invoke`` calls run the real handlers.

moto's executor calls Lambda through boto3's ``Invoke``; a ``before-call`` hook on the default boto3
session answers those calls here instead of sending them, by running the handler in one of the function's
warm worker processes (:mod:`facepipe.local.functions` starts them). One module because the hook, the
worker protocol and the Lambda context it hands the handler are one mechanism (~250 lines).

Longer than ~250 lines: the pool, the invocation, the context and the error's shape are one protocol with
moto's executor; apart, each would reach into the others.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from facepipe.core.settings import get_settings
from facepipe.local import ACCOUNT, REGION


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def load_handler(app: Path) -> Callable[[dict[str, Any], Any], Any]:
    """Import ``functions/<stage>/app.py`` under a unique module name and return its ``lambda_handler``."""
    name = f"facepipe_fn_{app.parent.name}"
    if name in sys.modules:
        return sys.modules[name].lambda_handler  # type: ignore[no-any-return]
    spec = importlib.util.spec_from_file_location(name, app)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler  # type: ignore[no-any-return]


def run_handler(app: Path, function_name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run a handler as Lambda would: (True, result) or (False, {errorType, errorMessage, stackTrace})."""
    try:
        handler = load_handler(app)
        return True, handler(event, LambdaContext(function_name))
    except Exception as exc:  # a handler's failure is the invocation's result, as in Lambda
        return False, {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-3:],
        }


# --- worker processes -------------------------------------------------------------------------------
def _worker_init(env: dict[str, str], app: str, function_name: str) -> None:
    # A function's logs and metrics go to its own log file (its "CloudWatch log group"), not the terminal.
    log_dir = Path(env.get("FACEPIPE_LOCAL_LOG_DIR", tempfile.gettempdir()))
    log_dir.mkdir(parents=True, exist_ok=True)
    sys.stdout = sys.stderr = open(log_dir / f"{function_name}.log", "a", buffering=1)  # noqa: SIM115
    os.environ.update(env)
    get_settings.cache_clear()
    load_handler(Path(app))  # cold start: imports the handler, which loads the face models


def _worker_ready() -> int:
    return os.getpid()


def _worker_invoke(app: str, function_name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    return run_handler(Path(app), function_name, event)


def _worker_invoke_and_hold(app: str, function_name: str, event: dict[str, Any], until: float) -> tuple[int, bool, Any]:
    # Held until ``until`` (wall clock): no worker can take a second task while another is still idle.
    ok, result = run_handler(Path(app), function_name, event)
    time.sleep(max(0.0, until - time.time()))
    return os.getpid(), ok, result


class WorkerPool:
    """Warm containers of one function: ``size`` processes that imported the handler once, at start."""

    def __init__(self, app: Path, function_name: str, env: dict[str, str], size: int) -> None:
        self.app, self.function_name, self.env, self.size = app, function_name, env, size
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        import multiprocessing

        pool = ProcessPoolExecutor(
            max_workers=self.size,
            # spawn, not fork: the parent runs the moto server's threads.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.env, str(self.app), self.function_name),
        )
        return pool

    def warm(self) -> float:
        """Start every worker now and wait for its cold start; returns the seconds it took."""
        start = time.perf_counter()
        futures = [self._pool.submit(_worker_ready) for _ in range(self.size * 2)]
        for future in futures:
            future.result()
        return time.perf_counter() - start

    def invoke(self, event: dict[str, Any]) -> tuple[bool, Any]:
        """Run one invocation; a dead worker raises ``BrokenProcessPool`` after the pool is replaced."""
        with self._lock:
            pool = self._pool
        try:
            future: Future[tuple[bool, Any]] = pool.submit(_worker_invoke, str(self.app), self.function_name, event)
            return future.result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:  # the first caller to notice replaces the pool
                    self._pool = self._start()
            raise

    def invoke_each(self, event: dict[str, Any], hold_s: float = 1.0) -> list[tuple[bool, Any]]:
        """Run ``event`` once on every worker (the local stack's warm-up); results in worker order."""
        until = time.time() + hold_s
        futures = [
            self._pool.submit(_worker_invoke_and_hold, str(self.app), self.function_name, event, until)
            for _ in range(self.size)
        ]
        done = sorted(future.result() for future in futures)
        return [(ok, result) for _, ok, result in done]

    def pids(self) -> list[int]:
        return list(self._pool._processes)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ServiceError(Exception):
    """A Lambda service failure (not the function's): Step Functions sees Lambda.<code> and retries it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class LocalFunction:
    name: str
    app: Path
    pool: WorkerPool
    invocations: int = 0
    # Fault injection for tests: called before each invocation; may raise ServiceError.
    before_invoke: Callable[[LocalFunction, dict[str, Any]], None] | None = None
    # A concurrency quota (None: invocations wait for a free worker): past it an invocation is refused with
    # TooManyRequestsException at once, as Lambda refuses one past a function's or an account's concurrency.
    concurrency: int | None = None
    throttled: int = 0
    # The largest event and answer (JSON bytes) it has seen: what rides in the state machine's payload, which
    # Step Functions caps at 256 KiB (moto's interpreter does not), so a test can hold the stack to it.
    largest_event_bytes: int = 0
    largest_result_bytes: int = 0
    _running: threading.BoundedSemaphore | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.concurrency is not None:
            self._running = threading.BoundedSemaphore(self.concurrency)


# Every local function in this process, by name: one hook on boto3's default session serves every stack
# (tests run a second, isolated stack beside the session's one). This registry and the hook exist because
# moto's ASL executor builds its Lambda client from boto3's default session: that is where its Invoke calls
# can be answered. Names are unique per stack (a random suffix), so stacks never answer for each other.
_functions: dict[str, LocalFunction] = {}
_hooked: set[int] = set()
_count_lock = threading.Lock()


class LocalLambdaRuntime:
    """Answers boto3 ``lambda.Invoke`` calls made in this process by running the local functions."""

    def __init__(self) -> None:
        self.functions: dict[str, LocalFunction] = {}

    def add(self, function: LocalFunction) -> None:
        self.functions[function.name] = function

    def install(self) -> None:
        """Make the functions invocable, hooking boto3's default session (moto's executor builds its clients
        from it) once per session object."""
        _functions.update(self.functions)
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        if id(session) not in _hooked:
            session.events.register("before-call.lambda.Invoke", _on_invoke, unique_id="facepipe-local")
            _hooked.add(id(session))

    def uninstall(self) -> None:
        for name, function in self.functions.items():
            _functions.pop(name, None)
            function.pool.shutdown()


def _function(name: str) -> LocalFunction | None:
    """The local function a name or ARN means."""
    return _functions.get(name.rsplit(":", 1)[-1] if name.startswith("arn:") else name)


def invoke(name: str, event: dict[str, Any]) -> tuple[bool, Any]:
    """Run one invocation of a local function, as the Lambda service would."""
    function = _function(name)
    if function is None:
        raise ServiceError("ResourceNotFoundException", f"Function not found: {name}")
    with _count_lock:
        function.invocations += 1
    if function.before_invoke is not None:
        function.before_invoke(function, event)
    running = function._running
    if running is not None and not running.acquire(blocking=False):
        with _count_lock:
            function.throttled += 1
        raise ServiceError("TooManyRequestsException", f"Rate Exceeded. ({function.concurrency} of {name} running)")
    try:
        return function.pool.invoke(event)
    except BrokenProcessPool as exc:
        raise ServiceError("ServiceException", f"{name}: the container exited mid-invocation") from exc
    finally:
        if running is not None:
            running.release()


def _on_invoke(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """The botocore hook: a Lambda Invoke answered by the local function, in Lambda's response shape."""
    url = params.get("url_path", "")
    name = unquote(url.split("/functions/", 1)[1].split("/", 1)[0]) if "/functions/" in url else ""
    body = params.get("body") or b"{}"
    event = json.loads(body if isinstance(body, bytes | str) else b"{}")
    request_id = str(uuid.uuid4())
    try:
        ok, result = invoke(name, event)
    except ServiceError as exc:
        http = AWSResponse(url, 500, {"x-amzn-requestid": request_id}, None)  # type: ignore[arg-type]
        return http, {
            "Error": {"Code": exc.code, "Message": str(exc)},
            "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": request_id},
        }
    payload = json.dumps(result).encode()
    function = _function(name)
    if function is not None:
        with _count_lock:
            function.largest_event_bytes = max(function.largest_event_bytes, len(body))
            function.largest_result_bytes = max(function.largest_result_bytes, len(payload))
    parsed: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
        "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": request_id},
    }
    if not ok:
        parsed["FunctionError"] = "Unhandled"
    http = AWSResponse(url, 200, {"x-amzn-requestid": request_id}, None)  # type: ignore[arg-type]
    return http, parsed
