"""Use cases: the event-sourced ``Ledger`` application, its ports and processes."""
