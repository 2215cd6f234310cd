"""Entry point of the ``starmd`` command: a click group whose subcommands live in their own modules."""

from __future__ import annotations

import importlib

import click

import starmd

# subcommand name -> module in starmd_cli defining a click command of that name
_COMMANDS = {
    "simulate": "simulate",
    "prepare": "prepare",
    "train": "train",
    "rollout": "rollout",
    "evaluate": "evaluate",
    "ablate": "ablate",
    "bench": "bench",
    "demo": "demo",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (keeps `starmd --help` fast)."""

    def list_commands(self, ctx):
        return [name for name in _COMMANDS if importlib.util.find_spec(f"starmd_cli.{_COMMANDS[name]}") is not None]

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        try:
            module = importlib.import_module(f"starmd_cli.{_COMMANDS[name]}")
        except ModuleNotFoundError as err:
            if err.name == f"starmd_cli.{_COMMANDS[name]}":
                return None
            raise
        return getattr(module, name.replace("-", "_"))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(starmd.__version__, prog_name="starmd")
def cli():
    """starmd: generate long all-atom protein MD trajectories with a causal SE(3) diffusion model."""


def main():
    cli()


if __name__ == "__main__":
    main()
