# The two commands a newcomer needs, and the check after a deployment. Each sets itself up first
# (idempotent).
.PHONY: run run-days test smoke

# The whole product over the bundled night of sample telemetry (about half a minute);
# `make run-days` over three days (about 15 minutes on 2 cores).
run:
	@bash .ci/setup
	@.venv/bin/python -m local_host.run

run-days:
	@bash .ci/setup
	@.venv/bin/python -m local_host.run --days

test:
	@bash .ci/setup
	@.venv/bin/python -m pytest

# After `azd up`, before production: a synthetic failure in, an issue out (README, "Smoke test
# before production"). Options go in ARGS, e.g. `make smoke ARGS="--no-replay --keep-issue"`.
smoke:
	@bash .ci/setup
	@.venv/bin/python -m scripts.smoke $(ARGS)
