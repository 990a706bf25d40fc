"""Slack, Teams and webhooks over HTTP, behind the `Notifier` port.

Each send is one POST, retried by tenacity: on 429 it waits what the receiver's `Retry-After`
asks (capped at `max_wait`; Slack and Teams both send it), on 5xx, timeouts and refused
connections it backs off exponentially with jitter, for at most `attempts` tries. Any other 4xx
is a refusal that no retry fixes (a revoked webhook, an archived channel, a bad token) and fails
at once, as does a channel secret the vault will not serve. The channel's URLs and tokens are
read through `secret` (Key Vault, cached) on every send, so a rotated webhook needs no restart.

Slack in bot-token mode posts with `chat.postMessage` (which answers 200 with `"ok": false` and
an `error` when it refuses) and replies in the issue's thread when the dispatcher passes one.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from detection.notify_payloads import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Message,
    TemplateOutputInvalid,
    message_kind,
    sign,
    slack_blocks,
    teams_card,
    webhook_body,
)
from detection.rules import Channel, SlackChannel, TeamsChannel, WebhookChannel
from pipeline.ports import DeliveryFailed, SecretUnavailable, Sent

USER_AGENT = "Faultline-Notifier/1"
SLACK_API = "https://slack.com/api/"


class _Retryable(Exception):
    """An answer worth asking again: 429 (with the wait the receiver asked for) or 5xx."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.retry_after = retry_after


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


class HttpNotifier:
    """Posts messages to their channels; `sleep` and `now` are injectable so a test can let a
    receiver ask for a long Retry-After without waiting it out."""

    def __init__(
        self,
        secret: Callable[[str], str],
        *,
        slack_api: str = SLACK_API,
        timeout: float = 10.0,
        attempts: int = 5,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._slack_api = slack_api.rstrip("/") + "/"
        self._timeout = timeout
        self._attempts = attempts
        self._max_wait = max_wait
        self._sleep = sleep
        self._now = now
        self._transport = transport

    def deliver(
        self, channel: Channel, message: Message, *, thread: str | None, delivery_id: str
    ) -> Sent:
        try:
            url, body, headers, bot = self._request(channel, message, thread, delivery_id)
        except SecretUnavailable as missing:
            raise DeliveryFailed(str(missing), attempts=0, permanent=True) from None
        except TemplateOutputInvalid as invalid:
            raise DeliveryFailed(str(invalid), attempts=0, permanent=True) from None
        retrying = Retrying(
            retry=retry_if_exception_type(
                (_Retryable, httpx.TimeoutException, httpx.TransportError)
            ),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            with httpx.Client(
                timeout=self._timeout,
                transport=self._transport,
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
            ) as client:
                status, answer = retrying(self._post, client, url, body, headers, bot)
        except _Refused as refused:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise DeliveryFailed(str(refused), attempts=attempts, permanent=True) from None
        except (_Retryable, httpx.HTTPError) as failed:
            attempts = retrying.statistics.get("attempt_number", self._attempts)
            detail = str(failed) or type(failed).__name__
            raise DeliveryFailed(detail, attempts=attempts, permanent=False) from None
        attempts = retrying.statistics.get("attempt_number", 1)
        thread_ts = answer.get("ts") if bot and isinstance(answer, dict) else None
        return Sent(status=status, attempts=attempts, thread=thread_ts)

    def _wait(self, state: RetryCallState) -> float:
        """The receiver's Retry-After when it gave one (capped), else exponential backoff."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self._max_wait)
        backoff = wait_exponential_jitter(initial=1, max=min(30.0, self._max_wait))
        return float(backoff(state))

    def _post(
        self,
        client: httpx.Client,
        url: str,
        body: bytes,
        headers: dict[str, str],
        bot: bool,
    ) -> tuple[int, Any]:
        response = client.post(url, content=body, headers=headers)
        status = response.status_code
        detail = response.text[:300]
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), self._now())
            raise _Retryable(status, detail, wait)
        if status >= 500:
            raise _Retryable(status, detail)
        if not 200 <= status < 300:  # a redirect is refused too: a webhook URL does not move
            raise _Refused(status, detail)
        if not bot:
            return status, None
        try:
            answer = response.json()
        except json.JSONDecodeError:
            raise _Refused(status, f"chat.postMessage answered no JSON: {detail}") from None
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown"))
            if error == "ratelimited":
                wait = retry_after_seconds(response.headers.get("Retry-After"), self._now())
                raise _Retryable(429, error, wait)
            raise _Refused(status, f"chat.postMessage refused: {error}")
        return status, answer

    def _request(
        self, channel: Channel, message: Message, thread: str | None, delivery_id: str
    ) -> tuple[str, bytes, dict[str, str], bool]:
        """URL, body, headers, and whether it is Slack's Web API (answers with `ok`)."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if isinstance(channel, SlackChannel):
            payload = slack_blocks(message)
            if channel.bot_token_secret is not None:
                token = self._secret(channel.bot_token_secret)
                headers["Authorization"] = f"Bearer {token}"
                payload = {**payload, "channel": channel.channel}
                if thread:
                    payload["thread_ts"] = thread
                return f"{self._slack_api}chat.postMessage", _json(payload), headers, True
            url = self._secret(channel.webhook_url_secret or "")
            return url, _json(payload), headers, False
        if isinstance(channel, TeamsChannel):
            url = self._secret(channel.webhook_url_secret)
            return url, _json(teams_card(message)), headers, False
        return self._webhook(channel, message, delivery_id, headers)

    def _webhook(
        self,
        channel: WebhookChannel,
        message: Message,
        delivery_id: str,
        headers: dict[str, str],
    ) -> tuple[str, bytes, dict[str, str], bool]:
        body = webhook_body(message, channel.template)
        timestamp = int(self._now().timestamp())
        key = self._secret(channel.signing_secret).encode()
        headers.update(channel.headers)
        headers.update({name: self._secret(s) for name, s in channel.header_secrets.items()})
        headers[SIGNATURE_HEADER] = sign(body, key, timestamp)
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[EVENT_HEADER] = message_kind(message)
        headers[DELIVERY_HEADER] = delivery_id
        return self._secret(channel.url_secret), body, headers, False


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
