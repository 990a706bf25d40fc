"""Running Faultline on one machine: Azurite, and the registered functions driven in-process the
way the Functions host drives them. Used by the local run and by the integration tests."""

import os

# gRPC reads its log level once, when first imported: keep the in-memory task hub's connection
# notices (a GOAWAY for every client still open when it stops) out of the run's output.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
