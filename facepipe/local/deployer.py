"""A small CloudFormation for the local stack: the template's bucket, queues, tables and state machine
created on moto, every physical name recorded against its logical id, and the template's ``Outputs``
resolved from them.

Only what the pipeline needs locally is created (no roles, alarms, keys or log groups: facepipe/local/iam.py
creates the roles when IAM is enforced). Resources are named ``facepipe-local-<LogicalId>-<suffix>``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from facepipe.local import ACCOUNT, REGION, STACK_NAME
from facepipe.local.endpoint import Endpoint
from facepipe.local.template import StackTemplate


@dataclass
class Deployment:
    """Physical names (``refs``, what ``Ref`` gives) and attributes (``Fn::GetAtt``) of the created resources."""

    template: StackTemplate
    parameters: dict[str, str]
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refs.update(self.template.parameter_defaults() | self.parameters)
        self.refs.update(
            {
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                # Unique per stack: several local stacks in one process share moto's account.
                "AWS::StackName": f"{STACK_NAME}-{self.suffix}",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def name(self, logical_id: str) -> str:
        return f"{STACK_NAME}-{logical_id}-{self.suffix}"

    def resolve(self, value: Any) -> Any:
        return self.template.resolve(value, self.refs, self.attrs)

    def physical_ids(self) -> dict[str, str]:
        """Logical id -> physical name of every resource created, as CloudFormation lists a stack's resources."""
        return {k: v for k, v in self.refs.items() if k in self.template.doc["Resources"]}

    def outputs(self) -> dict[str, str]:
        """The template's ``Outputs`` whose values exist locally (a policy ARN or a topic does not)."""
        resolved = {}
        for name, output in self.template.doc.get("Outputs", {}).items():
            try:
                resolved[name] = str(self.resolve(output["Value"]))
            except KeyError:
                continue
        return resolved


def create_storage(deployment: Deployment, endpoint: Endpoint) -> None:
    """The bucket, the queues (dead-letter queues first), the event buses and the tables."""
    t = deployment.template
    for bucket_id in t.resources("AWS::S3::Bucket"):
        bucket = deployment.name(bucket_id).lower()  # bucket names are lower case
        deployment.refs[bucket_id] = bucket
        deployment.attrs[(bucket_id, "Arn")] = f"arn:aws:s3:::{bucket}"
        _create_bucket(endpoint.client("s3"), bucket, deployment.resolve(t.properties(bucket_id)))

    sqs = endpoint.client("sqs")
    queues = t.resources("AWS::SQS::Queue")
    for queue_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {})):
        if not t.enabled(queue_id, deployment.refs):
            continue  # its Condition is false with these parameters (the webhook's dead-letter queue, unset)
        props = t.properties(queue_id)
        name = deployment.name(queue_id) + (".fifo" if props.get("FifoQueue") else "")
        url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes(deployment.resolve(props)))["QueueUrl"]
        deployment.refs[queue_id] = url
        deployment.attrs[(queue_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        deployment.attrs[(queue_id, "QueueName")] = name

    events = endpoint.client("events")
    for bus_id in t.resources("AWS::Events::EventBus"):
        name = deployment.name(bus_id)
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        deployment.refs[bus_id] = name  # Ref of a bus is its name
        deployment.attrs[(bus_id, "Arn")] = str(arn)
        deployment.attrs[(bus_id, "Name")] = name

    dynamodb = endpoint.client("dynamodb")
    for table_id in t.resources("AWS::DynamoDB::Table"):
        name = deployment.name(table_id)
        deployment.refs[table_id] = name
        props = t.properties(table_id)
        indexes = (
            {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}
        )
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            **indexes,
        )
        ttl = props.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )


def create_policies(deployment: Deployment, endpoint: Endpoint) -> None:
    """The template's managed policies (``DevicePolicy``), as written: `facepipe devices add` reads it back
    (and, locally, writes its ``${aws:PrincipalTag/...}`` out per device: moto cannot substitute it)."""
    iam = endpoint.client("iam")
    for policy_id in deployment.template.resources("AWS::IAM::ManagedPolicy"):
        document = deployment.resolve(deployment.template.properties(policy_id)["PolicyDocument"])
        arn = iam.create_policy(PolicyName=deployment.name(policy_id), PolicyDocument=json.dumps(document))
        deployment.refs[policy_id] = str(arn["Policy"]["Arn"])


def name_functions(deployment: Deployment) -> list[str]:
    """Physical names and ARNs of the template's functions (the state machine's substitutions need them)."""
    functions = list(deployment.template.resources("AWS::Serverless::Function"))
    for logical in functions:
        name = deployment.name(logical)
        deployment.refs[logical] = name
        deployment.attrs[(logical, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return functions


def create_state_machine(deployment: Deployment, endpoint: Endpoint) -> str:
    """Every state machine of the template, its ASL with ``DefinitionSubstitutions`` filled (what moto's
    interpreter cannot parse adapted: :func:`for_moto`); returns the pipeline's ARN."""
    t = deployment.template
    pipeline, _ = t.state_machine()
    for logical, props in t.resources("AWS::Serverless::StateMachine").items():
        props = props["Properties"]
        substitutions = {k: str(v) for k, v in deployment.resolve(props.get("DefinitionSubstitutions", {})).items()}
        arn = str(
            endpoint.client("stepfunctions").create_state_machine(
                name=deployment.name(logical),
                definition=for_moto(t.definition(substitutions, logical)),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{logical}Role",
                type=props.get("Type", "STANDARD"),
            )["stateMachineArn"]
        )
        deployment.refs[logical] = arn  # Ref of a state machine is its ARN
    return deployment.refs[pipeline]


def for_moto(definition: str) -> str:
    """The definition as moto 5.2.5's ASL interpreter takes it. Its grammar has no ``ItemBatcher`` and only
    ``STANDARD`` child executions of a Distributed Map, so each Map state loses its batcher (every item is then a
    child of its own; the handler takes one item or a batch) and its children run as ``STANDARD``. Nothing else
    changes; the pipeline's definition has neither and passes through as written. (Its ``ItemReader`` also
    reads one ListObjectsV2 page only: facepipe.ops.erase sweeps the local stack in prefixes of at most 1,000 clips.)
    tests/unit/test_template_rules.py checks the template's own definition keeps both."""
    doc = json.loads(definition)

    def adapt(states: dict[str, Any]) -> None:
        for state in states.values():
            if state.get("Type") != "Map":
                continue
            state.pop("ItemBatcher", None)
            processor = state.get("ItemProcessor", {})
            config = processor.get("ProcessorConfig", {})
            if config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
            adapt(processor.get("States", {}))

    adapt(doc["States"])
    return json.dumps(doc)


def _create_bucket(s3: Any, bucket: str, props: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=bucket)
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
                        **(
                            {"Expiration": {"Days": int(rule["ExpirationInDays"])}}
                            if "ExpirationInDays" in rule
                            else {}
                        ),
                        **(
                            {
                                "NoncurrentVersionExpiration": {
                                    "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
                                }
                            }
                            if "NoncurrentVersionExpiration" in rule
                            else {}
                        ),
                    }
                    for rule in rules
                ]
            },
        )
    if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's queue properties as SQS attributes (the names are the same)."""
    names = (
        "FifoQueue",
        "ContentBasedDeduplication",
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "KmsMasterKeyId",
        "SqsManagedSseEnabled",
    )
    attributes = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items() if k in names}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": props["RedrivePolicy"]["deadLetterTargetArn"],
                "maxReceiveCount": int(props["RedrivePolicy"]["maxReceiveCount"]),
            }
        )
    return attributes
