"""The bundled catalogue is deterministic, and validation rejects exactly the bad rows."""

from __future__ import annotations

import pytest

from stream_or_queue import config
from stream_or_queue.batch import (
    INVALID_ROWS,
    Product,
    generate_catalogue,
    product_item,
    validate_products,
)
from stream_or_queue.batch.validation import CUSTOM_ID_PATTERN


def test_catalogue_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    first, again = generate_catalogue(500, seed=3), generate_catalogue(500, seed=3)
    assert first == again
    assert generate_catalogue(500, seed=4) != first
    assert len(generate_catalogue()) == config.CATALOGUE_SIZE == 10_000


def test_full_catalogue_rejects_exactly_the_planted_rows_and_keeps_the_rest() -> None:
    report = validate_products(generate_catalogue())
    assert report.total == 10_000  # nothing dropped
    assert {r.row for r in report.rejected} == set(INVALID_ROWS)
    for rejection in report.rejected:
        assert rejection.reason.startswith(INVALID_ROWS[rejection.row])
    assert len(report.valid) == 10_000 - len(INVALID_ROWS)
    ids = [p.id for p in report.valid]
    assert len(ids) == len(set(ids))  # a batch refuses duplicate custom_ids
    assert all(CUSTOM_ID_PATTERN.fullmatch(i) for i in ids)
    assert report.reasons() == {"duplicate id": 3, "empty name": 3, "oversized text": 2}


def test_duplicate_keeps_the_first_row_and_names_it() -> None:
    a = Product(0, "P-1", "Lamp", "bright", "students", "home")
    b = Product(1, "P-1", "Mug", "big", "cooks", "kitchen")
    report = validate_products([a, b])
    assert report.valid == [a]
    assert report.rejected[0].row == 1
    assert "row 0" in report.rejected[0].reason


def test_size_limit_boundary_and_bad_ids() -> None:
    name = "x" * 10
    fits = Product(0, "P-0", name, "f" * (config.BATCH_ITEM_MAX_CHARS - len(name) - 2), "", "")
    assert len(fits.text) == config.BATCH_ITEM_MAX_CHARS
    too_big = Product(1, "P-1", name, fits.features + "f", "", "")
    bad_id = Product(2, "P 2/x", "Lamp", "bright", "students", "home")
    report = validate_products([fits, too_big, bad_id])
    assert report.valid == [fits]
    assert [r.reason.split(":")[0] for r in report.rejected] == ["oversized text", "bad id"]


def test_clean_catalogue_and_negative_size() -> None:
    assert validate_products(generate_catalogue(300, invalid={})).rejected == []
    with pytest.raises(ValueError):
        generate_catalogue(-1)


def test_item_carries_the_prompt_the_simulator_understands() -> None:
    product = generate_catalogue(1)[0]
    item = product_item(product)
    content = item.params["messages"][0]["content"]
    assert item.custom_id == product.id
    assert "product description" in content
    assert f"Name: {product.name}" in content
    assert item.as_request() == {"custom_id": product.id, "params": item.params}
