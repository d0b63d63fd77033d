"""Entry point of ``make bench``; the benchmarks arrive with their issue."""

import sys

print("no benchmarks yet: see the open benchmark issue", file=sys.stderr)
sys.exit(1)
