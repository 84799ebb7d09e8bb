"""The template's EventBridge trigger, locally: the rule with the template's pattern, and a bridge to
Step Functions.

moto delivers S3 events to rule targets such as SQS but does not start Step Functions targets, so the rule's
target here is a bridge queue that a thread turns into ``StartExecution`` calls, with the event EventBridge
delivered as the execution input (the shape AWS delivers). In AWS the rule starts the execution itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from facepipe.local import ACCOUNT, REGION
from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Endpoint


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
        self.machine_arn = machine_arn
        self.executions_started = 0
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
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            except Exception:  # the server is stopping
                if self._stop.is_set():
                    return
                time.sleep(0.1)
                continue
            for message in messages.get("Messages", []):
                sfn.start_execution(
                    stateMachineArn=self.machine_arn,
                    # A unique name per execution, as AWS gives each one (moto otherwise names all "None").
                    name=f"clip-{uuid.uuid4().hex}",
                    input=message["Body"],
                )
                self.executions_started += 1
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
