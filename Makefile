# The two commands a newcomer needs, and the check after a deployment. Each sets itself up first
# (idempotent).
.PHONY: run test smoke

run:
	@bash .ci/setup
	@.venv/bin/python -m local_host.run

test:
	@bash .ci/setup
	@.venv/bin/python -m pytest

# After `azd up`, before production: a synthetic failure in, an issue out (README, "Smoke test
# before production"). Options go in ARGS, e.g. `make smoke ARGS="--no-replay --keep-issue"`.
smoke:
	@bash .ci/setup
	@.venv/bin/python -m scripts.smoke $(ARGS)
