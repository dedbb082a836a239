"""``python -m norse.task``: print the banner and the tasks in this package.

Example:
    >>> "digits" in dict(list_tasks())
    True
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

from norse.__main__ import banner

__all__ = ["list_tasks", "main"]


def _summary(path: Path) -> str:
    """First line of a module's docstring, read without importing it (tasks may need extras)."""
    try:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    return docstring.strip().splitlines()[0] if docstring else ""


def list_tasks() -> list[tuple[str, str]]:
    """``(name, one-line summary)`` for every task module or package in :mod:`norse.task`.

    Example:
        >>> name, summary = list_tasks()[0]
        >>> isinstance(name, str) and isinstance(summary, str)
        True
    """
    package = importlib.util.find_spec("norse.task")
    assert package is not None and package.submodule_search_locations is not None
    tasks = []
    for info in pkgutil.iter_modules(package.submodule_search_locations):
        if info.name.startswith("_"):
            continue
        folder = Path(info.module_finder.path)  # type: ignore[union-attr]
        source = folder / info.name / "__init__.py" if info.ispkg else folder / f"{info.name}.py"
        tasks.append((info.name, _summary(source)))
    return sorted(tasks)


def main() -> None:
    """Print the banner and the available tasks.

    Example:
        >>> main()  # doctest: +ELLIPSIS
        _   _ ...
        Tasks (run one with python -m norse.task.<name>):
          digits ...
    """
    print(banner())
    print()
    print("Tasks (run one with python -m norse.task.<name>):")
    tasks = list_tasks()
    width = max((len(name) for name, _ in tasks), default=0)
    for name, summary in tasks:
        print(f"  {name:<{width}}  {summary}".rstrip())


if __name__ == "__main__":
    main()
