"""`GitHubIssues` as a GitHub App, through the real githubkit client against the GitHub fake, with
the private key from the Key Vault fake through the real `SecretClient`.

The fake checks the App's JWT as GitHub does (signature, issuer, `iat`, `exp`), mints tokens that
expire an hour later on its clock, and confines each installation's token to its owner. The
clock stands still unless a test advances it; the App measures expiry on the same clock, except
where a test gives it another to show what a 401 does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from adapters.github import GitHubIssues, GitHubPacer
from adapters.github_app import GitHubApp
from adapters.secrets import key_vault_secret
from detection.markers import marker
from pipeline.ports import COPILOT_LOGIN, TrackerRefused
from tests.fakes.github import App, FakeClock, GitHubFake
from tests.fakes.github.apps import new_key, pem
from tests.fakes.key_vault import KeyVaultFake

pytestmark = pytest.mark.integration

OWNER, REPO, OTHER = "acme", "shop", "globex"
REPOSITORY = f"{OWNER}/{REPO}"
FINGERPRINT = "abc123def4567890"
BODY = f"{marker(FINGERPRINT)}\nCheckout fails with HTTP 500.\n"
TOKENS = "/app/installations/*/access_tokens"


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake(
        app_login="faultline[bot]", clock=FakeClock(running=False), https=True
    ) as github:
        github.add_repository(OWNER, REPO)
        github.add_repository(OTHER, REPO)
        yield github


@pytest.fixture
def app(fake: GitHubFake) -> App:
    registered = fake.register_app()
    fake.install_app(registered, OWNER)
    return registered


def github_app(fake: GitHubFake, app: App, key: str | None = None, **options: Any) -> GitHubApp:
    private_key = key or app.private_key
    options.setdefault("now", fake.clock.now)
    return GitHubApp(
        str(app.id),
        lambda refresh: private_key,
        fake.base_url,
        timeout=5,
        ssl_verify=fake.client_ssl(),
        **options,
    )


def issues_as(app: GitHubApp | Any, fake: GitHubFake, **options: Any) -> GitHubIssues:
    pacer = GitHubPacer(clock=fake.clock.now, write_spacing=timedelta(0))
    return GitHubIssues(
        app, fake.base_url, timeout=5, pacer=pacer, ssl_verify=fake.client_ssl(), **options
    )


def ask(fake: GitHubFake, path: str, authorization: str) -> httpx.Response:
    """A bare GET, for what the adapter never sends."""
    headers = {"Authorization": authorization}
    return httpx.get(f"{fake.base_url}{path}", headers=headers, verify=fake.client_ssl())


def statuses(fake: GitHubFake, method: str = "*", path: str = "*") -> list[int]:
    return [r.status for r in fake.calls(method, path)]


def test_an_issue_is_created_by_the_apps_bot_with_a_discovered_installation(
    fake: GitHubFake, app: App
) -> None:
    issues = issues_as(github_app(fake, app), fake)
    created = issues.create(REPOSITORY, "Checkout fails", BODY, ["faultline"])
    assert (created.author, created.labels) == ("faultline[bot]", ("faultline",))
    asked = [(r.method, r.path, r.status) for r in fake.requests]
    installation = fake.apps.apps[0].installations[OWNER]
    assert asked == [
        ("GET", f"/repos/{REPOSITORY}/installation", 200),
        ("POST", f"/app/installations/{installation}/access_tokens", 201),
        ("POST", f"/repos/{REPOSITORY}/issues", 201),
    ]
    claims = jwt.decode(fake.requests[0].token or "", app.public_key, algorithms=["RS256"])
    now = int(fake.clock.now())
    assert (claims["iss"], claims["iat"], claims["exp"]) == (str(app.id), now - 60, now + 540)
    assert fake.requests[2].token is not None and fake.requests[2].token.startswith("ghs_")


def test_after_lost_state_the_bots_issue_is_found_and_nobody_elses_is_adopted(
    fake: GitHubFake, app: App
) -> None:
    """The trusted author is the App's bot, from `GET /app`; `GET /user`, which refuses an
    installation token, is never asked."""
    fake.seed_issue(OWNER, REPO, "Copied marker", BODY, labels=["faultline"])
    first = issues_as(github_app(fake, app), fake)
    made = first.create(REPOSITORY, "Checkout fails", BODY, ["faultline"])
    fake.clock.advance(3600)  # search has caught up; state is gone, so is the process's cache
    again = issues_as(github_app(fake, app), fake)
    found = again.find_by_marker(REPOSITORY, FINGERPRINT, "faultline", since=None)
    assert found is not None and (found.number, found.author) == (made.number, "faultline[bot]")
    assert again.login() == "faultline[bot]"
    assert statuses(fake, "GET", "/app") == [200]
    assert fake.calls(path="/user") == []


def test_comments_are_filtered_by_the_bot_author(fake: GitHubFake, app: App) -> None:
    issues = issues_as(github_app(fake, app), fake)
    number = issues.create(REPOSITORY, "Checkout fails", BODY, []).number
    issues.comment(REPOSITORY, number, "<!-- faultline:update --> seen 3 times")
    impostor = issues_as(lambda refresh: fake.user_token, fake)
    impostor.comment(REPOSITORY, number, "<!-- faultline:update --> copied")
    assert issues.comment_bodies(REPOSITORY, number) == ["<!-- faultline:update --> seen 3 times"]


def test_a_token_is_replaced_five_minutes_before_it_expires(fake: GitHubFake, app: App) -> None:
    issues = issues_as(github_app(fake, app), fake)
    issues.get(REPOSITORY, issues.create(REPOSITORY, "Checkout fails", BODY, []).number)
    fake.clock.advance(54 * 60)  # six minutes left: still used
    issues.get(REPOSITORY, 1)
    fake.clock.advance(2 * 60)  # four minutes left: replaced before use
    issues.get(REPOSITORY, 1)
    assert statuses(fake, "POST", TOKENS) == [201, 201]
    assert 401 not in statuses(fake)
    used = [r.token for r in fake.calls("GET", f"/repos/{REPOSITORY}/issues/1")]
    assert used[0] == used[1] != used[2]


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_a_refused_token_is_replaced_once_and_the_request_sent_again(
    fake: GitHubFake, app: App, how: str
) -> None:
    """A token GitHub no longer takes, although the App thought it good (its clock is behind,
    or the token was revoked), answers 401: a new one is minted and the request repeated."""
    stopped = FakeClock(fake.clock.now(), running=False)
    issues = issues_as(github_app(fake, app, now=stopped.now), fake)
    number = issues.create(REPOSITORY, "Checkout fails", BODY, []).number
    if how == "expired":
        fake.clock.advance(3600)  # the fake's clock only: the token lapses under the App's eyes
        stopped.advance(3200)  # it thinks 6 minutes are left; its JWT is still good
    else:
        fake.revoke(fake.calls("POST", f"/repos/{REPOSITORY}/issues")[0].token or "")
    assert issues.get(REPOSITORY, number).number == number
    assert statuses(fake, "GET", f"/repos/{REPOSITORY}/issues/{number}") == [401, 200]
    assert statuses(fake, "POST", TOKENS) == [201, 201]


def test_a_token_refused_in_several_activities_is_replaced_once(fake: GitHubFake, app: App) -> None:
    tokens = github_app(fake, app)
    old = tokens.token(REPOSITORY)
    new = tokens.token(REPOSITORY, refused=old)
    assert tokens.token(REPOSITORY, refused=old) == new != old
    assert statuses(fake, "POST", TOKENS) == [201, 201]


def test_a_new_token_of_the_same_installation_continues_its_rate_limit(
    fake: GitHubFake, app: App
) -> None:
    tokens = github_app(fake, app)
    issues = issues_as(tokens, fake)
    issues.create(REPOSITORY, "Checkout fails", BODY, [])
    fake.revoke(tokens.token(REPOSITORY))
    issues.get(REPOSITORY, 1)
    [core] = issues.budget()
    assert core.used == 2  # the create, then the get with the new token; the 401 is not counted


def test_a_wrong_private_key_is_refused_with_githubs_reason(fake: GitHubFake, app: App) -> None:
    issues = issues_as(github_app(fake, app, key=pem(new_key())), fake)
    with pytest.raises(TrackerRefused) as refused:
        issues.create(REPOSITORY, "Checkout fails", BODY, [])
    assert refused.value.status == 401
    assert "A JSON web token could not be decoded" in refused.value.reason
    assert fake.calls("POST", f"/repos/{REPOSITORY}/issues") == []


def test_a_secret_that_is_no_key_is_refused_without_asking_github(
    fake: GitHubFake, app: App
) -> None:
    reads = []

    def key(refresh: bool) -> str:
        reads.append(refresh)
        return "ghp_not-a-private-key"

    tokens = GitHubApp(str(app.id), key, fake.base_url, ssl_verify=fake.client_ssl())
    with pytest.raises(TrackerRefused) as refused:
        issues_as(tokens, fake).create(REPOSITORY, "Checkout fails", BODY, [])
    assert reads == [False, True]  # read again once, in case it was corrected meanwhile
    assert (refused.value.status, refused.value.kind) == (401, "credentials")
    assert "private key cannot sign its JWT" in refused.value.reason
    assert "not-a-private-key" not in str(refused.value)
    assert fake.requests == []


def test_a_rotated_key_is_read_again_from_key_vault_when_the_jwt_is_refused(
    fake: GitHubFake, app: App
) -> None:
    with KeyVaultFake() as vault:
        vault.set_secret("github-app-key", pem(new_key()))  # the key before rotation
        key = key_vault_secret(
            vault.vault_url,
            "github-app-key",
            vault.credential,
            connection_verify=vault.ca_path,
            verify_challenge_resource=False,
        )
        assert key().startswith("-----BEGIN RSA PRIVATE KEY-----")
        vault.set_secret("github-app-key", app.private_key)
        tokens = GitHubApp(
            str(app.id),
            key,
            fake.base_url,
            timeout=5,
            now=fake.clock.now,
            ssl_verify=fake.client_ssl(),
        )
        created = issues_as(tokens, fake).create(REPOSITORY, "Checkout fails", BODY, [])
        assert created.author == "faultline[bot]"
        assert statuses(fake, "GET", f"/repos/{REPOSITORY}/installation") == [401, 200]
        assert vault.reads("github-app-key") == 2


def test_an_owner_without_the_app_is_refused_naming_the_setting(fake: GitHubFake, app: App) -> None:
    issues = issues_as(github_app(fake, app), fake)
    with pytest.raises(TrackerRefused) as refused:
        issues.create(f"{OTHER}/{REPO}", "Checkout fails", BODY, [])
    assert refused.value.status == 404
    assert "not installed on globex" in refused.value.reason
    assert "FAULTLINE_GITHUB_APP_INSTALLATIONS" in refused.value.reason


def test_one_installation_per_owner_each_with_its_own_token(fake: GitHubFake, app: App) -> None:
    """Configured installations are not looked up; each owner's token sees only its repos."""
    other = fake.install_app(app, OTHER)
    mine = fake.apps.apps[0].installations[OWNER]
    tokens = github_app(fake, app, installations={OWNER: mine, OTHER.upper(): other})
    issues = issues_as(tokens, fake)
    issues.create(REPOSITORY, "Checkout fails", BODY, [])
    issues.create(f"{OTHER}/{REPO}", "Checkout fails", BODY, [])
    issues.get(REPOSITORY, 1)
    assert fake.calls(path="/repos/*/installation") == []
    assert [r.path for r in fake.calls("POST", TOKENS)] == [
        f"/app/installations/{mine}/access_tokens",
        f"/app/installations/{other}/access_tokens",
    ]
    acme_token = tokens.token(REPOSITORY)
    answer = ask(fake, f"repos/{OTHER}/{REPO}/issues/1", f"token {acme_token}")
    assert answer.status_code == 404


def test_concurrent_activities_share_one_minted_token(fake: GitHubFake, app: App) -> None:
    tokens = github_app(fake, app)
    start = threading.Barrier(8)
    got: list[str] = []

    def mint() -> None:
        start.wait()
        got.append(tokens.token(REPOSITORY))

    threads = [threading.Thread(target=mint) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 1 and len(got) == 8
    assert statuses(fake, "POST", TOKENS) == [201]


def test_without_a_user_token_copilot_is_refused_before_asking_github(
    fake: GitHubFake, app: App
) -> None:
    issues = issues_as(github_app(fake, app), fake)
    number = issues.create(REPOSITORY, "Checkout fails", BODY, []).number
    with pytest.raises(TrackerRefused) as refused:
        issues.assign(REPOSITORY, number, [COPILOT_LOGIN], {"target_repo": REPOSITORY})
    assert refused.value.kind == "credentials"
    assert "FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET" in refused.value.reason
    assert fake.calls(path="/repos/*/issues/*/assignees") == []


def test_the_user_token_assigns_copilot_and_nothing_else(fake: GitHubFake, app: App) -> None:
    issues = issues_as(github_app(fake, app), fake, assignment_token=lambda r: fake.user_token)
    number = issues.create(REPOSITORY, "Checkout fails", BODY, []).number
    assigned = issues.assign(REPOSITORY, number, [COPILOT_LOGIN], {"target_repo": REPOSITORY})
    issues.comment(REPOSITORY, number, "@claude Investigate this failure.")
    assert "Copilot" in assigned
    assert [r.token for r in fake.calls(path="/repos/*/issues/*/assignees")] == [fake.user_token]
    comment = fake.calls("POST", f"/repos/{REPOSITORY}/issues/{number}/comments")[0]
    assert comment.token is not None and comment.token.startswith("ghs_")
    assert fake.issues(OWNER, REPO)[0]["author"] == "faultline[bot]"


# -- the fake's JWT checks, as GitHub makes them -------------------------------------------------


def _jwt(app: App, now: float, **claims: Any) -> str:
    payload = {"iat": int(now) - 60, "exp": int(now) + 540, "iss": str(app.id), **claims}
    return jwt.encode(payload, app.private_key, algorithm="RS256")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": 10**10}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"exp": 1}, "'Expiration time' claim ('exp') must be a numeric value"),
        ({"iat": 10**10}, "'Issued at' claim ('iat') must be an Integer"),
        ({"iss": "999"}, "A JSON web token could not be decoded"),
    ],
    ids=["exp-too-far", "expired", "iat-in-the-future", "unknown-issuer"],
)
def test_the_fake_refuses_a_jwt_github_would(
    fake: GitHubFake, app: App, claims: dict[str, Any], message: str
) -> None:
    token = _jwt(app, fake.clock.now(), **claims)
    answer = ask(fake, "app", f"Bearer {token}")
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(message)


def test_the_client_id_may_be_the_issuer_and_tokens_are_refused_app_endpoints(
    fake: GitHubFake, app: App
) -> None:
    token = _jwt(app, fake.clock.now(), iss=app.client_id)
    answer = ask(fake, "app", f"Bearer {token}")
    assert (answer.status_code, answer.json()["slug"]) == (200, "faultline")
    installation = github_app(fake, app).token(REPOSITORY)
    as_token = ask(fake, "app", f"token {installation}")
    assert as_token.status_code == 401
    user = ask(fake, "user", f"token {installation}")
    assert (user.status_code, user.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )
