"""Faultline's own metrics: to Application Insights through OpenTelemetry, or to a JSON-lines file.

In Azure, `configure_azure_monitor` (the Azure Monitor OpenTelemetry distro) is called once per
process, when the services are first built, never when the app is indexed: the distro and the
OpenTelemetry SDK take about half a second to import, which every cold start would pay. It sends
with the app's managed identity (`credential`), since Application Insights accepts no key (local
authentication is off). It exports:

- metrics: an OpenTelemetry instrument per `pipeline.metrics` entry, in `customMetrics`
  (`AppMetrics` in the workspace), exported every minute;
- logs of the `pipeline` logger (the use cases), whose `extra=` fields become `customDimensions`
  in `traces`. The host keeps forwarding every log as before (log streaming, the invocation's
  operation id), so these records appear twice: the copy with `customDimensions.fingerprint`
  is this one.

Live metrics, performance counters and the library instrumentations are off: the Functions host
already reports executions, live metrics and resource use, and spans for every storage and GitHub
call, without the host's trace context, would only multiply the volume.

Locally, `JsonLinesMetrics` appends each measurement to a file that every process of the run
shares (the Durable worker runs in a second one); `local_host.metrics` sums it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.ports import Attribute, Metric, check_emission

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from opentelemetry.metrics import Counter, Histogram, MeterProvider

METER = "faultline"
"""The instrumentation scope of every instrument."""
LOGGER = "pipeline"
"""The logger whose records (and those of its children) are exported with their fields."""
INSTRUMENTATIONS = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)
"""The distro's instrumentations, each switched off (see the module's docstring)."""

_configure_lock = threading.Lock()
_configured: list[str] = []


class OpenTelemetryMetrics:
    """The Metrics port on OpenTelemetry's metrics API: one instrument per metric, made on its
    first use. Until a process configures an SDK (`configure_azure_monitor`), the API's
    instruments record nothing: OpenTelemetry's rule for instrumented code."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        from opentelemetry import metrics

        provider = meter_provider or metrics.get_meter_provider()
        self._meter = provider.get_meter(METER)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._lock = threading.Lock()

    def count(self, metric: Metric, value: int = 1, **attributes: Attribute) -> None:
        check_emission(metric, "counter", attributes)
        with self._lock:
            counter = self._counters.get(metric.name)
            if counter is None:
                counter = self._meter.create_counter(
                    metric.name, unit=metric.unit, description=metric.description
                )
                self._counters[metric.name] = counter
        counter.add(value, attributes)

    def record(self, metric: Metric, value: float, **attributes: Attribute) -> None:
        check_emission(metric, "histogram", attributes)
        with self._lock:
            histogram = self._histograms.get(metric.name)
            if histogram is None:
                histogram = self._meter.create_histogram(
                    metric.name, unit=metric.unit, description=metric.description
                )
                self._histograms[metric.name] = histogram
        histogram.record(value, attributes)


def configure_azure_monitor(connection_string: str, credential: TokenCredential) -> bool:
    """Send this process's metrics and `pipeline` logs to Application Insights, once; False
    when an earlier call already did (a second configuration would replace nothing: the
    OpenTelemetry providers are set once per process)."""
    with _configure_lock:
        if _configured:
            return False
        from azure.monitor.opentelemetry import configure_azure_monitor as configure

        configure(
            connection_string=connection_string,
            credential=credential,
            logger_name=LOGGER,
            enable_live_metrics=False,
            enable_performance_counters=False,
            instrumentation_options={name: {"enabled": False} for name in INSTRUMENTATIONS},
        )
        # the use cases' INFO records (jobs, hand-offs, issue changes) are the ones worth keeping
        logging.getLogger(LOGGER).setLevel(logging.INFO)
        _configured.append(connection_string)
        return True


def azure_monitor_metrics(
    connection_string: str, credential: TokenCredential
) -> OpenTelemetryMetrics:
    """The Metrics port on Application Insights, configuring the process first if needed."""
    configure_azure_monitor(connection_string, credential)
    return OpenTelemetryMetrics()


@dataclass(frozen=True)
class Measurement:
    """One line of a metrics file."""

    metric: str
    kind: str
    value: float
    attributes: Mapping[str, Attribute]
    at: datetime


class JsonLinesMetrics:
    """The Metrics port as a JSON-lines file: one line per measurement, stamped with the run's
    clock. Each line is one `write` to a file opened for appending, so the lines of two
    processes (the local run's driver and its Durable worker) never interleave."""

    def __init__(self, path: Path, now: Callable[[], datetime]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path, self._now = path, now

    def count(self, metric: Metric, value: int = 1, **attributes: Attribute) -> None:
        check_emission(metric, "counter", attributes)
        self._append(metric, value, attributes)

    def record(self, metric: Metric, value: float, **attributes: Attribute) -> None:
        check_emission(metric, "histogram", attributes)
        self._append(metric, value, attributes)

    def _append(self, metric: Metric, value: float, attributes: Mapping[str, Attribute]) -> None:
        line: dict[str, Any] = {
            "metric": metric.name,
            "kind": metric.kind,
            "value": value,
            "attributes": dict(attributes),
            "at": self._now().isoformat(),
        }
        data = (json.dumps(line, sort_keys=True) + "\n").encode()
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)


def read_measurements(path: Path) -> Iterator[Measurement]:
    """The measurements of a metrics file, in the order they were written."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                yield Measurement(
                    item["metric"],
                    item["kind"],
                    float(item["value"]),
                    item["attributes"],
                    datetime.fromisoformat(item["at"]),
                )
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a measurement: {error}") from error
