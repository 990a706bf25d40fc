# The two commands a newcomer needs. Each sets itself up first (idempotent).
.PHONY: run test

run:
	@bash .ci/setup
	@.venv/bin/python -m local_host.run

test:
	@bash .ci/setup
	@.venv/bin/python -m pytest
