"""The sample shop's data files: a bad entry stops the load and says which file and entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from samples import catalog
from samples.loader import DATA, CatalogError, load

pytestmark = pytest.mark.unit


def test_the_data_files_load_into_the_tables_the_generator_uses() -> None:
    tables = load()
    assert tables == catalog.TABLES
    assert tables.healthy + tables.failures == catalog.SCENARIOS
    assert {s.service for s in catalog.SCENARIOS} <= set(catalog.SERVICES)


# (file, text in it, its replacement, what the error must name)
BAD_ENTRIES = [
    pytest.param(
        "night.yaml",
        "code: '500', ms: [2, 10]}",
        "code: 500, ms: [2, 10]}",
        ["night.yaml: failures [1] 'orders-sql-timeout'", "code should be text, got 500"],
        id="unquoted-status-code",
    ),
    pytest.param(
        "night.yaml",
        "- exc: {fault: coupon-nullref}",
        "- exc: {fault: coupon-nullrf}",
        ["'orders-coupon-nullref'", "'coupon-nullrf', which is not defined"],
        id="unknown-fault",
    ),
    pytest.param(
        "night.yaml",
        "  service: orders-api\n  when: [[100, 7, 13]",
        "  service: orders-apii\n  when: [[100, 7, 13]",
        ["'orders-sql-timeout'", "service names 'orders-apii'"],
        id="unknown-service",
    ),
    pytest.param(
        "days.yaml",
        "- key: http-503\n  runtime: dotnet",
        "- key: http-503\n  runtime: .net",
        ["days.yaml: kinds [5] 'http-503'", "runtime should be one of"],
        id="unknown-runtime",
    ),
    pytest.param(
        "days.yaml",
        "frame: {cs: [Contoso.Orders.Pricing.TaxCalculator, RateFor], sync: true}",
        "frame: {cs: [Contoso.Orders.Pricing.TaxCalculator, RateFor], sync: yes please}",
        ["days.yaml: parts tax", "sync should be true or false"],
        id="not-a-flag",
    ),
    pytest.param(
        "services.yaml",
        "orders-processor: {runtime: dotnet, hosting: aks}",
        "orders-processor: {runtime: dotnet, hosting: aks, replicas: 2}",
        ["services.yaml: services orders-processor", "unknown keys ['replicas']"],
        id="unknown-key",
    ),
]


@pytest.mark.parametrize(("file", "text", "replacement", "named"), BAD_ENTRIES)
def test_a_bad_entry_names_its_file_and_entry(
    tmp_path: Path, file: str, text: str, replacement: str, named: list[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    original = (data / file).read_text(encoding="utf-8")
    assert original.count(text) == 1, text
    (data / file).write_text(original.replace(text, replacement), encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load(data)
    for part in named:
        assert part in str(error.value)
