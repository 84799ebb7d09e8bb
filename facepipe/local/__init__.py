"""The local stack: the whole pipeline on one machine, on AWS-compatible endpoints on loopback (moto).

Resources come from ``template.yaml`` and the state machine from ``statemachine/pipeline.asl.json`` (read,
not copied); the handlers in ``functions/`` answer the state machine's Lambda invocations.

May import: every layer up to ``ops``, moto. Never ``console``, ``bench`` or ``cli``.
"""

# The one region and account the local stack plays (moto's default account): names and ARNs use these.
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Names of the local resources: facepipe-local-<LogicalId>-<suffix>.
STACK_NAME = "facepipe-local"
