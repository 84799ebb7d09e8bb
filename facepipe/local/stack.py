"""Start the local stack: moto's server on 127.0.0.1, the template's resources, the trigger, the functions."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from facepipe.aws_clients import reset_clients
from facepipe.gallery import Gallery
from facepipe.local import ACCOUNT, REGION
from facepipe.local.iam import Credentials, LocalIam
from facepipe.local.lambdas import LocalFunction, LocalLambdaRuntime, WorkerPool
from facepipe.local.template import StackTemplate
from facepipe.records import StudentRecord
from facepipe.settings import get_settings

# A bucket name is global in AWS; locally it only needs to be unique per stack.
STACK_NAME = "facepipe-local"

# The environment of every local function, besides the template's own variables. Credentials are moto's
# placeholders: the endpoint on loopback accepts any, and no real account is ever reached.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


LOCAL_CREDENTIALS = Credentials(LOCAL_ENV["AWS_ACCESS_KEY_ID"], LOCAL_ENV["AWS_SECRET_ACCESS_KEY"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackOutputs:
    """What a device or a test needs: the same names as the template's Outputs."""

    endpoint_url: str
    region: str
    bucket: str
    queue_url: str
    dead_letter_queue_url: str
    table: str
    state_machine_arn: str
    gallery_key: str
    # Who the CLI and the stack's own clients are: moto's placeholders, or the operator when IAM is enforced.
    credentials: Credentials = field(default_factory=lambda: LOCAL_CREDENTIALS)

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """Settings for `facepipe-device` and the CLI, as environment variables."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            **(credentials or self.credentials).env(),
            "FACEPIPE_BUCKET": self.bucket,
            "FACEPIPE_QUEUE_URL": self.queue_url,
            "STUDENTS_TABLE": self.table,
        }


@dataclass
class LocalStack:
    """The pipeline on loopback. Use :func:`local_stack` to start and stop it."""

    template: StackTemplate
    port: int
    workers: int
    parameters: dict[str, str] = field(default_factory=dict)
    # Every part runs as its own IAM principal and moto authorizes every request (facepipe/local/iam.py).
    enforce_iam: bool = False
    iam: LocalIam | None = None
    runtime: LocalLambdaRuntime = field(default_factory=LocalLambdaRuntime)
    _outputs: StackOutputs | None = None
    executions_started: int = 0
    cold_start_s: float = 0.0
    _server: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _bridge: threading.Thread | None = None
    _bridge_queue_url: str = ""
    _machine_arn: str = ""
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    # Logical id -> physical name (bucket, queue URL, table, function), as CloudFormation's resources list.
    physical_ids: dict[str, str] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / f"facepipe-local-{os.getpid()}")

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> StackOutputs:
        from moto.server import ThreadedMotoServer

        endpoint = f"http://127.0.0.1:{self.port}"
        # moto's executor sends its service calls to MOTO_PORT; every client here goes to the endpoint.
        self._setenv(LOCAL_ENV | {"AWS_ENDPOINT_URL": endpoint, "MOTO_PORT": str(self.port)})
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self._configure_moto(endpoint)
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session(region_name=REGION)
        reset_clients()
        self._outputs = self._create_resources(endpoint)
        if self.iam is not None:
            assert self.iam.operator is not None
            # From here on the stack's own clients (the bridge, the CLI's) are the operator's.
            self._setenv(self.iam.operator.env())
            reset_clients()
            self._outputs.credentials = self.iam.operator
            self.iam.enforce()
        self._bridge = threading.Thread(target=self._bridge_events, name="eventbridge-to-sfn", daemon=True)
        self._bridge.start()
        return self._outputs

    @property
    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            raise RuntimeError("the local stack is not started")
        return self._outputs

    def load(self, *, gallery: Gallery | None = None, students: Iterable[StudentRecord] = ()) -> None:
        """Put who to recognize where the functions read it: the gallery in the bucket, records in the table."""
        from facepipe import s3_store
        from facepipe.dynamo_records import put_records

        if gallery is not None:
            s3_store.upload_gallery(gallery, bucket=self.outputs.bucket, key=self.outputs.gallery_key)
        put_records(students, table=self.outputs.table)

    def client(self, service: str) -> Any:
        """A client of this stack's endpoint, as the stack itself: its placeholder credentials, or the
        operator's once IAM is enforced (explicit: boto3's default session caches the first it finds)."""
        credentials = self._outputs.credentials if self._outputs is not None else LOCAL_CREDENTIALS
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            region_name=REGION,
        )
        return session.client(service, endpoint_url=f"http://127.0.0.1:{self.port}")  # type: ignore[call-overload]

    def add_device(self, device_id: str) -> dict[str, str]:
        """Settings of a device with credentials of its own (only the template's DevicePolicy, tagged with
        its id) when IAM is enforced; the stack's placeholder credentials otherwise."""
        credentials = self.iam.add_device(device_id) if self.iam is not None else LOCAL_CREDENTIALS
        return self.outputs.env(credentials) | {"FACEPIPE_DEVICE_ID": device_id}

    def physical_id(self, logical_id: str) -> str:
        """The physical name of a template resource (``IdempotencyTable`` -> its table name)."""
        try:
            return self.physical_ids[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id}: no such resource in the local stack") from None

    def stop(self) -> None:
        self._stop.set()
        if self._bridge is not None:
            self._bridge.join(timeout=25)
        self.runtime.uninstall()
        if self.iam is not None:
            self.iam.relax()
        if self._server is not None:
            self._server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        reset_clients()

    def _setenv(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _configure_moto(self, endpoint: str) -> None:
        """Turn on moto's real ASL execution in the server."""
        import requests

        requests.post(
            f"{endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()

    # --- resources from the template --------------------------------------------------------------
    def _create_resources(self, endpoint: str) -> StackOutputs:
        t = self.template
        params = t.parameter_defaults() | self.parameters
        suffix = uuid.uuid4().hex[:8]
        refs: dict[str, str] = dict(params)
        attrs: dict[tuple[str, str], str] = {}
        refs["AWS::Region"], refs["AWS::AccountId"], refs["AWS::StackName"] = REGION, ACCOUNT, STACK_NAME
        refs["AWS::Partition"] = "aws"

        s3 = self.client("s3")
        sqs = self.client("sqs")
        dynamodb = self.client("dynamodb")

        (bucket_id, _), *_ = t.resources("AWS::S3::Bucket").items()
        bucket = f"{STACK_NAME}-{bucket_id.lower()}-{suffix}"
        refs[bucket_id] = bucket
        attrs[(bucket_id, "Arn")] = f"arn:aws:s3:::{bucket}"
        self._create_bucket(s3, bucket, t.properties(bucket_id), refs, attrs)

        # Dead-letter queues first: the results queue's RedrivePolicy points at one.
        queues = t.resources("AWS::SQS::Queue")
        ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
        for queue_id in ordered:
            props = t.properties(queue_id)
            name = f"{STACK_NAME}-{queue_id}-{suffix}" + (".fifo" if props.get("FifoQueue") else "")
            attributes = _queue_attributes(t.resolve(props, refs, attrs))
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            refs[queue_id] = url
            attrs[(queue_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            attrs[(queue_id, "QueueName")] = name

        for table_id in t.resources("AWS::DynamoDB::Table"):
            name = f"{STACK_NAME}-{table_id}-{suffix}"
            refs[table_id] = name
            props = t.properties(table_id)
            dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=props["AttributeDefinitions"],
                KeySchema=props["KeySchema"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )
            if props.get("TimeToLiveSpecification", {}).get("Enabled"):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": props["TimeToLiveSpecification"]["AttributeName"],
                    },
                )
        table = refs["StudentsTable"]

        self._create_functions(refs, attrs, suffix, endpoint)
        machine_arn = self._create_state_machine(refs, attrs, suffix)
        self._create_trigger(refs, attrs, bucket, machine_arn, suffix)
        self.physical_ids = {k: v for k, v in refs.items() if k in t.doc["Resources"]}

        results_id = next(q for q in queues if "RedrivePolicy" in queues[q].get("Properties", {}))
        dlq_id = t.properties(results_id)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        return StackOutputs(
            endpoint_url=endpoint,
            region=REGION,
            bucket=bucket,
            queue_url=refs[results_id],
            dead_letter_queue_url=refs[dlq_id],
            table=table,
            state_machine_arn=machine_arn,
            gallery_key=params["GalleryKey"],
        )

    def _create_bucket(self, s3: Any, bucket: str, props: dict[str, Any], refs: dict[str, str], attrs: Any) -> None:
        s3.create_bucket(Bucket=bucket)
        props = self.template.resolve(props, refs, attrs)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=bucket,
                # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                            "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
                        }
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={
                    "Rules": [
                        {
                            "ID": rule["Id"],
                            "Status": rule["Status"],
                            "Filter": {"Prefix": rule["Prefix"]},
                            "Expiration": {"Days": int(rule["ExpirationInDays"])},
                        }
                        for rule in rules
                    ]
                },
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )

    def _create_functions(
        self, refs: dict[str, str], attrs: dict[tuple[str, str], str], suffix: str, endpoint: str
    ) -> None:
        t = self.template
        env: dict[str, str] = {}
        functions = t.resources("AWS::Serverless::Function")
        for logical in functions:
            name = f"{STACK_NAME}-{logical}-{suffix}"
            refs[logical] = name
            attrs[(logical, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        role_credentials: dict[str, dict[str, str]] = {}
        if self.enforce_iam:
            self.iam = LocalIam(t, refs, attrs, endpoint=endpoint, region=REGION)
            machine, _ = t.state_machine()
            roles = {logical: self.iam.role_of(logical) for logical in [*functions, machine]}
            sessions = self.iam.create(LOCAL_CREDENTIALS, list(roles.values()))
            self.iam.give_executor_key(LOCAL_CREDENTIALS, roles[machine])
            role_credentials = {logical: sessions[roles[logical]].env() for logical in functions}
        for logical in functions:
            env.update({k: str(v) for k, v in t.resolve(t.function_environment(logical), refs, attrs).items()})
        env["POWERTOOLS_LOG_LEVEL"] = os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR")
        # Every function shares this process's environment, as each container has the template's.
        self._setenv(env)
        get_settings.cache_clear()
        worker_env = {k: v for k, v in os.environ.items() if k in env or k in LOCAL_ENV or k.startswith("AWS_")}
        worker_env["FACEPIPE_LOCAL_LOG_DIR"] = str(self.log_dir)
        # Each function runs in its own warm worker processes, as Lambda runs each in its own containers:
        # one per core, so the frames of a clip (and several clips) are worked on in parallel.
        for logical in functions:
            # With IAM enforced, each function's workers are its role (AWS_* of an assumed-role session).
            own_env = worker_env | role_credentials.get(logical, {})
            pool = WorkerPool(t.function_app(logical), refs[logical], own_env, self.workers)
            self.runtime.add(LocalFunction(name=refs[logical], app=t.function_app(logical), pool=pool))
        for logical, function in zip(functions, self.runtime.functions.values(), strict=True):
            assert function.pool is not None
            seconds = function.pool.warm()
            if t.properties(logical).get("PackageType") == "Image":
                self.cold_start_s = seconds
        self.runtime.install()

    def _create_state_machine(self, refs: dict[str, str], attrs: dict[tuple[str, str], str], suffix: str) -> str:
        t = self.template
        logical, props = t.state_machine()
        substitutions = {k: str(v) for k, v in t.resolve(props.get("DefinitionSubstitutions", {}), refs, attrs).items()}
        definition = t.definition(substitutions)
        sfn = self.client("stepfunctions")
        return str(
            sfn.create_state_machine(
                name=f"{STACK_NAME}-{logical}-{suffix}",
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{logical}Role",
                type=props.get("Type", "STANDARD"),
            )["stateMachineArn"]
        )

    def _create_trigger(self, refs: dict[str, str], attrs: Any, bucket: str, machine_arn: str, suffix: str) -> None:
        """The template's EventBridge rule, with the same pattern.

        moto delivers S3 events to rule targets such as SQS but does not start Step Functions targets, so
        the rule's target here is a bridge queue that a thread turns into StartExecution calls, with the
        event EventBridge delivered as the execution input (the same shape AWS delivers).
        """
        rule = self.template.event_rule()
        pattern = self.template.resolve(rule["Pattern"], refs, attrs)
        events = self.client("events")
        sqs = self.client("sqs")
        self._bridge_queue_url = sqs.create_queue(QueueName=f"{STACK_NAME}-trigger-bridge-{suffix}")["QueueUrl"]
        bridge_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK_NAME}-trigger-bridge-{suffix}"
        name = f"{STACK_NAME}-ClipCreated-{suffix}"
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "pipeline", "Arn": bridge_arn}])
        self._machine_arn = machine_arn

    def _bridge_events(self) -> None:
        sqs = self.client("sqs")
        sfn = self.client("stepfunctions")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self._bridge_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:  # the server is stopping
                if self._stop.is_set():
                    return
                time.sleep(0.1)
                continue
            for message in messages:
                sfn.start_execution(
                    stateMachineArn=self._machine_arn,
                    # A unique name per execution, as AWS gives each one (moto otherwise names all "None").
                    name=f"clip-{uuid.uuid4().hex}",
                    input=message["Body"],
                )
                self.executions_started += 1
                sqs.delete_message(QueueUrl=self._bridge_queue_url, ReceiptHandle=message["ReceiptHandle"])


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    names = {
        "FifoQueue": "FifoQueue",
        "ContentBasedDeduplication": "ContentBasedDeduplication",
        "VisibilityTimeout": "VisibilityTimeout",
        "MessageRetentionPeriod": "MessageRetentionPeriod",
        "KmsMasterKeyId": "KmsMasterKeyId",
    }
    attributes = {names[k]: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items() if k in names}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": props["RedrivePolicy"]["deadLetterTargetArn"],
                "maxReceiveCount": int(props["RedrivePolicy"]["maxReceiveCount"]),
            }
        )
    return attributes


@contextmanager
def local_stack(
    *,
    port: int | None = None,
    workers: int | None = None,
    parameters: dict[str, str] | None = None,
    template: Path | None = None,
    enforce_iam: bool = False,
) -> Iterator[LocalStack]:
    """Start the stack, yield it, and always stop it (server, worker processes, environment)."""
    stack = LocalStack(
        template=StackTemplate.load(template),
        port=port or free_port(),
        workers=workers or max(1, os.cpu_count() or 1),
        parameters=parameters or {},
        enforce_iam=enforce_iam,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
