"""Which tracker a route's repository names, and GitLab's project path in it."""

import pytest

from detection.routing import gitlab_project, tracker_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("repository", "tracker"),
    [
        ("contoso/shop", "github"),
        ("gitlab-org/gitlab", "github"),  # a GitHub owner may be called gitlab-anything
        ("gitlab:contoso/shop", "gitlab"),
        ("gitlab:contoso/platform/shop", "gitlab"),
    ],
)
def test_the_repository_name_picks_the_tracker(repository: str, tracker: str) -> None:
    assert tracker_of(repository) == tracker


def test_a_gitlab_repository_names_its_project_path_with_subgroups() -> None:
    assert gitlab_project("gitlab:contoso/platform/shop") == "contoso/platform/shop"
    with pytest.raises(ValueError, match="not a GitLab project"):
        gitlab_project("contoso/shop")
