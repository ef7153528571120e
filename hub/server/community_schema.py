"""Response schemas of Buzz, the shop, feature flags and leaderboards (OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class BuzzBalance(Doc):
    username: str
    balance: int


class BuzzTransaction(Doc):
    id: int
    kind: str
    amount: int
    memo: str
    createdAt: str


class BuzzHistory(Doc):
    items: list[BuzzTransaction]


class ShopItem(Doc):
    id: int
    kind: str
    name: str
    price: int


class ShopSection(Doc):
    id: int
    name: str
    items: list[ShopItem]


class ShopSectionRef(Doc):
    id: int
    name: str


class AdminShopItem(ShopItem):
    sectionId: int
    sold: int
    value: str
    quantity: int | None
    availableFrom: str | None
    availableUntil: str | None


class ShopCatalog(Doc):
    sections: list[ShopSection]


class OwnedItems(Doc):
    items: list[ShopItem]


class Purchase(Doc):
    itemId: int
    repeated: bool
    transactionId: int


class Equipped(Doc):
    itemId: int
    equipped: bool


class FeatureFlag(Doc):
    name: str
    enabled: bool
    percent: int


class FlagRules(Doc):
    items: list[FeatureFlag]


class FlagSet(Doc):
    flags: dict[str, bool]


class Cohorts(Doc):
    username: str
    cohorts: list[str]


class Profile(Doc):
    username: str
    cosmetics: dict  # as `api_schema.Cosmetics`


class Leaderboard(Doc):
    items: list[dict]
