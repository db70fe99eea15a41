"""Prometheus metrics of the messaging layer, on the default registry, so /metrics shows
them in every mode (API, workers, or both): is the relay running here, is the outbox
draining, what do the consumers do with the events they get."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events a consumer is done with, by outcome: applied, duplicates (already in the inbox), "
    "skipped (unknown type or version), dead_lettered.",
    ["consumer", "outcome"],
)
OUTBOX_SENT = Counter(
    "outbox_events_sent_total",
    "Outbox rows delivered to the broker and marked sent by this process's relay.",
)
OUTBOX_RELAYS_ACTIVE = Gauge(
    "outbox_relays_active",
    "Relays in this process holding their schema's lock (the others stand by).",
)
