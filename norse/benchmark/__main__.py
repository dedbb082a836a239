"""``python -m norse.benchmark``: the LIF benchmark of :mod:`norse.benchmark.main`."""

from norse.benchmark.main import main

if __name__ == "__main__":
    main()
