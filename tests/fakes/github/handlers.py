"""What each issue, comment, label and assignee endpoint does to the state, with GitHub's
validation and permission rules and the page each rule follows. The server decides which
handler a request reaches; these decide what it changes and what it answers."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request

from tests.fakes.github.clock import FakeClock
from tests.fakes.github.payloads import (
    DOCS,
    ApiError,
    Payloads,
    Result,
    invalid,
    not_found,
    paginate,
)
from tests.fakes.github.search import SearchIndex
from tests.fakes.github.state import (
    COPILOT,
    COPILOT_LOGINS,
    LEGACY_PERMISSIONS,
    Access,
    Comment,
    Issue,
    Label,
    Repository,
    State,
    User,
)

# Validation limits. "title is too long (maximum is 256 characters)" and "body is too long
# (maximum is 65536 characters)": https://github.com/dead-claudia/github-limits (README, "Issue
# title", "Issue description"), with the error bodies GitHub sent in
# https://github.com/DavyJonesLocker/party_foul/pull/122 (title) and
# https://github.com/oke-py/npm-audit-action/issues/170 (body). GitHub was measured accepting
# more (1,024-byte titles, 262,144-byte comments: https://github.com/dead-claudia/github-limits/pull/7,
# https://github.com/objectstack-ai/objectstack/issues/18843) while its message names the
# character limits; a UTF-8 character is at most 4 bytes, so refusing past the character limits
# is never more lenient than the byte limits GitHub enforces.
TITLE_LIMIT = 256
BODY_LIMIT = 65_536
# "name is too long (maximum is 50 characters)": https://github.com/github/docs/issues/32156
LABEL_NAME_LIMIT = 50

_MUST_HAVE_ADMIN = "Must have admin rights to Repository."
_STATE_REASONS = {"completed", "not_planned", "duplicate", "reopened"}
_AGENT_ASSIGNMENT_KEYS = {
    "target_repo",
    "base_branch",
    "custom_instructions",
    "custom_agent",
    "model",
}


@dataclass
class Call:
    """One authenticated request being handled."""

    request: Request
    token: str
    actor: User
    api_version: str
    access: Access
    body: Any = None


def _too_long(resource: str, field_name: str, limit: int, code: str = "custom") -> ApiError:
    """GitHub's 422 for an over-long field (sources at ``TITLE_LIMIT``)."""
    what = "Body" if resource == "IssueComment" else field_name
    return invalid(
        resource, field_name, code, message=f"{what} is too long (maximum is {limit} characters)"
    )


def _check_title(title: str) -> None:
    if len(title) > TITLE_LIMIT:
        raise _too_long("Issue", "title", TITLE_LIMIT)


def _check_body(body: str | None) -> None:
    if body is not None and len(body) > BODY_LIMIT:
        raise _too_long("Issue", "body", BODY_LIMIT)


def _check_label_names(names: Iterable[str]) -> None:
    """A label over 50 characters on an issue: ``{"value", "resource": "Label", "field": "name",
    "code": "invalid"}`` (https://github.com/gitalk/gitalk/issues/101 on create,
    https://github.com/semantic-release/github/issues/518 on adding labels)."""
    for name in names:
        if len(name) > LABEL_NAME_LIMIT:
            raise ApiError(
                422,
                "Validation Failed",
                f"{DOCS}/issues/issues#create-an-issue",
                errors=[{"value": name, "resource": "Label", "field": "name", "code": "invalid"}],
            )


def _cannot_create_labels() -> ApiError:
    """Applying a label that does not exist yet without the right to create labels.

    https://github.com/Songmu/tagpr/pull/194, https://github.com/wolfi-dev/os/pull/49539; on
    issue create without push access: https://github.com/orgs/community/discussions/197408.
    """
    return ApiError(
        403,
        "You do not have permission to create labels on this repository.",
        f"{DOCS}/issues/labels#add-labels-to-an-issue",
        errors=[{"resource": "Repository", "field": "label", "code": "unauthorized"}],
    )


def _object_body(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise ApiError(400, "Problems parsing JSON")
    return call.body


def _optional_string(body: dict[str, Any], key: str, resource: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(resource, key)
    return value


def _label_names(raw: Any) -> list[str]:
    """Labels arrive as names or ``{"name": ...}`` objects."""
    if not isinstance(raw, list):
        raise invalid("Label", "labels")
    names = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise invalid("Label", "name")
        names.append(name)
    return names


def _logins(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise invalid("Issue", "assignees")
    return [item for item in raw if isinstance(item, str)]


def _since(raw: str | None, resource: str) -> float:
    """``since``: "Only show results that were last updated after the given time. This is a
    timestamp in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ"
    (https://docs.github.com/rest/issues/issues#list-repository-issues); GitHub's timestamps
    are whole seconds, so one updated in that very second is shown. Not a timestamp: 422."""
    if raw is None:
        return float("-inf")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(resource, "since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(int(moment.timestamp()))


def _sort_key(issue: Issue, sort: str) -> tuple[float, int]:
    if sort == "updated":
        return issue.updated_at, issue.number
    if sort == "comments":
        return len(issue.comments), issue.number
    return issue.created_at, issue.number


def find_repository(state: State, owner: str, name: str) -> Repository:
    repository = state.repositories.get(f"{owner}/{name}".lower())
    if repository is None:
        raise not_found()
    return repository


def find_issue(repository: Repository, number: int) -> Issue:
    issue = repository.issues.get(number)
    if issue is None:
        raise not_found()
    return issue


class Handlers:
    """The endpoints that read and change issues, comments, labels and assignees, and the two
    that say who a token is. Every change is queued for the search index.

    ``user_token`` is the one token that may assign the Copilot coding agent (a user's
    fine-grained PAT); for any other token GitHub drops it silently."""

    def __init__(
        self,
        state: State,
        search: SearchIndex,
        payloads: Payloads,
        clock: FakeClock,
        user_token: str,
    ) -> None:
        self.clock = clock
        self._state = state
        self._search = search
        self._payloads = payloads
        self._user_token = user_token

    # -- issues ---------------------------------------------------------------------------

    def create_issue(self, call: Call, repository: Repository) -> Result:
        """Any user with pull access may create an issue; without push access its labels and
        assignees are "silently dropped" (https://docs.github.com/rest/issues/issues#create-an-issue),
        except that a label which does not exist yet is refused with 403
        (https://github.com/orgs/community/discussions/197408)."""
        body = _object_body(call)
        title = body.get("title")
        if isinstance(title, int) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise invalid("Issue", "title", "missing_field")
        _check_title(title)
        text = _optional_string(body, "body", "Issue")
        _check_body(text)
        names = _label_names(body.get("labels", []))
        _check_label_names(names)
        logins = _logins(body.get("assignees", []))
        if isinstance(body.get("assignee"), str):
            logins.append(body["assignee"])
        push = call.access.at_least("write")
        if not push:
            if any(name.lower() not in repository.labels for name in names):
                raise _cannot_create_labels()
            names, logins = [], []
        issue = self._state.new_issue(repository, title, text, call.actor, self.clock.now())
        issue.labels = self._state.labels_for(repository, names)
        self._assign(call, issue, logins, body.get("agent_assignment") if push else None)
        self._search.reindex(repository, issue)
        payload = self._payloads.issue(call.api_version, repository, issue)
        return 201, payload, {"Location": payload["url"]}

    def update_issue(self, call: Call, repository: Repository, issue: Issue) -> Result:
        """ "Issue owners and users with push access or Triage role can edit an issue"; others
        get 403 "Must have admin rights to Repository."
        (https://github.com/rmetzger/flink-community-tools/issues/12). Label and assignee
        changes without push access "are silently dropped"
        (https://docs.github.com/rest/issues/issues#update-an-issue)."""
        body = _object_body(call)
        if not call.access.at_least("triage") and issue.user != call.actor:
            raise ApiError(403, _MUST_HAVE_ADMIN, f"{DOCS}/issues/issues#update-an-issue")
        if "title" in body:
            if not isinstance(body["title"], str | int) or not str(body["title"]).strip():
                raise invalid("Issue", "title")
            _check_title(str(body["title"]))
        if "body" in body:
            _check_body(_optional_string(body, "body", "Issue"))
        if "labels" in body:
            _check_label_names(_label_names(body["labels"]))
        push = call.access.at_least("write")
        if not push:
            body = {k: v for k, v in body.items() if k not in ("labels", "assignees", "assignee")}
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = _optional_string(body, "body", "Issue")
        reason = body.get("state_reason")
        if reason is not None and reason not in _STATE_REASONS:
            raise invalid("Issue", "state_reason")
        if "duplicate_issue_id" in body:
            # "The ID of the issue that this issue is a duplicate of. Only used when state_reason
            # is duplicate." (https://docs.github.com/rest/issues/issues#update-an-issue)
            original = next(
                (i for i in repository.issues.values() if i.id == body["duplicate_issue_id"]),
                None,
            )
            if original is None or original is issue or reason != "duplicate":
                raise invalid("Issue", "duplicate_issue_id")
            issue.duplicate_of = original.number
        if "state" in body:
            self._set_state(call, issue, body["state"], reason)
        elif reason is not None:
            issue.state_reason = reason
        if "labels" in body:
            issue.labels = self._state.labels_for(repository, _label_names(body["labels"]))
        if "assignees" in body:
            issue.assignees = []
            self._assign(call, issue, _logins(body["assignees"]), body.get("agent_assignment"))
        issue.updated_at = self.clock.now()
        self._search.reindex(repository, issue)
        return 200, self._payloads.issue(call.api_version, repository, issue), {}

    def _set_state(self, call: Call, issue: Issue, state: Any, reason: str | None) -> None:
        if state not in ("open", "closed"):
            raise invalid("Issue", "state")
        if state == "closed":
            if issue.state != "closed":
                issue.closed_at, issue.closed_by = self.clock.now(), call.actor
            issue.state_reason = reason or "completed"
        elif issue.state == "closed":
            issue.closed_at, issue.closed_by = None, None
            issue.state_reason = "reopened"
        issue.state = state

    def list_issues(self, call: Call, repository: Repository) -> Result:
        args = call.request.args
        state = args.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise invalid("Issue", "state")
        wanted = {name.strip().lower() for name in args.get("labels", "").split(",") if name}
        sort = args.get("sort", "created")
        descending = args.get("direction", "desc") == "desc"
        since = _since(args.get("since"), "Issue")
        issues = [
            issue
            for issue in repository.issues.values()
            if state in ("all", issue.state)
            and wanted <= {label.name.lower() for label in issue.labels}
            and issue.updated_at >= since
        ]
        issues.sort(key=lambda i: _sort_key(i, sort), reverse=descending)
        return paginate(
            call.request, [self._payloads.issue(call.api_version, repository, i) for i in issues]
        )

    def get_issue(self, call: Call, repository: Repository, number: int) -> Result:
        """A transferred issue's old address answers 301 with its new one (`Location`), as
        GitHub moves renamed and transferred resources
        (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api)."""
        if number in repository.moved:
            to, moved = repository.moved[number]
            location = f"{self._payloads.api()}/repos/{to.full_name}/issues/{moved}"
            payload = {
                "message": "Moved Permanently",
                "url": location,
                "documentation_url": f"{DOCS}/using-the-rest-api/troubleshooting-the-rest-api",
            }
            return 301, payload, {"Location": location}
        issue = find_issue(repository, number)
        return 200, self._payloads.issue(call.api_version, repository, issue), {}

    # -- comments, labels, assignees ------------------------------------------------------

    def list_comments(self, call: Call, repository: Repository, issue: Issue) -> Result:
        since = _since(call.request.args.get("since"), "IssueComment")
        comments = [
            self._payloads.comment(repository, issue, c)
            for c in issue.comments
            if c.updated_at >= since
        ]
        return paginate(call.request, comments)

    def list_timeline(self, call: Call, repository: Repository, issue: Issue) -> Result:
        """``GET /repos/{owner}/{repo}/issues/{issue_number}/timeline``: the issue's comments
        and linking events, oldest first, paginated (``per_page`` at most 100, default 30;
        https://docs.github.com/rest/issues/timeline). A token needs ``issues: read`` (or
        ``pull_requests: read``, which this fake's tokens do not model)."""
        entries: list[tuple[float, int, dict[str, Any]]] = [
            (c.created_at, c.id, self._payloads.timeline_comment(repository, issue, c))
            for c in issue.comments
        ]
        entries += [
            (
                e.created_at,
                e.id,
                self._payloads.timeline_event(call.api_version, repository, issue, e),
            )
            for e in issue.timeline
        ]
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        return paginate(call.request, [payload for _, _, payload in entries])

    def create_comment(self, call: Call, repository: Repository, issue: Issue) -> Result:
        """Over 65,536 characters: ``{"resource": "IssueComment", "code": "unprocessable",
        "field": "data", "message": "Body is too long (maximum is 65536 characters)"}``, as GitHub
        answered in https://github.com/objectstack-ai/objectstack/issues/18843."""
        body = _object_body(call)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise invalid("IssueComment", "body", "missing_field")
        if len(text) > BODY_LIMIT:
            raise _too_long("IssueComment", "data", BODY_LIMIT, "unprocessable")
        now = self.clock.now()
        comment = Comment(self._state.new_id(), text, call.actor, now, now)
        issue.comments.append(comment)
        issue.updated_at = now
        self._search.reindex(repository, issue)
        payload = self._payloads.comment(repository, issue, comment)
        return 201, payload, {"Location": payload["url"]}

    def issue_labels(self, call: Call, repository: Repository, issue: Issue) -> Result:
        """Adding or setting labels needs the triage role
        (https://github.blog/changelog/2020-04-10-expanding-rest-api-support-for-triage-and-maintain-roles/);
        below it GitHub answers 403 "Must have admin rights to Repository."
        (https://github.com/amihaiemil/docker-java-api/issues/83). A label that does not exist
        yet needs the right to create labels, i.e. write (``_cannot_create_labels``)."""
        method = call.request.method
        if method != "GET":
            if not call.access.at_least("triage"):
                raise ApiError(
                    403, _MUST_HAVE_ADMIN, f"{DOCS}/issues/labels#add-labels-to-an-issue"
                )
            body = call.body
            names = _label_names(body.get("labels", []) if isinstance(body, dict) else body)
            _check_label_names(names)
            if not call.access.at_least("write") and any(
                name.lower() not in repository.labels for name in names
            ):
                raise _cannot_create_labels()
            added = self._state.labels_for(repository, names)
            if method == "PUT":
                issue.labels = added
            else:
                issue.labels += [x for x in added if x not in issue.labels]
            issue.updated_at = self.clock.now()
            self._search.reindex(repository, issue)
        return 200, [self._payloads.label(repository, x) for x in issue.labels], {}

    def remove_label(self, call: Call, repository: Repository, issue: Issue, name: str) -> Result:
        if not call.access.at_least("triage"):
            raise ApiError(
                403, _MUST_HAVE_ADMIN, f"{DOCS}/issues/labels#remove-a-label-from-an-issue"
            )
        remaining = [x for x in issue.labels if x.name.lower() != name.lower()]
        if len(remaining) == len(issue.labels):
            raise ApiError(404, "Label does not exist")
        issue.labels = remaining
        issue.updated_at = self.clock.now()
        self._search.reindex(repository, issue)
        return 200, [self._payloads.label(repository, x) for x in issue.labels], {}

    def change_assignees(self, call: Call, repository: Repository, issue: Issue) -> Result:
        """ "Only users with push access can add assignees to an issue. Assignees are silently
        ignored otherwise." (https://docs.github.com/rest/issues/assignees#add-assignees-to-an-issue)"""
        body = _object_body(call)
        logins = _logins(body.get("assignees", []))
        if call.request.method == "POST":
            if call.access.at_least("write"):
                self._assign(call, issue, logins, body.get("agent_assignment"))
            status = 201
        else:
            removed = {login.lower() for login in logins}
            if removed & COPILOT_LOGINS:
                removed.add(COPILOT.login.lower())
            issue.assignees = [u for u in issue.assignees if u.login.lower() not in removed]
            status = 200
        issue.updated_at = self.clock.now()
        self._search.reindex(repository, issue)
        return status, self._payloads.issue(call.api_version, repository, issue), {}

    def _assign(self, call: Call, issue: Issue, logins: list[str], agent_assignment: Any) -> None:
        """Add assignees as GitHub does: unknown logins, and Copilot for non-user tokens, vanish."""
        if agent_assignment is not None and not isinstance(agent_assignment, dict):
            raise invalid("Issue", "agent_assignment")
        for login in logins:
            if login.lower() in COPILOT_LOGINS:
                user = COPILOT if call.token == self._user_token else None
            else:
                user = self._state.users.get(login.lower())
            if user is None or user in issue.assignees:
                continue
            issue.assignees.append(user)
            if user is COPILOT:
                issue.agent_assignment = {
                    k: v for k, v in (agent_assignment or {}).items() if k in _AGENT_ASSIGNMENT_KEYS
                }

    def list_labels(self, call: Call, repository: Repository) -> Result:
        labels = sorted(repository.labels.values(), key=lambda label: label.name.lower())
        return paginate(call.request, [self._payloads.label(repository, x) for x in labels])

    def get_label(self, repository: Repository, name: str) -> Result:
        label = repository.labels.get(name.lower())
        if label is None:
            raise not_found()
        return 200, self._payloads.label(repository, label), {}

    def create_label(self, call: Call, repository: Repository) -> Result:
        """Creating a label needs write access; without it GitHub answers 404
        (https://github.com/yegor256/0pdd/issues/152). Names over 50 characters: 422 with
        "name is too long (maximum is 50 characters)" (https://github.com/github/docs/issues/32156)."""
        if not call.access.at_least("write"):
            raise ApiError(404, "Not Found", f"{DOCS}/issues/labels#create-a-label")
        body = _object_body(call)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("Label", "name", "missing_field")
        if len(name) > LABEL_NAME_LIMIT:
            raise _too_long("Label", "name", LABEL_NAME_LIMIT)
        if name.lower() in repository.labels:
            raise invalid("Label", "name", "already_exists")
        color = str(body.get("color") or "ededed").removeprefix("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise invalid("Label", "color")
        label = Label(self._state.new_id(), name, color.lower(), body.get("description"))
        repository.labels[name.lower()] = label
        payload = self._payloads.label(repository, label)
        return 201, payload, {"Location": payload["url"]}

    # -- who the token is -----------------------------------------------------------------

    def collaborator_permission(self, repository: Repository, username: str) -> Result:
        """`GET /repos/{owner}/{repo}/collaborators/{username}/permission`: the person's
        ``role_name`` and legacy ``permission``, with the collaborator; 404 for anyone who is
        not a collaborator of the repository."""
        login = username.lower()
        user = self._state.users.get(login) or next(
            (u for u in self._state.actors.values() if u.login.lower() == login), None
        )
        role = self._state.roles.get(login)
        if role is None and user is not None and user.login.lower() == self._main_login():
            role = self._state.access[self._user_token].role
        if user is None or role is None:
            raise not_found()
        permission = LEGACY_PERMISSIONS.get(role, "read")
        payload = {
            "permission": permission,
            "role_name": role,
            "user": self._payloads.collaborator(user, role),
        }
        return 200, payload, {}

    def _main_login(self) -> str:
        return self._state.actors[self._user_token].login.lower()

    def authenticated_user(self, call: Call) -> Result:
        """`GET /user` answers a personal access token; an App installation token is refused
        it (https://github.com/actions/create-github-app-token/issues/258)."""
        if call.access.app:
            raise ApiError(
                403,
                "Resource not accessible by integration",
                "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )
        return 200, self._payloads.user(call.actor), {}

    def graphql_viewer(self, call: Call) -> Result:
        """GraphQL answers `{ viewer { login } }` for every kind of token, and the `pinIssue`
        mutation; nothing else is served, and GraphQL reports that as an error in a 200
        answer."""
        query = call.body.get("query") if isinstance(call.body, dict) else None
        if isinstance(query, str) and "pinIssue" in query:
            return self._pin_issue(call)
        if not isinstance(query, str) or re.sub(r"\s+", "", query) not in (
            "{viewer{login}}",
            "query{viewer{login}}",
        ):
            message = "This fake serves only `{ viewer { login } }`"
            return 200, {"errors": [{"type": "UNSUPPORTED", "message": message}]}, {}
        return 200, {"data": {"viewer": {"login": call.actor.login}}}, {}

    def _pin_issue(self, call: Call) -> Result:
        """`pinIssue(input: {issueId})` by the issue's node id
        (https://docs.github.com/graphql/reference/mutations#pinissue): a repository pins at
        most three issues (https://docs.github.com/issues/tracking-your-work-with-issues/
        administering-issues/pinning-an-issue-to-your-repository), pinning needs write access,
        and each refusal is an error in a 200 answer, as GraphQL reports them."""
        variables = call.body.get("variables") or {}
        node = variables.get("id") if isinstance(variables, dict) else None
        found = next(
            (
                (repository, issue)
                for repository in self._state.repositories.values()
                for issue in repository.issues.values()
                if f"I_kwDO{issue.id:08d}" == node
            ),
            None,
        )
        if found is None:
            message = f"Could not resolve to a node with the global id of '{node}'"
            return 200, {"errors": [{"type": "NOT_FOUND", "message": message}]}, {}
        repository, issue = found
        if not call.access.at_least("write"):
            message = f"{call.actor.login} does not have permission to pin issues"
            return 200, {"errors": [{"type": "FORBIDDEN", "message": message}]}, {}
        pinned = sum(i.pinned for i in repository.issues.values())
        if not issue.pinned and pinned >= 3:
            message = "Repository already has 3 pinned issues"
            return 200, {"errors": [{"type": "UNPROCESSABLE", "message": message}]}, {}
        issue.pinned = True
        return 200, {"data": {"pinIssue": {"issue": {"isPinned": True}}}}, {}
