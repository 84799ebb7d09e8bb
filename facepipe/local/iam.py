"""IAM in the local stack: the template's roles and device policy, enforced on the code that uses them.

With ``enforce_iam`` the local stack gives every part its own principal, as AWS does: each function's
workers run with its role's credentials (the roles SAM generates, from the transformed template), the
state machine's service calls with its role, a device with a user holding only ``DevicePolicy``, and the
stack itself (setup, the trigger bridge, the CLI) with an operator. Then moto is told to authorize every
request (``POST /moto-api/reset-auth``), so a missing grant fails as it would in AWS.

How far moto 5.2.5 goes (checked), and what is done about the rest:

- S3 and SQS requests are checked for the action against the literal resource (object ARN, queue ARN).
- Other services (DynamoDB, Step Functions, IAM) are checked for the action against resource ``*``, so a
  statement scoped to a table matches nothing: such statements are widened here to ``*``. Their actions are
  still enforced; their resource scoping is only checked by AWS.
- Policy variables (``${aws:PrincipalTag/facepipe-device-id}``) are not substituted (such a statement
  matches nothing): `facepipe devices add` against the local stack writes the device policy out per device
  with the tag's value, as an inline policy of the device's user (in AWS it attaches the managed policy).
- Conditions, KMS key policies and account quotas are not modelled: tests/unit/test_template_rules.py checks
  what depends on them in the template.
- Lambda ``Invoke`` never reaches moto (the local runtime answers it): the state machine role's
  ``lambda:InvokeFunction`` grants are checked against the ASL in the template tests.
- moto's ASL executor signs its service calls with the fixed access key ``ak``: that key is given to a user
  holding exactly the state machine role's policies (moto's coupling, beside its pin in requirements/dev.txt).

Authorization is a switch of the moto process, not of one server: one enforced stack per process
(``facepipe local --enforce-iam`` runs one in its own).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Credentials, Endpoint

# The key moto's ASL executor signs with (moto/stepfunctions/parser/asl/utils/boto_client.py).
EXECUTOR_KEY = ("ak", "sk")
# Services whose requests moto authorizes against resource "*" (see above).
_STAR_RESOURCE_SERVICES = ("dynamodb:", "states:", "iam:", "sts:", "logs:", "xray:", "cloudwatch:")


def _widened(document: dict[str, Any]) -> dict[str, Any]:
    """A policy whose statements moto can only match against "*" get resource "*" (actions unchanged)."""
    statements = document.get("Statement", [])
    out = []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if actions and all(a.startswith(_STAR_RESOURCE_SERVICES) for a in actions):
            statement = statement | {"Resource": "*"}
        out.append(statement)
    return {"Version": "2012-10-17", "Statement": out}


class LocalIam:
    """Creates the principals in moto (before enforcement) and switches enforcement on and off."""

    def __init__(self, deployment: Deployment, bootstrap: Endpoint) -> None:
        """``bootstrap``: the endpoint as the principal that creates everything, before enforcement."""
        self.deployment, self.bootstrap = deployment, bootstrap
        self.template = deployment.template
        self.transformed = self.template.transformed(bootstrap.region)
        self.operator: Credentials | None = None

    def role_of(self, logical_id: str) -> str:
        """The logical id of a function's or state machine's role in the transformed template."""
        props = self.transformed["Resources"][logical_id]["Properties"]
        role = props.get("Role") or props["RoleArn"]  # a function's Role, a state machine's RoleArn
        return str(role["Fn::GetAtt"][0])

    def _role_policies(self, role_id: str) -> list[tuple[str, dict[str, Any]]]:
        props = self.transformed["Resources"][role_id]["Properties"]
        return [
            (policy["PolicyName"], _widened(self.deployment.resolve(policy["PolicyDocument"])))
            for policy in props.get("Policies", [])
        ]

    # --- before enforcement ------------------------------------------------------------------------
    def create(self, role_ids: list[str]) -> dict[str, Credentials]:
        """The operator, and a session of each role in ``role_ids`` (e.g. ExtractFunctionRole)."""
        iam, sts = self.bootstrap.client("iam"), self.bootstrap.client("sts")
        iam.create_user(UserName="facepipe-local-operator")
        iam.put_user_policy(
            UserName="facepipe-local-operator",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="facepipe-local-operator")["AccessKey"]
        self.operator = Credentials(key["AccessKeyId"], key["SecretAccessKey"])

        sessions: dict[str, Credentials] = {}
        for role_id in role_ids:
            props = self.transformed["Resources"][role_id]["Properties"]
            iam.create_role(
                RoleName=role_id,
                AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
                MaxSessionDuration=43200,
            )
            for name, document in self._role_policies(role_id):
                iam.put_role_policy(RoleName=role_id, PolicyName=name, PolicyDocument=json.dumps(document))
            account = self.deployment.refs["AWS::AccountId"]
            got = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role_id}", RoleSessionName="local", DurationSeconds=43200
            )["Credentials"]
            sessions[role_id] = Credentials(got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"])
        return sessions

    def give_executor_key(self, role_ids: list[str]) -> None:
        """moto's ASL executor signs as ``ak``: make that the key of a user with exactly the policies of
        ``role_ids``, the state machines' roles. moto signs every state machine's calls with that one key, so each
        machine is held to the union of their grants here (the pipeline's and the erase sweep's, which share no
        S3 prefix they write); each role's own scoping is checked in tests/unit/test_template_rules.py."""
        from moto.iam.models import iam_backends

        iam = self.bootstrap.client("iam")
        user = "facepipe-local-states-executor"
        iam.create_user(UserName=user)
        for role_id in role_ids:
            for name, document in self._role_policies(role_id):
                iam.put_user_policy(UserName=user, PolicyName=f"{role_id}-{name}", PolicyDocument=json.dumps(document))
        iam.create_access_key(UserName=user)
        # moto issues random key ids; the executor's is fixed in its code, so set it on moto's own record.
        (key,) = iam_backends[self.deployment.refs["AWS::AccountId"]]["aws"].get_user(user).access_keys
        key.access_key_id, key.secret_access_key = EXECUTOR_KEY

    # --- the switch --------------------------------------------------------------------------------
    def enforce(self) -> None:
        requests.post(f"{self.bootstrap.url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()

    def relax(self) -> None:
        requests.post(f"{self.bootstrap.url}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
