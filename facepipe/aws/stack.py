"""One model of a stack's outputs: what the operator's tools, the devices commands and the local stack need to
name its parts, read from the template's ``Outputs`` (CloudFormation's for a deployed stack, the local stack's
own) or from the settings a `facepipe local --env-file` file holds.

Each output fills one field of :class:`~facepipe.core.settings.Settings`; the environment names written for the
operator are the settings' own (:func:`env_name`), so they are spelled once, in the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import AliasChoices

from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings


class StackError(FacepipeError):
    code = "stack"


# Each template output the tools read, and the Settings field it fills.
OUTPUT_FIELDS = {
    "ClipsBucketName": "bucket_name",
    "StudentsTableName": "students_table",
    "DevicesTableName": "devices_table",
    "SightingsTableName": "sightings_table",
    "UnknownsTableName": "unknowns_table",
    "AttendanceTableName": "attendance_table",
    "GalleryKey": "gallery_key",
    "GalleryRefreshSeconds": "gallery_refresh_seconds",
    "EraseSweepStateMachineArn": "erase_sweep_state_machine_arn",
    "DeviceQueuePrefix": "device_queue_prefix",
    "ResultsDeadLetterQueueUrl": "dead_letter_queue_url",
    "DevicePolicyArn": "device_policy_arn",
    # Erase tells the bus's recipients (person.erased).
    "EventBusName": "event_bus_name",
    # What the operator's tools write expires with the stack's own retentions (a label's mentions, erase's index).
    "ClipsRetentionDays": "clips_retention_days",
    "FaceCropRetentionDays": "face_crop_retention_days",
    "AttendanceRetentionDays": "attendance_retention_days",
}
# What `facepipe devices` cannot work without.
DEVICE_FIELDS = ("bucket_name", "devices_table", "device_queue_prefix", "dead_letter_queue_url", "device_policy_arn")


# The operator's names where a field has two: a function's own BUCKET_NAME (the template's) must win over an
# operator's setting a process inherits, so the operator's shell names the bucket FACEPIPE_BUCKET.
_OPERATOR_NAMES = {"bucket_name": "FACEPIPE_BUCKET"}


def env_name(field: str) -> str:
    """The environment variable the operator's settings use for a Settings field (its name in capitals)."""
    if field in _OPERATOR_NAMES:
        return _OPERATOR_NAMES[field]
    alias = Settings.model_fields[field].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field.upper()


@dataclass(frozen=True)
class StackOutputs:
    """A stack's parts by name, where it runs (region; the local stack's endpoint) and the pipeline's state
    machine (an output the tests and the local tools use)."""

    values: dict[str, str]  # Settings field -> value
    region: str
    endpoint_url: str | None = None  # the local stack's endpoint; None: AWS
    local: bool = False  # the local stack: device policies rendered per device (facepipe/local/iam.py)
    state_machine_arn: str = ""

    @classmethod
    def from_outputs(
        cls, outputs: dict[str, str], *, region: str, endpoint_url: str | None = None, local: bool = False
    ) -> StackOutputs:
        """From the template's ``Outputs`` (CloudFormation's, or the local stack's)."""
        missing = [name for name in OUTPUT_FIELDS if name not in outputs]
        if missing:
            raise StackError(f"the stack has no output {', '.join(missing)} (deployed from an older template?)")
        return cls(
            values={field: outputs[name] for name, field in OUTPUT_FIELDS.items()},
            region=region,
            endpoint_url=endpoint_url,
            local=local,
            state_machine_arn=outputs.get("PipelineStateMachineArn", ""),
        )

    @classmethod
    def of_deployed(cls, stack_name: str, cloudformation: Any, *, region: str) -> StackOutputs:
        """A deployed stack's outputs (DescribeStacks)."""
        try:
            (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            raise StackError(f"stack {stack_name!r}: {exc.response['Error']['Message']}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return cls.from_outputs(outputs, region=region)

    @classmethod
    def from_settings(cls, settings: Settings, *, region: str, endpoint_url: str | None) -> StackOutputs:
        """From the settings :meth:`env` wrote (``region`` and ``endpoint_url``: the session's); every part
        `facepipe devices` needs must be there."""
        missing = [env_name(field) for field in DEVICE_FIELDS if not getattr(settings, field)]
        if missing:
            raise StackError(
                f"no stack to manage: {', '.join(missing)} not set (source the file `facepipe local --env-file F` "
                "wrote, or name a deployed stack with --stack NAME)"
            )
        return cls(
            values={field: str(getattr(settings, field)) for field in OUTPUT_FIELDS.values()},
            region=region,
            endpoint_url=endpoint_url if settings.local_stack else None,
            local=settings.local_stack,
        )

    def settings(self, base: Settings) -> Settings:
        """``base`` naming this stack's parts."""
        return base.model_copy(update={field: type(getattr(base, field))(v) for field, v in self.values.items()})

    def env(self) -> dict[str, str]:
        """The operator's settings for this stack, by the names :class:`Settings` reads."""
        env = {env_name(field): value for field, value in self.values.items()} | {"AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.local:
            env[env_name("local_stack")] = "true"
        return env

    # The parts by the names their users know them.
    @property
    def bucket(self) -> str:
        return self.values["bucket_name"]

    @property
    def students_table(self) -> str:
        return self.values["students_table"]

    @property
    def devices_table(self) -> str:
        return self.values["devices_table"]

    @property
    def sightings_table(self) -> str:
        return self.values["sightings_table"]

    @property
    def unknowns_table(self) -> str:
        return self.values["unknowns_table"]

    @property
    def gallery_key(self) -> str:
        return self.values["gallery_key"]

    @property
    def queue_prefix(self) -> str:
        """Device results queue names: ``<queue_prefix><device_id>.fifo``."""
        return self.values["device_queue_prefix"]

    @property
    def dead_letter_queue_url(self) -> str:
        return self.values["dead_letter_queue_url"]

    @property
    def device_policy_arn(self) -> str:
        return self.values["device_policy_arn"]
