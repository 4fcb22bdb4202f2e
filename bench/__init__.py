"""The benchmark harness (issue 4): real servers, real WebSocket clients, side by side with
two baselines. `python -m bench.run --help`; bench/README.md explains how to read it."""
