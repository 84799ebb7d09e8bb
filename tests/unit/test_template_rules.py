"""Rules a template must keep to deploy and work in a real account, checked on what CloudFormation receives.

The local stack cannot model these (moto has no KMS key policies and no account quotas), so each test says
so in its name and checks the template after the SAM transform (generated roles and rule included).
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from facepipe.local.template import StackTemplate
from facepipe.pipeline.sweep import SWEEP_MARGIN_S

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = StackTemplate.load(ROOT / "template.yaml")
DOC = TEMPLATE.transformed()
RESOURCES: dict[str, dict[str, Any]] = DOC["Resources"]
# A new account's Lambda concurrency quota; Lambda keeps 100 of any quota unreserved.
NEW_ACCOUNT_QUOTA, UNRESERVED_FLOOR = 10, 100


def _condition(name: str) -> bool:
    """A template condition at the parameters' defaults (Fn::Equals / Not / And / Or over Refs)."""
    defaults = TEMPLATE.parameter_defaults()

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return defaults[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return _condition(node["Condition"])
        if isinstance(node, dict):
            (fn, args), *_ = node.items()
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not value(args[0])
            if fn == "Fn::And":
                return all(value(a) for a in args)
            if fn == "Fn::Or":
                return any(value(a) for a in args)
            raise AssertionError(f"condition function {fn} not understood")
        return node

    return bool(value(DOC["Conditions"][name]))


def _at_defaults(node: Any) -> Any:
    """A property's value when deployed with every parameter at its default (None = AWS::NoValue)."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        name, yes, no = node["Fn::If"]
        return _at_defaults(yes if _condition(name) else no)
    if isinstance(node, dict) and node == {"Ref": "AWS::NoValue"}:
        return None
    if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in TEMPLATE.parameter_defaults():
        return TEMPLATE.parameter_defaults()[node["Ref"]]
    return node


def _logical(node: Any) -> str | None:
    """The resource a Ref or GetAtt points at."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return str(node["Ref"])
    if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def test_reserved_concurrency_is_a_parameter_off_by_default__account_quota_not_modelled_by_moto():
    """A literal reservation fails `sam deploy` wherever the account quota minus 100 is smaller than the sum
    (a new account has 10): each function's is a parameter, and the defaults reserve nothing, so any number
    of copies of the stack deploy on a new account."""
    functions = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == 4  # extract, recognize, enrich, attendance
    reserved = 0
    for logical, resource in functions.items():
        value = resource["Properties"].get("ReservedConcurrentExecutions")
        if value is None:
            continue
        assert isinstance(value, dict), f"{logical}: literal ReservedConcurrentExecutions {value!r}"
        deployed = _at_defaults(value)
        assert deployed is None, f"{logical} reserves {deployed} by default"
        # Set, it comes from a parameter of its own, so an operator with a raised quota can reserve.
        _, yes, _ = value["Fn::If"]
        assert _logical(yes) in TEMPLATE.parameter_defaults(), logical
        reserved += int(deployed or 0)
    assert reserved <= max(0, NEW_ACCOUNT_QUOTA - UNRESERVED_FLOOR)


def _service_writers() -> dict[str, set[str]]:
    """Which resources an AWS service principal writes to: resource -> {service principal}."""
    writers: dict[str, set[str]] = {}

    def add(target: Any, service: str) -> None:
        logical = _logical(target)
        if logical is not None and logical in RESOURCES:
            writers.setdefault(logical, set()).add(service)

    for resource in RESOURCES.values():
        props, kind = resource.get("Properties", {}), resource["Type"]
        if kind == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                add(target.get("DeadLetterConfig", {}).get("Arn"), "events.amazonaws.com")
        if kind == "AWS::CloudWatch::Alarm":
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in props.get(key, []):
                    add(action, "cloudwatch.amazonaws.com")
        if kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            targets = props.get("Queues") or props.get("Topics") or []
            for statement in props["PolicyDocument"]["Statement"]:
                services = statement.get("Principal", {}).get("Service", [])
                for service in [services] if isinstance(services, str) else services:
                    for target in targets:
                        add(target, service)
    return writers


def _grants(key_id: str, service: str) -> set[str]:
    """KMS actions the key's policy allows ``service`` (as a service principal)."""
    allowed: set[str] = set()
    for statement in RESOURCES[key_id]["Properties"]["KeyPolicy"]["Statement"]:
        services = statement.get("Principal", {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement["Effect"] == "Allow" and service in services:
            actions = statement["Action"]
            allowed |= set([actions] if isinstance(actions, str) else actions)
    return allowed


def test_no_aws_managed_key_where_a_service_principal_writes__kms_key_policies_not_modelled_by_moto():
    """An AWS managed key's policy (alias/aws/sqs, alias/aws/sns) cannot grant a service principal: what
    EventBridge sends to such a dead-letter queue, or CloudWatch publishes to such a topic, is dropped. A
    customer key must grant the writer what encryption needs."""
    writers = _service_writers()
    # Positive controls: the writers the template has are found.
    assert writers.get("TriggerDeadLetterQueue") == {"events.amazonaws.com"}
    assert writers.get("AlarmTopic") == {"cloudwatch.amazonaws.com"}
    for logical, services in writers.items():
        key = RESOURCES[logical]["Properties"].get("KmsMasterKeyId")
        if key is None:
            continue  # SSE-SQS, or no encryption: nothing a service principal needs a grant for
        assert not (isinstance(key, str) and key.startswith("alias/aws/")), (
            f"{logical} is encrypted with the AWS managed key {key}, which {sorted(services)} cannot use"
        )
        key_id = _logical(key)
        assert key_id is not None and RESOURCES[key_id]["Type"] == "AWS::KMS::Key", f"{logical}: key {key}"
        for service in services:
            granted = _grants(key_id, service)
            needed = {"kms:Decrypt", "kms:GenerateDataKey*"}
            assert needed <= granted or "kms:*" in granted, f"{key_id} lets {service} do only {sorted(granted)}"


def test_the_trigger_dead_letter_queue_takes_only_its_own_rule__source_arn_not_modelled_by_moto():
    policy = RESOURCES["TriggerDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    rules = {k for k, v in RESOURCES.items() if v["Type"] == "AWS::Events::Rule"}
    for statement in policy["Statement"]:
        source = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        assert _logical(source) in rules, f"no aws:SourceArn condition naming the rule: {statement}"


# --- the state machine's role against what its definition calls -------------------------------------------
_INTEGRATIONS = {
    "arn:aws:states:::lambda:invoke": ("lambda:InvokeFunction", "FunctionName"),
    "arn:aws:states:::sqs:sendMessage": ("sqs:SendMessage", "QueueUrl"),
}


def _tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in states.values():
        if state["Type"] == "Task":
            found.append(state)
        if state["Type"] == "Map":
            found.extend(_tasks(state["ItemProcessor"]["States"]))
        if state["Type"] == "Parallel":
            for branch in state["Branches"]:
                found.extend(_tasks(branch["States"]))
    return found


class _Names(dict):
    """Physical names for resolving the policies: a resource's name is its logical id."""

    def __missing__(self, key: object) -> str:
        return str(key)


def _physical() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    refs = _Names({"AWS::Partition": "aws", "AWS::Region": "r", "AWS::AccountId": "1", "AWS::StackName": "stack"})
    refs["AWS::URLSuffix"] = "amazonaws.com"
    attrs: dict[tuple[str, str], str] = _Names()
    for logical, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Lambda::Function":
            attrs[(logical, "Arn")] = f"arn:aws:lambda:r:1:function:{logical}"
        if resource["Type"] == "AWS::SQS::Queue":
            refs[logical] = f"https://sqs.r.amazonaws.com/1/{logical}"
            attrs[(logical, "QueueName")] = logical
            attrs[(logical, "Arn")] = f"arn:aws:sqs:r:1:{logical}"
    return refs, attrs


def _arn_of(logical: str) -> str:
    kind = RESOURCES[logical]["Type"]
    return {
        "AWS::Lambda::Function": f"arn:aws:lambda:r:1:function:{logical}",
        "AWS::SQS::Queue": f"arn:aws:sqs:r:1:{logical}",
    }[kind]


def test_the_state_machine_role_covers_every_service_call_in_its_definition__lambda_invoke_not_in_moto():
    """Derived from the ASL: each Task's service integration and target, resolved through the
    DefinitionSubstitutions, must be allowed by the role SAM generates. (Locally, Lambda invocations never
    reach moto, so this is where lambda:InvokeFunction is checked; sqs:SendMessage is also enforced by the
    --enforce-iam stack.)"""
    machine = "PipelineStateMachine"
    props = TEMPLATE.properties(machine)
    substitutions = props["DefinitionSubstitutions"]
    definition = json.loads(
        re.sub(r"\$\{(\w+)\}", "4", (ROOT / props["DefinitionUri"]).read_text().replace('"${', '"@{'))
    )
    refs, attrs = _physical()
    role = _logical(RESOURCES[machine]["Properties"]["RoleArn"])
    assert role is not None
    statements = [
        s
        for policy in RESOURCES[role]["Properties"]["Policies"]
        for s in TEMPLATE.resolve(policy["PolicyDocument"], refs, attrs)["Statement"]
        if s["Effect"] == "Allow"
    ]

    def allowed(action: str, arn: str) -> bool:
        for s in statements:
            actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
            resources = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
            if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
                fnmatch.fnmatchcase(arn, r) for r in resources
            ):
                return True
        return False

    calls = []
    for task in _tasks(definition["States"]):
        action, parameter = _INTEGRATIONS[task["Resource"]]
        if f"{parameter}.$" in task["Parameters"]:
            # A device's own results queue, from the state (enrich's queue_url): <stack>-<device_id>.fifo.
            assert task["Parameters"][f"{parameter}.$"] == "$.queue_url"
            assert allowed(action, "arn:aws:sqs:r:1:stack-pi-kitchen.fifo"), (
                f"{role} may not {action} on a device queue"
            )
            assert not allowed(action, "arn:aws:sqs:r:1:other-stack-pi-kitchen.fifo")
            calls.append((action, "a device's queue"))
            continue
        placeholder = re.fullmatch(r"@\{(\w+)\}", task["Parameters"][parameter])
        assert placeholder, f"{task['Resource']} target is not a DefinitionSubstitution"
        target = _logical(substitutions[placeholder[1]])
        assert target is not None
        calls.append((action, target))
        assert allowed(action, _arn_of(target)), f"{role} may not {action} on {target}"
    # Positive control: every function, the device queues and the dead-letter queue were found.
    assert {t for _, t in calls} == {
        "ExtractFunction",
        "RecognizeFunction",
        "EnrichFunction",
        "a device's queue",
        "ResultsDeadLetterQueue",
        "ThrottledClipsQueue",
    }


def test_enrich_the_state_machine_and_facepipe_devices_agree_on_where_a_devices_queue_is():
    """Enrich builds a result's queue URL from RESULTS_QUEUE_URL_PREFIX, the ASL's last-resort error from the
    ResultsQueueUrlPrefix substitution, `facepipe devices add` names the queue from the DeviceQueuePrefix
    output, and DevicePolicy grants the device its queue: all four must be the same queue."""
    refs, attrs = _physical()
    machine = "PipelineStateMachine"
    substitution = TEMPLATE.resolve(TEMPLATE.properties(machine)["DefinitionSubstitutions"], refs, attrs)
    environment = TEMPLATE.resolve(TEMPLATE.function_environment("EnrichFunction"), refs, attrs)
    name_prefix = TEMPLATE.resolve(TEMPLATE.doc["Outputs"]["DeviceQueuePrefix"]["Value"], refs, attrs)
    url_prefix = environment["RESULTS_QUEUE_URL_PREFIX"]
    assert url_prefix == substitution["ResultsQueueUrlPrefix"] == f"https://sqs.r.amazonaws.com/1/{name_prefix}"
    policy = TEMPLATE.resolve(TEMPLATE.properties("DevicePolicy")["PolicyDocument"], refs, attrs)
    (receive,) = [s for s in policy["Statement"] if s["Sid"] == "ReceiveOwnResults"]
    assert receive["Resource"] == f"arn:aws:sqs:r:1:{name_prefix}${{aws:PrincipalTag/facepipe-device-id}}.fifo"


@pytest.mark.parametrize("logical", ["ExtractFunction", "EnrichFunction", "RecognizeFunction"])
def test_each_function_has_its_own_role(logical):
    """The --enforce-iam stack runs each function as its role: they must be separate roles to be checked apart."""
    role = _logical(RESOURCES[logical]["Properties"]["Role"])
    assert role == f"{logical}Role" and RESOURCES[role]["Type"] == "AWS::IAM::Role"


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Allow statement of a role (its inline policies) or a managed policy."""
    props = resource["Properties"]
    documents = [props["PolicyDocument"]] if "PolicyDocument" in props else []
    documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
    found = []
    for document in documents:
        statements = document["Statement"]
        found += [s for s in (statements if isinstance(statements, list) else [statements]) if s["Effect"] == "Allow"]
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return set(actions if isinstance(actions, list) else [actions])


def test_whoever_puts_into_the_sse_kms_bucket_may_get_a_data_key_via_s3__kms_not_modelled_by_moto():
    """The clips bucket encrypts with SSE-KMS by default: every put needs kms:GenerateDataKey on the key, which
    moto never asks for. Each principal allowed s3:PutObject under the bucket (a device, EnrichFunction keeping
    unknown faces' crops) must also be allowed a data key, and only through S3."""
    assert (
        TEMPLATE.properties("ClipsBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "aws:kms"
    )
    putters = {
        logical: _statements(resource)
        for logical, resource in RESOURCES.items()
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy")
        and any(
            {"s3:PutObject", "s3:*"} & _actions(s) and "ClipsBucket" in json.dumps(s) for s in _statements(resource)
        )
    }
    assert {"DevicePolicy", "EnrichFunctionRole", "RecognizeFunctionRole", "EraseSweepStateMachineRole"} <= set(
        putters
    ), sorted(putters)
    for logical, statements in putters.items():
        keys = [s for s in statements if {"kms:GenerateDataKey", "kms:GenerateDataKey*"} & _actions(s)]
        assert keys, f"{logical} may put into the bucket but not get a data key"
        for statement in keys:
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            assert via is not None and "s3." in json.dumps(via), f"{logical}: data keys not limited to S3"


def test_every_decrypt_grant_is_limited_to_s3__kms_not_modelled_by_moto():
    """Extract and recognize read SSE-KMS clips: kms:Decrypt of their data keys, which moto never asks for. A
    grant on every key (KeyId "*") with no condition would let them decrypt anything in the account; each is
    limited to calls S3 makes for them (kms:ViaService)."""
    readers = set()
    for logical, resource in RESOURCES.items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in _statements(resource):
            if {"kms:Decrypt", "kms:*"} & _actions(statement) and logical != "ClipsKey":
                via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                assert via is not None and "s3." in json.dumps(via), f"{logical}: kms:Decrypt not limited to S3"
                readers.add(logical)
    assert {"ExtractFunctionRole", "RecognizeFunctionRole"} <= readers, sorted(readers)


# --- throttling and timeouts: a backlog waits its turn, and a lost clip is alarmed -------------------------
EXPRESS_LIMIT_S = 300


def _throttle_wait_s(retrier: dict[str, Any]) -> float:
    """The longest a retrier can wait in all (full jitter waits at most the backoff), capped per try."""
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    first, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    return sum(min(first * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3)))


def _pipeline() -> dict[str, Any]:
    return json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())


def test_every_invoke_waits_out_throttling_with_jitter_then_puts_the_clip_back_in_line():
    """A new account runs 10 Lambdas at once; cameras flushing their spools after an outage throttle the
    functions. Each invoke retries Lambda.TooManyRequestsException on its own (not within the quick tries for
    service errors), with full jitter and a cap per wait; a clip still throttled is put back in line on
    ThrottledClipsQueue (never answered `internal`), whose pipe starts it again: run in the local stack by
    test_faults.py::test_a_hundred_clips_flushed_at_a_quota_of_one_are_every_one_answered_ok. Here: the
    template's wiring of what the local stack models (the pipe's role and source, the state machine's grant)."""
    states = _pipeline()["States"]
    invokes = {name: s for name, s in states.items() if s.get("Resource") == "arn:aws:states:::lambda:invoke"}
    assert set(invokes) == {"Extract", "Recognize", "Enrich", "ReportError"}, sorted(invokes)
    for name, state in invokes.items():
        throttled = [r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
        assert len(throttled) == 1 and throttled[0]["ErrorEquals"] == ["Lambda.TooManyRequestsException"], name
        assert throttled[0].get("JitterStrategy") == "FULL" and "MaxDelaySeconds" in throttled[0], name
        if name != "ReportError":  # the error report is the last word: after its retries, FallbackError
            first_catch = state["Catch"][0]
            assert first_catch["ErrorEquals"] == ["Lambda.TooManyRequestsException"], name
            assert first_catch["Next"] == "Throttled", name
    requeue = states["Requeue"]
    assert requeue["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert requeue["Parameters"]["QueueUrl"] == "${ThrottledClipsQueueUrl}"
    assert "$$.Execution.Input" in requeue["Parameters"]["MessageBody.$"]  # the clip's own event, nothing more
    assert "States.MathRandom" in requeue["Parameters"]["DelaySeconds.$"]  # a backlog spreads out again
    # Put back at most 20 times, then answered: `throttled` (facepipe.pipeline.enrich names the code).
    assert any(c.get("Next") == "ReportError" for c in states["Throttled"]["Choices"])

    machine = TEMPLATE.properties("PipelineStateMachine")
    assert machine["DefinitionSubstitutions"]["ThrottledClipsQueueUrl"] == {"Ref": "ThrottledClipsQueue"}
    grants = json.dumps(machine["Policies"])
    assert '"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ThrottledClipsQueue", "QueueName"]}}' in grants
    (pipe,) = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::Pipes::Pipe"]
    props = RESOURCES[pipe]["Properties"]
    assert props["Source"] == {"Fn::GetAtt": ["ThrottledClipsQueue", "Arn"]}
    assert props["Target"] == {"Ref": "PipelineStateMachine"}
    assert props["TargetParameters"]["InputTemplate"] == "<$.body>"
    assert props["TargetParameters"]["StepFunctionStateMachineParameters"]["InvocationType"] == "FIRE_AND_FORGET"
    role = RESOURCES[props["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "pipes.amazonaws.com"}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert {json.dumps(s["Resource"]) for s in statements} == {
        json.dumps({"Fn::GetAtt": ["ThrottledClipsQueue", "Arn"]}),
        json.dumps({"Ref": "PipelineStateMachine"}),
    }, "the pipe's role reaches beyond its queue and the pipeline"
    assert RESOURCES["ThrottledClipsQueue"]["Properties"]["SqsManagedSseEnabled"] is True


# Retriers whose failed tries end at once (a throttled invoke is refused before it runs; a claim in progress is
# found as the handler starts): only their waits count. Any other try may run to the state's TimeoutSeconds.
_IMMEDIATE = {"Lambda.TooManyRequestsException", "IdempotencyAlreadyInProgressError"}


def _worst_state_s(state: dict[str, Any]) -> float:
    """The longest a Task can take, retries included: every try that can run does so to its timeout, and every
    wait is its longest (full jitter waits at most the backoff)."""
    timeout = state["TimeoutSeconds"]
    tries = 1
    waits = 0.0
    for retrier in state.get("Retry", []):
        waits += _throttle_wait_s(retrier)
        if not set(retrier["ErrorEquals"]) <= _IMMEDIATE:
            tries += retrier["MaxAttempts"]
    return tries * timeout + waits


def _longest_path_s(states: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> float:
    assert name not in seen, f"a loop through {name}: no bound on an execution's time"
    state = states[name]
    nexts = [state.get("Next"), state.get("Default")]
    nexts += [c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])]
    own = _worst_state_s(state) if state["Type"] == "Task" else 0.0
    return own + max((_longest_path_s(states, n, (*seen, name)) for n in nexts if n), default=0.0)


def test_every_path_to_an_answer_ends_inside_expresss_five_minutes__timeouts_not_run_by_moto():
    """An Express execution stopped at 5 minutes runs no Catch: its device gets nothing, and only an alarm
    says so. So no path may reach that limit: every Task has a TimeoutSeconds, a state timing out is caught
    (States.Timeout -> ReportError: an `error` result with code `timeout`), and the longest path - each try
    that can run taking its whole timeout, each wait its longest - ends with time to spare. A timed-out task
    is not run here (it would hold a test for its timeout); facepipe.pipeline.enrich names its code."""
    machine = _pipeline()
    states = machine["States"]
    for name, state in states.items():
        if state["Type"] == "Task":
            assert "TimeoutSeconds" in state, f"{name} can wait until Express stops the execution"
            if state["Resource"] == "arn:aws:states:::lambda:invoke":
                logical = {"Extract": "ExtractFunction", "Recognize": "RecognizeFunction"}.get(name, "EnrichFunction")
                own = TEMPLATE.properties(logical).get("Timeout", TEMPLATE.doc["Globals"]["Function"]["Timeout"])
                assert own <= state["TimeoutSeconds"], f"{logical} runs past the {name} state's wait"
    worst = _longest_path_s(states, machine["StartAt"])
    print(f"longest path to an answer: {worst:.0f} s")
    assert worst <= EXPRESS_LIMIT_S - 15, f"the longest path takes {worst:.0f} s: past Express's 5 minutes"


def test_timeouts_and_throttling_are_alarmed__cloudwatch_not_modelled_by_moto():
    """An Express execution that times out is not counted in ExecutionsFailed, and its device gets nothing;
    throttled functions are the first sign that the concurrency quota is too small."""
    alarms = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    timed_out = [a for a in alarms.values() if a.get("MetricName") == "ExecutionsTimedOut"]
    assert timed_out and "PipelineStateMachine" in json.dumps(timed_out[0]["Dimensions"])
    throttled = [a for a in alarms.values() if "Throttles" in json.dumps(a.get("Metrics", a.get("MetricName", "")))]
    assert throttled, "no alarm on Lambda throttles"
    named = json.dumps(throttled[0]["Metrics"])
    for function in ("ExtractFunction", "RecognizeFunction", "EnrichFunction"):
        assert function in named, f"{function}'s throttles are not alarmed"
    for alarm in [*timed_out, *throttled]:
        assert "AlarmTopic" in json.dumps(alarm["AlarmActions"])


# --- no face data where erase cannot reach it --------------------------------------------------------------
def test_no_function_records_its_response_or_errors_in_xray__xray_not_modelled_by_moto():
    """Powertools' tracer puts each handler's response in its X-Ray trace unless told not to: recognize's holds
    face crops and encodings, enrich's names and records, and X-Ray keeps them 30 days beyond erase's reach.
    Turned off twice: in every function's environment, and on every handler's decorator."""
    import ast

    env = TEMPLATE.doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    functions = [k for k, v in TEMPLATE.doc["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 4
    for logical in functions:
        own = TEMPLATE.properties(logical).get("Environment", {}).get("Variables", {})
        assert not {"POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"} & own.keys(), logical
        tree = ast.parse(TEMPLATE.function_app(logical).read_text())
        (handler,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"]
        traced = [
            d
            for d in handler.decorator_list
            if "capture_lambda_handler" in ast.unparse(d.func if isinstance(d, ast.Call) else d)
        ]
        assert traced, f"{logical}: handler not traced"
        for decorator in traced:
            assert isinstance(decorator, ast.Call), f"{logical}: tracer with its default capture (the response)"
            given = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
            assert given == {"capture_response": False, "capture_error": False}, logical


def test_every_log_is_kept_log_retention_days__log_groups_not_modelled_by_moto():
    """Logs may name people (INFO and DEBUG) and erase cannot reach them: every function and the pipeline log
    to a group the template declares, kept LogRetentionDays (the pipeline's: a day during a tracing session, which
    logs every state)."""
    groups = {k for k, v in TEMPLATE.doc["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"}
    for logical in groups:
        kept = {"Ref": "LogRetentionDays"}
        if logical == "PipelineLogGroup":
            kept = {"Fn::If": ["TracingSession", 1, kept]}
        assert TEMPLATE.properties(logical)["RetentionInDays"] == kept, logical
    for logical, resource in TEMPLATE.doc["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            group = TEMPLATE.properties(logical)["LoggingConfig"]["LogGroup"]
            assert group["Ref"] in groups, logical
    assert int(TEMPLATE.parameter_defaults()["LogRetentionDays"]) <= 14


def test_results_kept_in_queues_no_longer_than_face_crops__queue_retention_not_modelled_by_moto():
    """A result names people and carries their records, and erase cannot reach a queued message: the
    dead-letter queue keeps results at most FaceCropRetentionDays at its smallest (1 day)."""
    smallest = int(TEMPLATE.doc["Parameters"]["FaceCropRetentionDays"]["MinValue"])
    retention = int(TEMPLATE.properties("ResultsDeadLetterQueue")["MessageRetentionPeriod"])
    assert retention <= smallest * 86400


def test_the_sweep_batches_clips_in_express_children__item_batcher_not_in_moto():
    """What AWS runs: a Distributed Map reading every page of the clips prefix, 20 clips a recognize invocation,
    EXPRESS children, concurrency from the input; moto's grammar has neither the batcher nor EXPRESS children,
    so the local stack runs facepipe.local.deployer.for_moto's copy (checked here to differ in just those)."""
    from facepipe.local.deployer import for_moto

    props = TEMPLATE.properties("EraseSweepStateMachine")
    assert props["Type"] == "STANDARD"  # a Distributed Map cannot run in an Express workflow
    text = (ROOT / props["DefinitionUri"]).read_text()
    (sweep,) = json.loads(text)["States"].values()
    assert sweep["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert sweep["ItemReader"]["Parameters"] == {"Bucket": "${ClipsBucket}", "Prefix.$": "$.prefix"}
    assert sweep["MaxConcurrencyPath"] == "$.concurrency"
    # A batch fits recognize's timeout with room (a 5-s 1080p clip of 40 faces ~1.6 s on one vCPU; the handler
    # also stops SWEEP_MARGIN_S early and hands the rest back), and a failed batch fails no other: erase reads
    # the map run's counts (facepipe.ops.erase).
    timeout = RESOURCES["RecognizeFunction"]["Properties"]["Timeout"]
    assert sweep["ItemBatcher"]["MaxItemsPerBatch"] * 1.6 + SWEEP_MARGIN_S <= timeout
    assert sweep["ToleratedFailurePercentage"] == 100
    assert sweep["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    (local,) = json.loads(for_moto(text))["States"].values()
    assert "ItemBatcher" not in local and local["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    local["ItemBatcher"], local["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = sweep["ItemBatcher"], "EXPRESS"
    assert local == sweep
    # Its role: the recognize function, the bucket's listing, its map run records, its own child executions.
    statements = _statements(RESOURCES["EraseSweepStateMachineRole"])
    granted = json.dumps(statements)
    for action in ("lambda:InvokeFunction", "s3:ListBucket", "s3:PutObject", "states:StartExecution"):
        assert any(action in _actions(s) for s in statements), action
    assert "erase-sweep" in granted


def test_only_the_operator_may_write_an_erase_jobs_record():
    """Whatever can write ``erase-jobs/<job>/job.json`` decides whom an erase erases: the recognize function (it
    decodes untrusted clips) may write only its sweep results, the sweep machine only its map runs' records, and
    no other function anything under erase-jobs/ (facepipe.ops.erase refuses a record it could not have
    written, and a result naming anything but clips)."""
    writes: dict[str, list[str]] = {}
    for logical, resource in RESOURCES.items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in _statements(resource):
            if not {"s3:PutObject", "s3:*"} & _actions(statement):
                continue
            targets = statement.get("Resource", [])
            for target in targets if isinstance(targets, list) else [targets]:
                text = json.dumps(target)
                assert "${ClipsBucket.Arn}/*" not in text, f"{logical} may write anywhere in the bucket"
                if "erase-jobs" in text:
                    writes.setdefault(logical, []).append(text.split("erase-jobs", 1)[1].split('"', 1)[0])
    assert writes == {"RecognizeFunctionRole": ["/*/sweep/*"], "EraseSweepStateMachineRole": ["/sweep-runs/*"]}
    (sweep,) = json.loads((ROOT / "statemachine" / "erase_sweep.asl.json").read_text())["States"].values()
    assert sweep["ResultWriter"]["Parameters"]["Prefix"] == "erase-jobs/sweep-runs"


def test_sessions_are_closed_on_a_schedule_with_only_the_tables_attendance_needs__scheduler_not_modelled_by_moto():
    """EventBridge Scheduler invokes AttendanceFunction every 5 minutes with its scheduled time (the local stack
    fires the same schedule with the test's clock: facepipe/local/schedules.py). The function may write
    AttendanceTable, read the sightings, and for its events update the devices' items and put on the bus; the
    table's records expire with AttendanceRetentionDays and its ByPerson index is how erase finds a student's
    (tests/integration/test_attendance.py)."""
    props = TEMPLATE.properties("AttendanceFunction")
    (schedule,) = props["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert "<aws.scheduler.scheduled-time>" in schedule["Properties"]["Input"]
    policies = json.dumps(props["Policies"])
    assert '{"DynamoDBCrudPolicy": {"TableName": {"Ref": "AttendanceTable"}}}' in policies
    assert '{"DynamoDBReadPolicy": {"TableName": {"Ref": "SightingsTable"}}}' in policies
    # ...and, for the tick's events, the devices' items (who is in view, which went silent) and the bus.
    assert '{"DynamoDBCrudPolicy": {"TableName": {"Ref": "DevicesTable"}}}' in policies
    assert policies.count("Policy") == 4, "the attendance function reaches beyond its tables and the bus"
    # SAM gives the schedule a role of its own that Scheduler assumes and that may invoke only this function;
    # its name is the stack's own, so copies of the stack deploy side by side.
    (schedule,) = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["AttendanceFunction", "Arn"]}
    assert "AWS::StackName" in json.dumps(schedule["Name"])
    role = RESOURCES[schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": ["AttendanceFunction", "Arn"]},
        }
    ]
    table = TEMPLATE.properties("AttendanceTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByPerson" and index["KeySchema"][0]["AttributeName"] == "person_id"
    env = props["Environment"]["Variables"]
    assert env["ATTENDANCE_RETENTION_DAYS"] == {"Ref": "AttendanceRetentionDays"}
    assert TEMPLATE.parameter_defaults()["AttendanceRetentionDays"] == "120"


def test_events_go_to_the_stacks_bus_and_out_with_no_secret_in_the_template__api_destinations_not_in_moto():
    """Enrich and the tick may put events on the stack's bus only. The webhook is an EventBridge API
    destination (AWS retries, rate-limits and authenticates it; no code of ours delivers), its key resolved from
    Secrets Manager at deploy time, its failures kept a day in a dead-letter queue only its rule may write;
    the sample rule mails an unknown face on chosen cameras outside school hours. Both off unless asked for.
    (The local stack delivers the same events itself: tests/integration/test_events.py.)"""
    assert RESOURCES["EventBus"]["Type"] == "AWS::Events::EventBus"
    for logical in ("EnrichFunction", "AttendanceFunction"):
        puts = [p for p in TEMPLATE.properties(logical)["Policies"] if "EventBridgePutEventsPolicy" in p]
        assert puts == [{"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EventBus"}}}], logical
    env = TEMPLATE.doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["EVENT_BUS_NAME"] == {"Ref": "EventBus"} and env["SITE_TIMEZONE"] == {"Ref": "SiteTimeZone"}

    defaults = TEMPLATE.parameter_defaults()
    assert defaults["WebhookUrl"] == "" and defaults["UnknownFaceAlertEmail"] == ""
    conditional = {
        k: r.get("Condition")
        for k, r in TEMPLATE.doc["Resources"].items()
        if k.startswith(("Webhook", "UnknownFaceAlert"))
    }
    assert set(conditional.values()) == {"HasWebhook", "HasUnknownFaceAlert"}, conditional

    connection = TEMPLATE.properties("WebhookConnection")["AuthParameters"]["ApiKeyAuthParameters"]
    assert connection["ApiKeyValue"] == {"Fn::Sub": "{{resolve:secretsmanager:${WebhookKeySecretName}:SecretString}}"}
    (target,) = TEMPLATE.properties("WebhookRule")["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["WebhookDestination", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}
    assert TEMPLATE.properties("WebhookDeadLetterQueue")["MessageRetentionPeriod"] <= 86400  # may name people
    (allowed,) = TEMPLATE.properties("WebhookDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    assert allowed["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["WebhookRule", "Arn"]}}}
    role = TEMPLATE.properties("WebhookRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert role == [
        {
            "Effect": "Allow",
            "Action": "events:InvokeApiDestination",
            "Resource": {"Fn::GetAtt": ["WebhookDestination", "Arn"]},
        }
    ]

    alert = TEMPLATE.properties("UnknownFaceAlertRule")
    assert alert["EventPattern"]["detail-type"] == ["unknown.seen"]
    assert alert["EventPattern"]["detail"]["local_hour"] == [
        {"numeric": ["<", {"Ref": "SchoolDayStartHour"}]},
        {"numeric": [">=", {"Ref": "SchoolDayEndHour"}]},
    ]
    # The topic's key lets EventBridge publish (an AWS managed key cannot grant a service principal).
    key = json.dumps(TEMPLATE.properties("AlarmTopicKey")["KeyPolicy"])
    assert "events.amazonaws.com" in key
    assert TEMPLATE.properties("UnknownFaceAlertTopic")["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}


def test_point_in_time_recovery_is_decided_per_table_by_what_it_holds_of_a_person():
    """A table's point-in-time recovery keeps every item 35 days, beyond erase's reach. Off where a face is held
    (sightings' crops; unknown clusters' encodings and crops) or nothing is worth restoring (claims); on for the
    school's own records (students, devices, attendance: ids and statuses, never a face), whose restore is followed
    by erasing again every id in audit/erasures/ (docs/RELIABILITY.md, "Kept, and why")."""
    tables = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::DynamoDB::Table"}
    pitr = {
        k: p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") for k, p in tables.items()
    }
    assert pitr == {
        "StudentsTable": True,
        "DevicesTable": True,
        "AttendanceTable": True,
        "SightingsTable": False,
        "UnknownsTable": False,
        "IdempotencyTable": False,
    }
    reliability = (ROOT / "docs" / "RELIABILITY.md").read_text()
    assert "Point-in-time recovery" in reliability and "erase again" in reliability


def test_a_tracing_session_logs_every_state_without_execution_data_and_keeps_it_a_day__logging_not_in_moto():
    """TraceClips=on: the Express pipeline logs every state (so a clip can be followed in the Step Functions
    console, which reads an Express execution's history from these logs) for a day; off, errors only for
    LogRetentionDays. Never execution data (faces, names, results): on or off."""
    machine = TEMPLATE.doc["Resources"]["PipelineStateMachine"]["Properties"]
    logging = machine["Logging"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] == {"Fn::If": ["TracingSession", "ALL", "ERROR"]}
    retention = TEMPLATE.doc["Resources"]["PipelineLogGroup"]["Properties"]["RetentionInDays"]
    assert retention == {"Fn::If": ["TracingSession", 1, {"Ref": "LogRetentionDays"}]}
    assert TEMPLATE.doc["Conditions"]["TracingSession"] == {"Fn::Equals": [{"Ref": "TraceClips"}, "on"]}
    assert TEMPLATE.parameter_defaults()["TraceClips"] == "off" and not _condition("TracingSession")
    assert machine["Tracing"] == {"Enabled": True}  # X-Ray beside it, always
    readme = (ROOT / "README.md").read_text()
    assert "## Tracing a clip" in readme and "TraceClips=on" in readme


def test_a_throttled_clip_is_answered_within_the_devices_timeout_and_a_stuck_one_is_alarmed__pipes_not_in_moto():
    """A clip whose functions stay throttled through Recognize's own retries is put back with a random delay: the
    longest path (those retries' waits, the longest delay, ~3 s to answer) still fits the device's result timeout,
    so its result is not reported missing (and one that comes later still is shown, marked late: test_device).
    Clips the pipe cannot start again go to a dead-letter queue; both that and a queue waiting over 10 minutes, and
    a failing attendance run, raise the stack's alarm."""
    from facepipe_device.config import DeviceConfig

    from facepipe.ops.settle import backoff_s

    asl = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())
    (throttled,) = [
        r for r in asl["States"]["Recognize"]["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
    ]
    longest = backoff_s(throttled) + float(TEMPLATE.parameter_defaults()["ThrottledClipDelayMaxSeconds"]) + 3.0
    assert longest <= DeviceConfig(device_id="d", bucket="b", queue_url="q").result_timeout_s, longest
    queue = TEMPLATE.doc["Resources"]["ThrottledClipsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ThrottledClipsDeadLetterQueue", "Arn"]}
    alarms = {k: r["Properties"] for k, r in TEMPLATE.doc["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {json.dumps(a.get("Dimensions", [])) for a in alarms.values()}
    for target in (
        '"ThrottledClipsQueue", "QueueName"',
        '"ThrottledClipsDeadLetterQueue", "QueueName"',
        '"Ref": "AttendanceFunction"',
    ):
        assert any(target in w for w in watched), target
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
