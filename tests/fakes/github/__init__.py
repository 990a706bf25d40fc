"""Local, stateful fake of the GitHub REST API for issues, comments, labels and issue search.

It exists so the issue workflow can be tested through the real githubkit client against the
behaviours that make "exactly one issue per failure" hard, and it is meant to be at least as
strict as GitHub: where GitHub's documentation and its observed behaviour differ, the fake takes
the stricter of the two, and each rule, in the module that enforces it, names the page it
follows.

- Search lags behind writes by ``search_lag`` seconds of the fake's clock (30 s by default) and
  matches words rather than exact strings; the repository's issue list sees a write at once.
- Writes can succeed although the client saw a timeout or a 5xx, and can become visible only
  after the client's retry has already looked (``TimeoutAfterSuccess``,
  ``ServerErrorAfterSuccess``, ``LandsLater``).
- Primary and secondary rate limits: secondary limits with or without ``retry-after``, and a
  token told to wait is refused again (and the request recorded in ``limits.violations``) until
  it has.
- Validation limits: titles over 256 characters, bodies and comments over 65,536, label names
  over 50 are refused with GitHub's ``422 Validation Failed`` body.
- Permissions: each token has a repository role (read, triage, write, maintain, admin) and a
  fine-grained ``issues`` permission (none, read, write); labels and assignees on a new issue are
  dropped silently without push access, and endpoints the token may not use answer 403.
- GitHub Apps: the App-level endpoints take only a valid JWT, installation tokens expire an
  hour after minting and see only their account's repositories (``apps``).
- Collaborators' roles (``GET .../collaborators/{username}/permission``: ``role_name``, the
  legacy ``permission`` and the collaborator; 404 for anyone else), and signed webhook
  deliveries of the ``issues`` and ``issue_comment`` events rendered from the fake's state
  (``GitHubFake.delivery``), including the close reasons a person chose.
- Assignees that GitHub drops silently (non-collaborators, and the Copilot coding agent when the
  token is an App installation token), and labels that appear on first use.

Payloads are schema-complete for githubkit's models (``.parsed_data`` validates).

The modules, each one concern: ``server`` (``GitHubFake``: the HTTP side and the order in which
a request meets the rest), ``state`` (what the fake holds), ``handlers`` (what each endpoint
does to it), ``payloads`` (the JSON it answers), ``search`` (the lagging, word-matching index),
``limits`` (primary and secondary rate limits), ``apps`` (GitHub Apps, their JWTs and
installation tokens), ``faults`` (what a test injects) and ``clock``.
This module exports the names tests and benchmarks use.
"""

from tests.fakes.github.apps import App
from tests.fakes.github.clock import FakeClock, SimulatedSeconds
from tests.fakes.github.faults import (
    Abuse,
    Fault,
    LandsLater,
    SecondaryRateLimit,
    ServerError,
    ServerErrorAfterSuccess,
    TimeoutAfterSuccess,
)
from tests.fakes.github.limits import Violation
from tests.fakes.github.server import GitHubFake, RecordedRequest
from tests.fakes.github.state import COPILOT_ASSIGNEE, ROLES

__all__ = [
    "COPILOT_ASSIGNEE",
    "ROLES",
    "Abuse",
    "App",
    "Fault",
    "FakeClock",
    "GitHubFake",
    "LandsLater",
    "RecordedRequest",
    "SecondaryRateLimit",
    "ServerError",
    "ServerErrorAfterSuccess",
    "SimulatedSeconds",
    "TimeoutAfterSuccess",
    "Violation",
]
