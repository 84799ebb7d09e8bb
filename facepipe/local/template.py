"""Read ``template.yaml``: what the local stack creates comes from here, so the two cannot drift."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfn_flip import load_yaml


def repo_root() -> Path:
    """The repository root: where template.yaml, functions/ and statemachine/ are."""
    return Path(__file__).resolve().parents[2]


@dataclass
class StackTemplate:
    """The parts of the SAM template the local stack needs, with intrinsics resolved against ``names``."""

    path: Path
    doc: dict[str, Any]

    @classmethod
    def load(cls, path: Path | None = None) -> StackTemplate:
        path = path or repo_root() / "template.yaml"
        # cfn-flip reads CloudFormation's short forms (!Ref, !Sub, !GetAtt a.b, ...) as their long forms;
        # the JSON round trip turns its ordered dicts into plain ones.
        return cls(path, json.loads(json.dumps(load_yaml(path.read_text()))))

    # --- lookup ---------------------------------------------------------------------------------
    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.doc["Resources"].items() if v["Type"] == kind}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.doc["Resources"][logical_id].get("Properties", {}))

    def parameter_defaults(self) -> dict[str, str]:
        return {k: str(v.get("Default", "")) for k, v in self.doc.get("Parameters", {}).items()}

    # --- intrinsics -----------------------------------------------------------------------------
    def resolve(self, value: Any, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> Any:
        """Resolve Ref / GetAtt / Sub against physical names (``refs``) and attributes (``attrs``)."""
        if isinstance(value, list):
            return [self.resolve(v, refs, attrs) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            logical, attr = value["Fn::GetAtt"]
            return attrs[(logical, attr)]
        if set(value) == {"Fn::Sub"}:
            # Fn::Sub is a string, or [string, {variable: value}] (as SAM's policy templates write it).
            text, variables = value["Fn::Sub"], {}
            if isinstance(text, list):
                text, variables = text[0], {k: self.resolve(v, refs, attrs) for k, v in text[1].items()}

            def sub(match: re.Match[str]) -> str:
                token = match[1]
                if token.startswith("!"):
                    return "${" + token[1:] + "}"
                if token in variables:
                    return str(variables[token])
                if "." in token:
                    logical, attr = token.split(".", 1)
                    return attrs[(logical, attr)]
                return refs[token]

            return re.sub(r"\$\{([^}]+)\}", sub, text)
        return {k: self.resolve(v, refs, attrs) for k, v in value.items()}

    def enabled(self, logical_id: str, refs: dict[str, str]) -> bool:
        """Whether a resource is made: its ``Condition`` (Fn::Equals / Not / And / Or over parameters) holds."""
        name = self.doc["Resources"][logical_id].get("Condition")
        return name is None or bool(self._condition(self.doc.get("Conditions", {})[name], refs))

    def _condition(self, value: Any, refs: dict[str, str]) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((fn, args),) = value.items()
            if fn == "Fn::Equals":
                a, b = (self._condition(x, refs) for x in args)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._condition(args[0], refs)
            if fn == "Fn::And":
                return all(self._condition(x, refs) for x in args)
            if fn == "Fn::Or":
                return any(self._condition(x, refs) for x in args)
            if fn == "Condition":
                return self._condition(self.doc["Conditions"][args], refs)
            if fn == "Ref":
                return refs[args]
        return value

    def transformed(self, region: str = "us-east-1") -> dict[str, Any]:
        """The template after the SAM transform, as CloudFormation receives it (generated roles, the
        trigger rule, expanded policy templates), made offline with the SAM translator.

        Code locations are replaced by placeholders first: the transform checks their form, not their content.
        """
        import copy

        import boto3
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator

        doc = copy.deepcopy(self.doc)
        for resource in doc["Resources"].values():
            props = resource.get("Properties", {})
            for uri in ("CodeUri", "ContentUri", "DefinitionUri"):
                if uri in props:
                    props[uri] = "s3://placeholder/placeholder"
            if props.get("PackageType") == "Image":
                props["ImageUri"] = f"123456789012.dkr.ecr.{region}.amazonaws.com/placeholder:latest"
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        return dict(translator.translate(doc, parameter_values={}, get_managed_policy_map=dict))

    # --- the pieces -----------------------------------------------------------------------------
    def state_machine(self, logical_id: str | None = None) -> tuple[str, dict[str, Any]]:
        """(logical id, properties) of a state machine: ``logical_id``'s, or the pipeline's (the one S3 events
        start)."""
        machines = self.resources("AWS::Serverless::StateMachine")
        if logical_id is None:
            logical_id = next(m for m, r in machines.items() if r["Properties"].get("Events"))
        return logical_id, machines[logical_id]["Properties"]

    def definition(self, substitutions: dict[str, str], logical_id: str | None = None) -> str:
        """The ASL file with ``${Placeholders}`` filled, as Step Functions does with DefinitionSubstitutions."""
        _, props = self.state_machine(logical_id)
        text = (self.path.parent / props["DefinitionUri"]).read_text()
        missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions)
        if missing:
            raise KeyError(f"DefinitionSubstitutions lack {sorted(missing)}")
        text = re.sub(r"\$\{(\w+)\}", lambda m: str(substitutions[m[1]]), text)
        json.loads(text)  # fail here, with a clear message, rather than inside the executor
        return text

    def event_rule(self) -> dict[str, Any]:
        """The state machine's EventBridge trigger (Pattern, RetryPolicy, DeadLetterConfig)."""
        _, props = self.state_machine()
        for event in props.get("Events", {}).values():
            if event["Type"] == "EventBridgeRule":
                return dict(event["Properties"])
        raise KeyError("the state machine has no EventBridgeRule event")

    def function_environment(self, logical_id: str) -> dict[str, Any]:
        """Globals' variables overlaid with the function's own (unresolved)."""
        merged = dict(self.doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
        own = self.properties(logical_id).get("Environment", {}).get("Variables", {})
        merged.update(own)
        return merged

    def function_app(self, logical_id: str) -> Path:
        """The handler file of a function: CodeUri/app.py for zip, the Dockerfile's folder for images."""
        resource = self.doc["Resources"][logical_id]
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            folder = (self.path.parent / resource["Metadata"]["Dockerfile"]).parent
        else:
            folder = self.path.parent / props["CodeUri"]
        return folder / "app.py"
