"""Reject bad rows before any request is made, and say why.

A batch of 10,000 should not fail because of three bad rows, and a bad row should
not vanish either: `validate_products` splits the catalogue into the rows that go
ahead and a `Rejection` for each of the others, which the reconciliation table
then counts. The checks mirror what would otherwise fail later and cost money: an
empty name gives a useless description, an oversized text is a pasted document
(and a token bill), and a repeated id would make a batch refuse the whole
submission (custom_id must be unique).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import config
from .catalogue import Product

__all__ = ["CUSTOM_ID_PATTERN", "Rejection", "ValidationReport", "validate_products"]

CUSTOM_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What the Message Batches API accepts as a custom_id."""


@dataclass(frozen=True)
class Rejection:
    """One row that will not be submitted, with the reason in plain words."""

    row: int
    id: str
    reason: str


@dataclass
class ValidationReport:
    """The rows that go ahead and the rows that do not; together they are every row."""

    valid: list[Product] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.valid) + len(self.rejected)

    def reasons(self) -> dict[str, int]:
        """How many rows were rejected for each kind of defect."""
        counts: dict[str, int] = {}
        for rejection in self.rejected:
            kind = rejection.reason.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))

    def table(self) -> list[tuple[int, str, str]]:
        """(row, id, reason) for every rejected row, in row order."""
        return [(r.row, r.id, r.reason) for r in sorted(self.rejected, key=lambda r: r.row)]

    def __str__(self) -> str:
        lines = [
            f"{len(self.valid):,} valid, {len(self.rejected):,} rejected (of {self.total:,} rows)"
        ]
        lines += [f"  row {row:>5}  {id_:<10} {reason}" for row, id_, reason in self.table()]
        return "\n".join(lines)


def _problem(product: Product, max_chars: int) -> str | None:
    if not isinstance(product.id, str) or not CUSTOM_ID_PATTERN.fullmatch(product.id):
        return f"bad id: {product.id!r} is not 1-64 letters, digits, '-' or '_'"
    if not product.name.strip():
        return "empty name: nothing to describe"
    if len(product.text) > max_chars:
        return f"oversized text: {len(product.text):,} characters > {max_chars:,}"
    return None


def validate_products(
    products: Iterable[Product] | Sequence[Product],
    *,
    max_chars: int = config.BATCH_ITEM_MAX_CHARS,
) -> ValidationReport:
    """Split rows into valid products and rejections; no row is dropped.

    A repeated id keeps its first row and rejects the later ones (the first is
    what the shop has been showing); a row with several problems reports the first.
    """
    report = ValidationReport()
    first_row: dict[str, int] = {}
    for product in products:
        problem = _problem(product, max_chars)
        if problem is None and product.id in first_row:
            problem = f"duplicate id: {product.id} already used by row {first_row[product.id]}"
        first_row.setdefault(product.id, product.row)
        if problem is None:
            report.valid.append(product)
        else:
            report.rejected.append(Rejection(product.row, product.id, problem))
    return report
