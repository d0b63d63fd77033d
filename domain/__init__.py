"""The ledger's model: aggregates, events, rules, value objects and pure codecs.

Nothing here does I/O or imports from the other packages of this project.
"""
