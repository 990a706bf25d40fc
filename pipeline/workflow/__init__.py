"""The issue workflow: a failure notice becomes exactly one GitHub issue, kept up to date, assigned.

- `starter`: one Durable orchestration per fingerprint (and repository, if dedup says so) at a
  time; a notice that arrives while it runs leaves word for it instead of starting a second one.
- `orchestrator`: sync -> wait if needed -> assign -> sync again if the failure recurred; it only
  sequences, so Durable can replay it.
- `activities` (the sync) and `assignment`: every decision that needs the clock, state or GitHub,
  each idempotent under retries.
- `view`: what the issue shows.
- `messages`: the typed payloads between them.
"""
