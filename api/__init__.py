"""The edges: settings, the composition root, the HTTP app and the ``ledger`` CLI."""
