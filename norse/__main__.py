"""``python -m norse``: print the banner.

Example:
    >>> print(banner().splitlines()[-1])
    Norse: spiking neural networks in PyTorch
"""

from __future__ import annotations

__all__ = ["BANNER", "banner", "main"]

BANNER = r"""
 _   _  ___  ____  ____  _____
| \ | |/ _ \|  _ \/ ___|| ____|
|  \| | | | | |_) \___ \|  _|
| |\  | |_| |  _ < ___) | |___
|_| \_|\___/|_| \_\____/|_____|
"""


def banner() -> str:
    """The ASCII-art banner with a one-line description.

    Example:
        >>> "|_| \\_|" in banner()
        True
    """
    return BANNER.strip("\n") + "\n\nNorse: spiking neural networks in PyTorch"


def main() -> None:
    """Print the banner.

    Example:
        >>> main()  # doctest: +ELLIPSIS
        _   _  ___  ____  ____  _____
        ...
        Norse: spiking neural networks in PyTorch
    """
    print(banner())


if __name__ == "__main__":
    main()
