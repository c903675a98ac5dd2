"""`cnn-tune spaces` and `cnn-tune datasets`: what can be searched, and on which data."""

from __future__ import annotations

import typer

from tuner.cli.common import console, friendly

__all__ = ["datasets", "spaces_app"]

spaces_app = typer.Typer(help="Built-in and custom search spaces.", invoke_without_command=True, no_args_is_help=False)


@spaces_app.callback()
def spaces_default(ctx: typer.Context) -> None:
    """List the built-in spaces when no sub-command is given."""
    if ctx.invoked_subcommand is None:
        spaces_list()


@spaces_app.command("list")
@friendly
def spaces_list() -> None:
    """Built-in spaces: name and description."""
    from rich.table import Table

    from tuner.space import builtin_spaces, load_space

    table = Table("space", "dataset", "objective", "description", header_style="bold")
    for name in builtin_spaces():
        space = load_space(name)
        table.add_row(name, space.dataset, space.objective.name, space.description)
    console.print(table)


@spaces_app.command("show")
@friendly
def spaces_show(space: str = typer.Argument(..., help="A built-in space name or a YAML path.")) -> None:
    """The resolved space: parameters, constraints, stop rule, objective."""
    import yaml

    from tuner.space import load_space

    text = yaml.safe_dump(load_space(space).to_dict(), sort_keys=False, width=1000, allow_unicode=True)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@spaces_app.command("validate")
@friendly
def spaces_validate(path: str = typer.Argument(..., help="The YAML file to check.")) -> None:
    """Exit 0 when the space is valid, 2 with the reason when it is not."""
    from tuner.space import load_space

    space = load_space(path)
    count = len(space.searched)
    console.print(
        f"{path}: valid ({count} searched parameter{'s' if count != 1 else ''}, objective {space.objective.name})",
        soft_wrap=True,
    )


@friendly
def datasets() -> None:
    """Known datasets and where each was found."""
    from rich.table import Table

    from tuner.data import available_datasets

    table = Table("dataset", "status", "where", header_style="bold")
    for row in available_datasets():
        table.add_row(row["dataset"], row["status"], row["where"])
    console.print(table)
    console.print(
        "--dataset PATH also takes a folder of IDX files, a folder of class sub-folders of images, "
        "a label,pixel1..N CSV, or an .npz with x_train, y_train, x_test, y_test.",
        soft_wrap=True,
    )
