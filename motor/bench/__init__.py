"""Benchmarks people can rerun: ``python -m motor bench {core,size,backbones,features,scale,regimes}``.

One module per suite (each with a typed options dataclass and ``run(options) -> Section``), the
shared harness (``harness``: fresh-process training, timing), the resumable run log
(``runlog``) and the Markdown writer (``report``): each suite writes a CSV next to
``benchmarks/RESULTS.md`` and replaces its own section of that file, with the machine and the
command that made it. The command line is in ``motor.bench.cli``.
"""



def add_parser(sub) -> None:
    """Register ``bench`` on the main command line (the suites are imported only here, not by
    ``import motor.bench``, so a suite's measuring subprocess does not import the others)."""
    from motor.bench.cli import add_parser as add

    add(sub)
