"""The bundled product catalogue: 10,000 rows generated from a seed, a few of them bad.

Shipping a 10,000-row file would bloat the package and hide how the rows were
made; generating them from a seed gives every learner the same catalogue in a
few milliseconds. A handful of rows are broken on purpose (an empty name, an
oversized text, a repeated id) so that validation has something real to catch.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from .. import config

__all__ = [
    "DESCRIPTION_PROMPT",
    "INVALID_ROWS",
    "Item",
    "Product",
    "generate_catalogue",
    "product_item",
    "product_prompt",
]

_ADJECTIVES = [
    "Alpine",
    "Urban",
    "Coastal",
    "Nordic",
    "Classic",
    "Summit",
    "Harbor",
    "Meadow",
    "Canyon",
    "Metro",
    "Prairie",
    "Glacier",
    "Cedar",
    "Orbit",
    "Willow",
    "Granite",
]
_MATERIALS = [
    "Bamboo",
    "Steel",
    "Linen",
    "Walnut",
    "Ceramic",
    "Wool",
    "Copper",
    "Canvas",
    "Leather",
    "Glass",
    "Cork",
    "Titanium",
]
_NOUNS = [
    "Water Bottle",
    "Backpack",
    "Desk Lamp",
    "Chef Knife",
    "Throw Blanket",
    "Coffee Mug",
    "Notebook",
    "Headphones",
    "Plant Pot",
    "Travel Pillow",
    "Cutting Board",
    "Wall Clock",
    "Rain Jacket",
    "Yoga Mat",
    "Lunch Box",
    "Phone Stand",
    "Camping Stove",
    "Tea Kettle",
    "Bike Light",
    "Picnic Set",
    "Desk Organizer",
    "Serving Tray",
    "Reading Chair",
    "Duffel Bag",
    "Cookware Set",
]
_FEATURES = [
    "double-wall insulation",
    "lifetime warranty",
    "recycled materials",
    "magnetic clasp",
    "non-slip base",
    "USB-C charging",
    "water-resistant finish",
    "hand-stitched seams",
    "dishwasher-safe parts",
    "adjustable strap",
    "fold-flat design",
    "soft-touch grip",
]
_AUDIENCES = [
    "hikers",
    "home cooks",
    "students",
    "remote workers",
    "new parents",
    "commuters",
    "campers",
    "runners",
    "gardeners",
    "travellers",
    "artists",
    "small offices",
]
_CATEGORIES = ["outdoor", "kitchen", "office", "home", "travel", "fitness"]

DESCRIPTION_PROMPT = (
    "Write a product description of about 40 words to publish in our online shop.\n"
    "Name: {name}\nFeatures: {features}\nFor: {audience}"
)
"""The simulator recognises 'product description' and uses the Name/Features/For lines."""

INVALID_ROWS: dict[int, str] = {
    137: "empty name",
    1_204: "oversized text",
    2_718: "duplicate id",
    4_096: "empty name",
    5_555: "duplicate id",
    7_001: "oversized text",
    8_888: "duplicate id",
    9_990: "empty name",
}
"""Row index -> the defect planted there (eight rows of the 10,000 are bad)."""


@dataclass(frozen=True)
class Product:
    """One catalogue row, as it might come out of a shop's database."""

    row: int
    id: str
    name: str
    features: str
    audience: str
    category: str

    @property
    def text(self) -> str:
        """Everything that goes into the prompt (what the size limit applies to)."""
        return f"{self.name}\n{self.features}\n{self.audience}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Item:
    """One unit of work for every pipeline: a unique `custom_id` and its Messages params.

    `custom_id` is what makes a retry idempotent: results are stored under it, so
    the same item can be submitted twice but can only succeed once.
    """

    custom_id: str
    params: dict[str, Any]

    def as_request(self) -> dict[str, Any]:
        """The shape of one entry of a Message Batches `requests` list."""
        return {"custom_id": self.custom_id, "params": self.params}


def _product(rng: random.Random, row: int) -> Product:
    name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_MATERIALS)} {rng.choice(_NOUNS)}"
    features = " and ".join(rng.sample(_FEATURES, k=rng.randint(1, 2)))
    return Product(
        row=row,
        id=f"P-{row:05d}",
        name=name,
        features=features,
        audience=rng.choice(_AUDIENCES),
        category=rng.choice(_CATEGORIES),
    )


def _break(product: Product, defect: str, rng: random.Random) -> Product:
    if defect == "empty name":
        return Product(
            product.row, product.id, "   ", product.features, product.audience, product.category
        )
    if defect == "oversized text":
        pasted = " ".join(rng.choice(_FEATURES) for _ in range(200))  # a pasted manual
        return Product(
            product.row, product.id, product.name, pasted, product.audience, product.category
        )
    if defect == "duplicate id":
        original = f"P-{rng.randrange(0, product.row):05d}"  # collides with an earlier row
        return Product(
            product.row,
            original,
            product.name,
            product.features,
            product.audience,
            product.category,
        )
    raise ValueError(f"unknown defect {defect!r}")


def generate_catalogue(
    size: int = config.CATALOGUE_SIZE,
    *,
    seed: int = 0,
    invalid: dict[int, str] | None = None,
) -> list[Product]:
    """`size` products, the same for the same seed; rows in `invalid` get their defect.

    `invalid` defaults to `INVALID_ROWS` (only the rows that exist in `size`);
    pass `{}` for a clean catalogue.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    defects = INVALID_ROWS if invalid is None else invalid
    rng = random.Random(f"catalogue-{seed}")
    products: list[Product] = []
    for row in range(size):
        product = _product(rng, row)
        defect = defects.get(row)
        if defect is not None and row > 0:
            product = _break(product, defect, random.Random(f"defect-{seed}-{row}"))
        products.append(product)
    return products


def product_prompt(product: Product) -> str:
    """The user message that asks for this product's description."""
    return DESCRIPTION_PROMPT.format(
        name=product.name.strip(), features=product.features, audience=product.audience
    )


def product_item(
    product: Product, *, model: str = config.FAST_MODEL, max_tokens: int = 200
) -> Item:
    """The work item for one (valid) product: its id becomes the batch `custom_id`."""
    return Item(
        custom_id=product.id,
        params={
            "model": model,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": product_prompt(product)}],
        },
    )
