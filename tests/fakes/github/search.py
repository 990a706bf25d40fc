"""Issue search as GitHub answers it: from an index that trails writes by ``lag`` seconds, and
matching words rather than exact strings. Apart from the issue endpoints because search is
where "is there already an issue for this?" gets a stale or fuzzy answer."""

import re
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request

from tests.fakes.github.clock import FakeClock
from tests.fakes.github.payloads import Payloads, Result, invalid, paginate
from tests.fakes.github.state import Issue, Repository, Snapshot

_WORD = re.compile(r"[a-z0-9]+")
# One search term: optional "-", optional "qualifier:", then a quoted or bare value.
_SEARCH_TERM = re.compile(r'(-?)(?:([A-Za-z_-]+):)?(?:"([^"]*)"|(\S+))')


class SearchIndex:
    """Each issue's indexed versions, and ``GET /search/issues`` over them."""

    def __init__(self, clock: FakeClock, payloads: Payloads, lag: float) -> None:
        self.clock = clock
        self.lag = lag
        self._payloads = payloads

    def reindex(
        self, repository: Repository, issue: Issue, visible_from: float | None = None
    ) -> None:
        """Queue the issue's new state for the search index, ``lag`` seconds late.

        GitHub's search index trails writes by seconds to minutes while the repository's issue
        list does not: https://github.com/Tracer-Cloud/opensre/pull/5269 ("observed
        multi-second propagation lag"), https://github.com/guettli/agentloop/issues/204
        (minutes for a fresh label), https://github.com/mvanhorn/cli-printing-press/pull/2235
        ("tens of seconds (or longer under load)").
        """
        if visible_from is None:
            visible_from = self.clock.now() + self.lag
        document = self._payloads.issue(None, repository, issue)
        document["repository_full_name"] = repository.full_name
        issue.index.append(Snapshot(visible_from, document, [c.body for c in issue.comments]))

    def search(self, request: Request, repositories: dict[str, Repository]) -> Result:
        now = self.clock.now()
        query = request.args.get("q", "")
        matches = _compile_query(query, repositories)
        documents: list[Snapshot] = []
        for repository in repositories.values():
            for issue in repository.issues.values():
                visible = [s for s in issue.index if s.visible_from <= now]
                if visible and matches(visible[-1]):
                    documents.append(visible[-1])
        sort = request.args.get("sort", "")
        descending = request.args.get("order", "desc") == "desc"
        documents.sort(key=lambda s: _document_sort_key(s, sort), reverse=descending)
        items = []
        for snapshot in documents:
            item = {k: v for k, v in snapshot.issue.items() if k != "repository_full_name"}
            items.append({**item, "score": 1.0})
        status, page, headers = paginate(request, items)
        payload = {
            "total_count": len(items),
            "incomplete_results": False,
            "items": page,
            "search_type": "lexical",
        }
        return status, payload, headers


def _document_sort_key(snapshot: Snapshot, sort: str) -> tuple[Any, int]:
    issue = snapshot.issue
    if sort in ("created", "updated"):
        return issue[f"{sort}_at"], issue["number"]
    if sort == "comments":
        return issue["comments"], issue["number"]
    return 0, issue["number"]  # "best match": newest first among equal scores


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _contains_phrase(haystack: list[str], phrase: list[str]) -> bool:
    """GitHub search matches words, not characters: punctuation in a phrase is ignored."""
    n = len(phrase)
    return n == 0 or any(haystack[i : i + n] == phrase for i in range(len(haystack) - n + 1))


def _compile_query(query: str, repositories: dict[str, Repository]) -> Callable[[Snapshot], bool]:
    """The subset of GitHub's issue search syntax the workflow uses, matched word by word.

    Qualifiers: ``repo:``, ``is:issue|pr|open|closed``, ``type:``, ``state:``, ``label:``,
    ``in:title|body|comments``; anything else is text. A quoted phrase matches consecutive
    words, so ``"faultline:fingerprint=abc"`` also matches ``faultline fingerprint abc``.
    """
    tests: list[Callable[[Snapshot], bool]] = []
    texts: list[tuple[bool, list[str]]] = []
    scopes: set[str] = set()
    kind: str | None = None
    for negated, key, quoted, bare in _SEARCH_TERM.findall(query):
        value = quoted or bare
        qualifier = key.lower()
        test: Callable[[Snapshot], bool] | None = None
        if qualifier == "repo":
            if value.lower() not in repositories:
                raise invalid(
                    "Search",
                    "q",
                    message="The listed users and repositories cannot be searched either because"
                    " the resources do not exist or you do not have permission to view them.",
                )
            test = _field_test("repository_full_name", value)
        elif qualifier in ("is", "type") and value.lower() in ("issue", "pr", "pull-request"):
            kind = "issue" if value.lower() == "issue" else "pr"
        elif qualifier in ("is", "state") and value.lower() in ("open", "closed"):
            test = _field_test("state", value)
        elif qualifier == "label":
            test = _label_test(value)
        elif qualifier == "in":
            scopes.update(value.lower().split(","))
        else:
            texts.append((negated == "-", _words(f"{key}:{value}" if key else value)))
        if test is not None:
            tests.append(_negate(test) if negated else test)
    if kind is None:
        raise invalid("Search", "q", message="Query must include 'is:issue' or 'is:pull-request'")

    def text_of(snapshot: Snapshot) -> list[list[str]]:
        fields = scopes or {"title", "body", "comments"}
        parts = [snapshot.issue[f] or "" for f in ("title", "body") if f in fields]
        if "comments" in fields:
            parts += snapshot.comments
        return [_words(part) for part in parts]

    def matches(snapshot: Snapshot) -> bool:
        if kind != "issue" or not all(test(snapshot) for test in tests):
            return False
        documents = text_of(snapshot)
        return all(
            negated != any(_contains_phrase(words, phrase) for words in documents)
            for negated, phrase in texts
        )

    return matches


def _field_test(key: str, value: str) -> Callable[[Snapshot], bool]:
    return lambda snapshot: str(snapshot.issue[key]).lower() == value.lower()


def _label_test(value: str) -> Callable[[Snapshot], bool]:
    wanted = {name.lower() for name in value.split(",")}  # label:a,b means a OR b
    return lambda snapshot: bool(wanted & {x["name"].lower() for x in snapshot.issue["labels"]})


def _negate(test: Callable[[Snapshot], bool]) -> Callable[[Snapshot], bool]:
    return lambda snapshot: not test(snapshot)
