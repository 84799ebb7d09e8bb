"""The local stack's lifecycle: moto's server on 127.0.0.1, the template deployed on it, the functions'
workers, the trigger bridge; started and stopped as one (:func:`local_stack`).

The pieces: :mod:`deployer` (resources and Outputs from the template), :mod:`functions` (warm workers),
:mod:`bridge` (EventBridge and the pipe to Step Functions), :mod:`schedules` (the template's schedules),
:mod:`relay` (events to webhooks and MQTT), :mod:`iam` (principals, when IAM is enforced), and
:mod:`endpoint` (the clients). Two couplings to moto reach this process's globals, both restored on stop:
its ASL executor finds its server through ``MOTO_PORT`` in the environment, and builds its clients from
boto3's default session, where :mod:`lambdas` answers its Lambda invocations.

Longer than ~250 lines: the start and stop of every piece, in order, and the operator's handles on the running
stack (outputs, devices, settings, executions) live with the state they read.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facepipe.aws.devices import Devices
from facepipe.aws.stack import StackOutputs
from facepipe.identity.gallery import Gallery
from facepipe.identity.records import StudentRecord
from facepipe.local import REGION
from facepipe.local.bridge import TriggerBridge
from facepipe.local.deployer import (
    Deployment,
    create_policies,
    create_state_machine,
    create_storage,
    name_functions,
)
from facepipe.local.endpoint import LOCAL_CREDENTIALS, Credentials, Endpoint
from facepipe.local.functions import function_env, start_functions
from facepipe.local.iam import LocalIam
from facepipe.local.lambdas import LocalLambdaRuntime
from facepipe.local.relay import EventRelay, MqttBroker, Webhook
from facepipe.local.schedules import LocalSchedules
from facepipe.local.template import StackTemplate
from facepipe.local.warmup import warm_functions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    """The pipeline on loopback. Use :func:`local_stack` to start and stop it."""

    template: StackTemplate
    port: int
    workers: int
    parameters: dict[str, str] = field(default_factory=dict)
    # Each function's concurrency quota (None: none; invocations wait for a worker): past it, throttled.
    concurrency: int | None = None
    # Fire the template's schedules on the wall clock (`facepipe local`); tests fire them with their own clock.
    run_schedules: bool = False
    schedules: LocalSchedules | None = None
    # Where the stack's events go locally (AWS: the bus's rules): webhooks and an MQTT broker.
    webhooks: tuple[Webhook, ...] = ()
    mqtt: MqttBroker | None = None
    relay: EventRelay | None = None
    # Every part runs as its own IAM principal and moto authorizes every request (facepipe/local/iam.py).
    enforce_iam: bool = False
    iam: LocalIam | None = None
    runtime: LocalLambdaRuntime = field(default_factory=LocalLambdaRuntime)
    cold_start_s: float = 0.0
    warmup_s: float = 0.0
    log_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / f"facepipe-local-{os.getpid()}")
    _outputs: StackOutputs | None = None
    _endpoint: Endpoint | None = None  # once started: as the stack's principal (the operator when IAM is enforced)
    _deployment: Deployment | None = None
    _bridge: TriggerBridge | None = None
    _server: Any = None
    _saved_moto_port: str | None = None
    _froze: bool = False

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint, as the stack's own principal (the operator once IAM is enforced)."""
        if self._endpoint is not None:
            return self._endpoint
        return Endpoint(f"http://127.0.0.1:{self.port}", LOCAL_CREDENTIALS, REGION)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> StackOutputs:
        from moto.server import ThreadedMotoServer

        endpoint = self.endpoint
        # moto's ASL executor reaches its server through MOTO_PORT (the one environment variable set here).
        self._saved_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self._configure_moto(endpoint)

        deployment = self._deployment = Deployment(self.template, self.parameters)
        create_storage(deployment, endpoint)
        create_policies(deployment, endpoint)
        functions = name_functions(deployment)
        roles: dict[str, Credentials] = {}
        if self.enforce_iam:
            self.iam = LocalIam(deployment, endpoint)
            machines = list(self.template.resources("AWS::Serverless::StateMachine"))
            role_ids = {logical: self.iam.role_of(logical) for logical in [*functions, *machines]}
            sessions = self.iam.create(list(role_ids.values()))
            self.iam.give_executor_key([role_ids[m] for m in machines])
            roles = {logical: sessions[role_ids[logical]] for logical in functions}
        self.runtime, self.cold_start_s = start_functions(
            deployment, endpoint, workers=self.workers, log_dir=self.log_dir, roles=roles, concurrency=self.concurrency
        )
        machine_arn = create_state_machine(deployment, endpoint)
        # Before the trigger rule exists (TriggerBridge creates it): the warm-up clip starts no execution.
        self.warmup_s = warm_functions(deployment, endpoint, self.runtime)
        self._bridge = TriggerBridge(deployment, endpoint, machine_arn)
        self.schedules = LocalSchedules(deployment)
        (bus,) = [deployment.refs[b] for b in self.template.resources("AWS::Events::EventBus")]
        self.relay = EventRelay(
            deployment,
            endpoint,
            bus,
            webhooks=self.webhooks,
            mqtt=self.mqtt,
            dead_letters=self.log_dir / "events-dead-letter.jsonl",
        )
        if self.iam is not None:
            assert self.iam.operator is not None
            endpoint = endpoint.as_principal(self.iam.operator)  # from here on the stack is the operator
        self._endpoint = endpoint
        self._outputs = StackOutputs.from_outputs(
            deployment.outputs(), region=endpoint.region, endpoint_url=endpoint.url, local=True
        )
        if self.iam is not None:
            self.iam.enforce()
        self._bridge.start(endpoint)
        self.relay.start(endpoint)
        if self.run_schedules:
            self.schedules.start()
        self.settle()
        return self._outputs

    def settle(self) -> None:
        """Exempt what this process has built so far from garbage collection (until :meth:`stop`).

        The server, the state machine's executor and botocore's service models are ~10^6 long-lived objects:
        every full collection walked them all while holding the GIL, stalling every request in flight (a
        profile of `make demo` found 130-340 ms pauses, one every few clips). Frozen, they are never walked
        again. Called at the end of :meth:`start`; call it again after building more long-lived things in
        this process (a device service's clients, as the demo does).
        """
        gc.collect()
        gc.freeze()
        self._froze = True

    @property
    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            raise RuntimeError("the local stack is not started")
        return self._outputs

    def env(self) -> dict[str, str]:
        """The operator's settings (`facepipe local --env-file`): the endpoint as the stack's principal and what
        `facepipe devices`, `facepipe students`, `facepipe unknowns` and `facepipe console` need. A device's own
        come from :meth:`add_device`."""
        # An execution on this machine ends within a second or two of its clip: erase need not wait 10.
        return self.endpoint.env() | self.outputs.env() | {"ERASE_SETTLE_SECONDS": "2"}

    @property
    def executions_started(self) -> int:
        """Executions the trigger started (one per clip event EventBridge delivered)."""
        return self._bridge.executions_started if self._bridge is not None else 0

    @property
    def executions_piped(self) -> int:
        """Executions started from a pipe of the template: clips put back in line after throttling."""
        return self._bridge.executions_piped if self._bridge is not None else 0

    def stop(self) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False
        if self.schedules is not None:
            self.schedules.stop()
        if self.relay is not None:
            self.relay.stop()
        if self._bridge is not None:
            self._bridge.stop()
        self.runtime.uninstall()
        if self.iam is not None:
            self.iam.relax()
        if self._server is not None:
            self._server.stop()
        if self._saved_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._saved_moto_port

    def _configure_moto(self, endpoint: Endpoint) -> None:
        """Turn on moto's real ASL execution in the server."""
        import requests

        requests.post(
            f"{endpoint.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()

    # --- using it -------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A client of this stack's endpoint, as the stack's own principal."""
        return self.endpoint.client(service)

    def load(self, *, gallery: Gallery | None = None, students: Iterable[StudentRecord] = ()) -> None:
        """Put who to recognize where the functions read it: the gallery in the bucket, records in the table."""
        from facepipe.aws import gallery_store
        from facepipe.aws.dynamo_records import put_records

        if gallery is not None:  # the stack's first gallery, as a new deployment gets it
            gallery_store.upload_gallery(
                gallery, bucket=self.outputs.bucket, key=self.outputs.gallery_key, s3=self.client("s3")
            )
        put_records(students, table=self.outputs.students_table, dynamodb=self.endpoint.resource("dynamodb"))

    def add_device(self, device_id: str) -> dict[str, str]:
        """Register a device as `facepipe devices add` does: its queue, its item, an IAM user tagged with its
        id holding only DevicePolicy (enforced when IAM is). Returns every setting `facepipe-device` needs."""
        return Devices(self.outputs, self.client).add(device_id)

    def queue_url(self, device_id: str) -> str:
        """A registered device's results queue."""
        name = Devices(self.outputs, self.client).queue_name(device_id)
        return str(self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The environment a function's workers have (for a process of its own, such as a cold start)."""
        if self._deployment is None:
            raise RuntimeError("the local stack is not started")
        return function_env(self._deployment, logical_id, self.endpoint, self.log_dir)

    def physical_id(self, logical_id: str) -> str:
        """The physical name of a template resource (``IdempotencyTable`` -> its table name)."""
        ids = self._deployment.physical_ids() if self._deployment is not None else {}
        try:
            return ids[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id}: no such resource in the local stack") from None


@contextmanager
def local_stack(
    *,
    port: int | None = None,
    workers: int | None = None,
    parameters: dict[str, str] | None = None,
    template: Path | None = None,
    enforce_iam: bool = False,
    concurrency: int | None = None,
    run_schedules: bool = False,
    webhooks: tuple[Webhook, ...] = (),
    mqtt: MqttBroker | None = None,
) -> Iterator[LocalStack]:
    """Start the stack, yield it, and always stop it (server, worker processes, MOTO_PORT)."""
    stack = LocalStack(
        template=StackTemplate.load(template),
        port=port or free_port(),
        workers=workers or max(1, os.cpu_count() or 1),
        parameters=parameters or {},
        enforce_iam=enforce_iam,
        concurrency=concurrency,
        run_schedules=run_schedules,
        webhooks=webhooks,
        mqtt=mqtt,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
