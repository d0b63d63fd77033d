"""The HTTP routes of API.md, one module per area."""
