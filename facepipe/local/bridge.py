"""The template's triggers, locally: the EventBridge rule with the template's pattern, and its pipes (an SQS
queue into the state machine), both turned into ``StartExecution`` calls by one thread.

moto delivers S3 events to rule targets such as SQS but does not start Step Functions targets, so the rule's
target here is a bridge queue, with the event EventBridge delivered as the execution input (the shape AWS
delivers). moto runs no EventBridge Pipes either: a pipe of the template (``ThrottledClipsPipe``: the queue
where throttled clips wait their delay) is read from the template and polled here, its ``InputTemplate`` of
``<$.body>`` giving the message body as the input, as Pipes does. In AWS the rule and the pipe start the
executions themselves.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from facepipe.local import ACCOUNT, REGION
from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Endpoint


def received(sqs: Any, url: str, *, wait_s: int, stop: threading.Event) -> list[dict[str, Any]]:
    """One receive of up to 10 messages for a local poller; none while the server stops or hiccups."""
    try:
        return list(
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s).get("Messages", [])
        )
    except Exception:  # the server is stopping, or busy for a moment
        if not stop.is_set():
            time.sleep(0.1)
        return []


def pipe_queues(deployment: Deployment, machine_arn: str) -> list[str]:
    """URLs of the queues the template pipes into ``machine_arn``; a pipe this bridge cannot model is refused
    here, naming it, rather than silently never delivering."""
    urls = {arn: deployment.refs[queue] for (queue, attr), arn in deployment.attrs.items() if attr == "Arn"}
    found = []
    for logical in deployment.template.resources("AWS::Pipes::Pipe"):
        props = deployment.template.properties(logical)  # its role is not made locally: the bridge runs as the stack
        source, target = deployment.resolve(props["Source"]), deployment.resolve(props["Target"])
        template = props.get("TargetParameters", {}).get("InputTemplate")
        if target != machine_arn or template != "<$.body>" or source not in urls:
            raise ValueError(f"{logical}: the local stack models only an SQS queue piped into the pipeline as <$.body>")
        found.append(urls[source])
    return found


class TriggerBridge:
    def __init__(self, deployment: Deployment, endpoint: Endpoint, machine_arn: str) -> None:
        rule = deployment.template.event_rule()
        name = deployment.name("trigger-bridge")
        self.queue_url = endpoint.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        events = endpoint.client("events")
        rule_name = deployment.name("ClipCreated")
        events.put_rule(Name=rule_name, EventPattern=json.dumps(deployment.resolve(rule["Pattern"])), State="ENABLED")
        events.put_targets(
            Rule=rule_name, Targets=[{"Id": "pipeline", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}]
        )
        self.pipe_urls = pipe_queues(deployment, machine_arn)
        self.machine_arn = machine_arn
        self.executions_started = 0
        self.executions_piped = 0  # of those, started from a pipe (a throttled clip's next try)
        self._endpoint = endpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, endpoint: Endpoint) -> None:
        """Start bridging, as ``endpoint``'s principal (the operator when IAM is enforced)."""
        self._endpoint = endpoint
        self._thread = threading.Thread(target=self._run, name="eventbridge-to-sfn", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=25)

    def _run(self) -> None:
        sqs, sfn = self._endpoint.client("sqs"), self._endpoint.client("stepfunctions")
        queues = [self.queue_url, *self.pipe_urls]
        while not self._stop.is_set():
            for url in queues:
                # Long-poll the rule's queue only (where nearly every execution comes from); pipes are read
                # without waiting, so a delayed clip starts within the rule queue's one-second poll.
                wait = 1 if url == self.queue_url else 0
                for message in received(sqs, url, wait_s=wait, stop=self._stop):
                    self._start_execution(sfn, message["Body"], piped=url != self.queue_url)
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _start_execution(self, sfn: Any, body: str, *, piped: bool) -> None:
        sfn.start_execution(
            stateMachineArn=self.machine_arn,
            # A unique name per execution, as AWS gives each one (moto otherwise names all "None").
            name=f"clip-{uuid.uuid4().hex}",
            input=body,
        )
        self.executions_started += 1
        self.executions_piped += piped
