"""Local emulators of the CRMs' APIs, for the demo, the tests and the benchmarks."""
