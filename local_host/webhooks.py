"""The bundled alert webhook deliveries (samples/webhooks/), posted by the local run over HTTP to
the app's own `POST /api/alerts/<webhook>` at their simulated time, each signed or authorised as
its sender would with the run's own secrets, so they take the path a real delivery takes:
authentication, the delivery claim, the alert queue, detection, the issue workflow.

`deliveries.json` lists them: `at` (when to post), `webhook` (its name in the rules file),
`file` (the body) and optional `headers` (Sentry's `Sentry-Hook-Resource`). A delivery to a
webhook the rules file does not configure is left out, with a note.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from adapters.secrets import webhook_secret_variable
from detection.rules import Rules, WebhookSource
from detection.webhook_auth import TOKEN_PARAMETER, sign
from local_host.azurite import PROJECT_ROOT

WEBHOOK_SAMPLES = PROJECT_ROOT / "samples" / "webhooks"


@dataclass(frozen=True)
class SampleDelivery:
    at: datetime
    webhook: WebhookSource
    body: bytes
    headers: Mapping[str, str]


def local_secrets(rules: Rules, env: Mapping[str, str]) -> dict[str, str]:
    """The environment variables holding each configured webhook's secret for a local run: the
    shell's own when set, else one made up for the run (the run both signs and checks)."""
    return {
        variable: env.get(variable) or f"local-{hook.secret}"
        for hook in rules.webhooks
        for variable in [webhook_secret_variable(hook.secret)]
    }


def load_deliveries(folder: Path, rules: Rules) -> tuple[list[SampleDelivery], list[str]]:
    """The deliveries in time order, and a note for each one left out."""
    manifest = json.loads((folder / "deliveries.json").read_text(encoding="utf-8"))
    configured = {hook.name: hook for hook in rules.webhooks}
    deliveries, notes = [], []
    for item in manifest["deliveries"]:
        hook = configured.get(item["webhook"])
        if hook is None:
            notes.append(f"{item['file']}: no webhook named {item['webhook']} in the rules")
            continue
        deliveries.append(
            SampleDelivery(
                at=datetime.fromisoformat(item["at"]),
                webhook=hook,
                body=(folder / item["file"]).read_bytes(),
                headers=dict(item.get("headers") or {}),
            )
        )
    return sorted(deliveries, key=lambda d: d.at), notes


def credentials(
    hook: WebhookSource, body: bytes, secret: str, now: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    """The headers and query parameters with which its sender proves itself."""
    method = hook.authentication
    if hook.kind == "sentry":
        return {"Sentry-Hook-Signature": sign(secret, body)}, {}
    if method == "signature":
        stamp = str(int(now.timestamp())) if hook.timestamp_header else None
        headers = {hook.signature_header: sign(secret, body, stamp)}
        if hook.timestamp_header and stamp:
            headers[hook.timestamp_header] = stamp
        return headers, {}
    if method == "bearer":
        return {"Authorization": f"Bearer {secret}"}, {}
    if method == "basic":
        return {"Authorization": f"Basic {base64.b64encode(secret.encode()).decode()}"}, {}
    return {}, {TOKEN_PARAMETER: secret}


class WebhookSender:
    """Posts each delivery once its time has come; counts the answers by status."""

    def __init__(
        self, client: httpx.Client, deliveries: list[SampleDelivery], secrets: Mapping[str, str]
    ) -> None:
        self._client = client
        self._waiting = list(deliveries)
        self._secrets = secrets
        self.answers: Counter[int] = Counter()

    def post_due(self, now: datetime) -> int:
        posted = 0
        while self._waiting and self._waiting[0].at <= now:
            delivery = self._waiting.pop(0)
            hook = delivery.webhook
            secret = self._secrets[webhook_secret_variable(hook.secret)]
            headers, params = credentials(hook, delivery.body, secret, now)
            response = self._client.post(
                f"/alerts/{hook.name}",
                content=delivery.body,
                headers={"Content-Type": "application/json", **delivery.headers, **headers},
                params=params,
            )
            if response.status_code >= 300:
                print(f"  WARNING {hook.name} answered {response.status_code}: {response.text}")
            self.answers[response.status_code] += 1
            posted += 1
        return posted

    def describe(self) -> str:
        queued, duplicates = self.answers[202], self.answers[200]
        refused = sum(n for status, n in self.answers.items() if status >= 300)
        return (
            f"{sum(self.answers.values())} alert webhook deliveries: {queued} queued, "
            f"{duplicates} {'redelivery' if duplicates == 1 else 'redeliveries'} recognised"
            + (f", {refused} refused" if refused else "")
        )
