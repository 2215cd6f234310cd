"""One rich progress bar for long work (training, rollout): count, rate, ETA and free-form fields."""

from __future__ import annotations

import contextlib
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task) -> None:
        self._progress = progress
        self._task = task

    def update(self, completed: int, **fields) -> None:
        """Set the completed count and any named fields (floats shown with 4 significant digits)."""
        if self._progress is None:
            return
        text = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self._progress.update(self._task, completed=completed, info=text)


@contextlib.contextmanager
def progress_bar(description: str, total: int, completed: int = 0, enabled: bool = True, unit: str = "it"):
    """Context manager yielding a bar with ``update(completed, **fields)``; a no-op when disabled."""
    if not enabled:
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit}s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=not sys.stderr.isatty(),
        refresh_per_second=4,
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed, info="")
        yield _Bar(progress, task)


__all__ = ["progress_bar"]
