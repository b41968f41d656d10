"""Benchmarking: one measurement protocol and one runner interface for every device.

Each device (`devices.DEVICES`: host, android, ios, fpga, browser) runs as
`run(bundle, out_dir, protocol, options, progress) -> [(results path, document)]`; `run_host(bundle,
out_dir)` measures a bundle here. `load_results(path)` reads and validates a results file
(schemas/results.schema.json). Runtimes are imported only when a model runs.
"""
from vitsdk.bench.protocol import Protocol
from vitsdk.formats.results import load_results

__all__ = ["Protocol", "load_results", "run_host"]


def run_host(*args, **kwargs):
    """See `vitsdk.bench.host.run_host`."""
    from vitsdk.bench.host import run_host as _run_host

    return _run_host(*args, **kwargs)
