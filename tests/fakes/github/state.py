"""What the fake's GitHub holds: users and the tokens that act as them, repositories with their
issues, comments, labels and assignees. Plain records, so that the payloads, the search index
and the endpoint handlers all read the same state."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

COPILOT_ASSIGNEE = "copilot-swe-agent[bot]"
"""The login to send to assign the Copilot coding agent; GitHub reports it back as ``Copilot``."""

COPILOT_LOGINS = {COPILOT_ASSIGNEE, "copilot"}

# GitHub's legacy `permission` for each role (the permission endpoint returns both):
# https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user
LEGACY_PERMISSIONS = {
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}
# Repository roles, least to most access:
# https://docs.github.com/organizations/managing-access-to-your-organizations-repositories/repository-roles-for-an-organization
ROLES = ("read", "triage", "write", "maintain", "admin")
TOKEN_LEVELS = ("none", "read", "write")  # a fine-grained permission's levels
_DEFAULT_LABELS = (  # what GitHub puts in every new repository
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)


@dataclass(frozen=True)
class User:
    login: str
    id: int
    type: str = "User"
    html_url: str | None = None

    @property
    def node_id(self) -> str:
        return ("BOT_kgDO" if self.type == "Bot" else "U_kgDO") + f"{self.id:08d}"


COPILOT = User("Copilot", 198982749, "Bot", "https://github.com/apps/copilot-swe-agent")


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool = False


@dataclass
class Comment:
    id: int
    body: str
    user: User
    created_at: float
    updated_at: float


@dataclass
class Snapshot:
    """What the search index holds for an issue, searchable from clock time ``visible_from``."""

    visible_from: float
    issue: dict[str, Any]
    comments: list[str]


@dataclass
class TimelineEvent:
    """A timeline event that links an issue to a pull request: ``cross-referenced`` (a pull
    request's text names the issue; the event carries the pull request as its ``source``) or
    ``connected`` (linked by hand in the Development sidebar; the REST event does not say to
    which pull request)."""

    id: int
    event: str
    actor: User
    created_at: float
    source: tuple["Repository", "Issue"] | None = None


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: User
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    duplicate_of: int | None = None
    closed_at: float | None = None
    closed_by: User | None = None
    labels: list[Label] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    agent_assignment: dict[str, Any] | None = None
    index: list[Snapshot] = field(default_factory=list)
    pinned: bool = False
    pull_request: bool = False
    """A pull request: every pull request is an issue, numbered in the same sequence."""
    timeline: list[TimelineEvent] = field(default_factory=list)


@dataclass
class Repository:
    owner: str
    name: str
    id: int
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # keyed by lower-case name
    moved: dict[int, tuple["Repository", int]] = field(default_factory=dict)
    """Issues transferred away, by their old number: where each is now."""
    pulls: dict[int, Issue] = field(default_factory=dict)
    """Pull requests, apart from the issues (the issue endpoints of this fake serve issues)."""

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Access:
    """What a token may do: its user's repository role and its fine-grained ``issues`` level."""

    role: str = "write"
    issues: str = "write"
    app: bool = False  # an App installation token ("by integration") rather than a PAT
    expires_at: float | None = None  # a minted installation token's end, on the fake's clock
    owner: str | None = None  # the account a minted installation token is confined to
    installation: int | None = None  # a minted token's installation, whose limits it shares

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class State:
    """Every repository, collaborator and token, with the ids GitHub would give them."""

    def __init__(self) -> None:
        self.repositories: dict[str, Repository] = {}  # keyed by lower-case "owner/name"
        self.users: dict[str, User] = {}  # collaborators, keyed by lower-case login
        self.actors: dict[str, User] = {}  # who each token acts as
        self.access: dict[str, Access] = {}
        self.roles: dict[str, str] = {}  # repository role of each collaborator, by lower login
        self._next_id = 1_000_000

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_repository(self, owner: str, name: str) -> None:
        repository = Repository(owner, name, self.new_id())
        for label_name, color, description in _DEFAULT_LABELS:
            repository.labels[label_name] = Label(
                self.new_id(), label_name, color, description, default=True
            )
        self.repositories[f"{owner}/{name}".lower()] = repository

    def new_issue(
        self, repository: Repository, title: str, body: str | None, user: User, now: float
    ) -> Issue:
        number = _next_number(repository)
        issue = Issue(self.new_id(), number, title, body, user, now, now)
        repository.issues[number] = issue
        return issue

    def new_pull_request(
        self, repository: Repository, title: str, body: str | None, user: User, now: float
    ) -> Issue:
        """A pull request, numbered in the issues' sequence ("issue and pull request numbers do
        not overlap in a repository": https://docs.github.com/rest/using-the-rest-api/issue-event-types)."""
        number = _next_number(repository)
        pull = Issue(self.new_id(), number, title, body, user, now, now, pull_request=True)
        repository.pulls[number] = pull
        return pull

    def transfer(self, repository: Repository, number: int, to: Repository) -> Issue:
        """Move an issue to another repository, where it gets the next number; its old address
        redirects there (https://docs.github.com/issues/tracking-your-work-with-issues/
        administering-issues/transferring-an-issue-to-another-repository)."""
        issue = repository.issues.pop(number)
        issue.number = _next_number(to)
        to.issues[issue.number] = issue
        repository.moved[number] = (to, issue.number)
        return issue

    def labels_for(self, repository: Repository, names: Iterable[str]) -> list[Label]:
        """Look labels up by name, creating missing ones (grey, no description) like GitHub."""
        labels: list[Label] = []
        for name in names:
            label = repository.labels.get(name.lower())
            if label is None:
                label = Label(self.new_id(), name, "ededed", None)
                repository.labels[name.lower()] = label
            if label not in labels:
                labels.append(label)
        return labels


def _next_number(repository: Repository) -> int:
    """The next issue or pull request number: never reused, transferred issues included."""
    return 1 + max([*repository.issues, *repository.moved, *repository.pulls], default=0)
