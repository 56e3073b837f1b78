"""Performance benchmarks, apart from the tests: `python3 dev.py bench` writes BENCHMARKS.md."""
