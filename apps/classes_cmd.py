"""`rae classes`: the ImageNet-1k class ids and names that `rae sample --class` accepts."""

from __future__ import annotations

import click

from .classes import imagenet
from .errors import UserError
from .options import debug_option


@click.command("classes", epilog="""
\b
Examples:
  rae classes                 all 1000 classes
  rae classes retriever       ids whose names contain "retriever"
  rae classes 207 360         the names of classes 207 and 360
""")
@click.argument("queries", nargs=-1)
@debug_option
def classes(queries: tuple[str, ...]) -> None:
    """List ImageNet classes: all, or those matching ids or parts of names."""
    vocab = imagenet()
    if not queries:
        ids = list(range(vocab.num_classes))
    else:
        ids = []
        for q in queries:
            matches = [vocab.parse(q)] if q.strip().isdigit() else vocab.search(q)
            ids.extend(i for i in matches if i not in ids)
        if not ids:
            raise UserError(f"no ImageNet class name contains {' or '.join(map(repr, queries))}")
    for i in ids:
        click.echo(f"{i:4d}  {', '.join(vocab.names[i])}")
