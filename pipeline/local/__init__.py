"""Running Faultline on one machine: Azurite, and the registered functions driven in-process the
way the Functions host drives them. Used by the local run and by the integration tests."""
