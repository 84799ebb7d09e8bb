"""The local stack: the whole pipeline on one machine, on AWS-compatible endpoints on loopback (moto).

Resources come from ``template.yaml`` and the state machine from ``statemachine/pipeline.asl.json`` (read,
not copied); the handlers in ``functions/`` answer the state machine's Lambda invocations.
"""
