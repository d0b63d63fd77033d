"""``make bench``: every benchmark written so far, each beside its raw baseline."""

from __future__ import annotations

import argparse

from bench import live, rebuild


def main() -> None:
    """Run the benchmarks with their default sizes (or the sizes given)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="B3 log size")
    parser.add_argument("--samples", type=int, default=300, help="latency samples")
    args = parser.parse_args()
    rebuild.main(["--events", str(args.events)])
    live.main(["--samples", str(args.samples)])


if __name__ == "__main__":
    main()
