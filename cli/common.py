"""Shared CLI plumbing: error handling (one line, exit 2), spec loading with --set overrides."""

from __future__ import annotations

import functools
import sys

import click

from starmd.errors import StarMDError


def handle_errors(fn):
    """Turn a StarMDError into one red line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StarMDError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(130)

    return wrapper


def spec_options(fn):
    """Add ``--spec FILE`` and repeatable ``--set key.sub=value`` options."""
    fn = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                      help="override a spec field, e.g. --set model.hidden=64 (repeatable)")(fn)
    fn = click.option("--spec", "spec_path", type=click.Path(dir_okay=False), default=None,
                      help="spec file (YAML or JSON)")(fn)
    return fn


def load_or_default(spec_cls, spec_path, overrides):
    """The spec from ``spec_path`` (or defaults) with overrides applied."""
    from starmd.core.specs import apply_overrides, load_spec

    spec = load_spec(spec_path, spec_cls) if spec_path else spec_cls()
    return apply_overrides(spec, list(overrides)) if overrides else spec
