"""What a model call cost: token usage times a per-model price table that config can override.

Prices are USD per million tokens, from Anthropic's pricing and model pages
(https://platform.claude.com/docs/en/about-claude/pricing, checked October 2026). Cache writes
are the 5-minute rate: selfheal only sets the default `{"type": "ephemeral"}` breakpoints.
A model missing here has no cost (None), never a guessed one; config can add or correct a row.
Left out on purpose: Claude Haiku 5.5 (priced by prompt length, not one flat row),
Fable 5.2 / Mythos 5.2 and Mythos Preview (no published price found).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from bot.errors import ConfigError

PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")
_MILLION = Decimal(1_000_000)
_DATED = re.compile(r"-\d{8}$")  # claude-opus-4-5-20251101 -> claude-opus-4-5


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal  # 5-minute cache writes
    cache_read: Decimal  # cache hits and refreshes


def _price(input: str, output: str, cache_write: str, cache_read: str) -> ModelPrice:
    return ModelPrice(Decimal(input), Decimal(output), Decimal(cache_write), Decimal(cache_read))


_FABLE_5_1 = _price("10", "50", "12.50", "0.25")
_FABLE_5 = _price("10", "50", "12.50", "1")
_OPUS_5 = _price("5", "25", "6.25", "0.50")
_SONNET_4 = _price("3", "15", "3.75", "0.30")

PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-1": _FABLE_5_1,
    "claude-mythos-5-1": _FABLE_5_1,
    "claude-fable-5": _FABLE_5,
    "claude-mythos-5": _FABLE_5,
    "claude-opus-5-5": _price("4", "20", "5", "0.20"),
    "claude-opus-5": _OPUS_5,
    "claude-opus-4-8": _OPUS_5,
    "claude-opus-4-7": _OPUS_5,
    "claude-opus-4-6": _OPUS_5,
    "claude-opus-4-5": _OPUS_5,
    # Cache hits: $0.10 since the cut of 2026-10-07 (0.05x input, like Opus 5.5); the model's
    # overview page said $0.20 before it. Config can override if the page says otherwise.
    "claude-sonnet-5-5": _price("2", "10", "2.50", "0.10"),
    "claude-sonnet-5": _price("2", "10", "2.50", "0.20"),
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-haiku-4-5": _price("1", "5", "1.25", "0.10"),
}


@dataclass(frozen=True)
class TokenUsage:
    """Token counts as the Messages API reports them in `usage`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, usage: object) -> TokenUsage:
        """From the SDK's Usage, a usage dict, or a TokenUsage; missing or null counts are 0."""
        if isinstance(usage, TokenUsage):
            return usage

        def count(name: str) -> int:
            value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
            return int(value or 0)

        return cls(**{f.name: count(f.name) for f in fields(cls)})

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(TokenUsage))
        )

    @property
    def total(self) -> int:
        """Every token the API processed: input (fresh, cache writes, cache reads) and output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_prices(overrides: Mapping[str, Any] | None) -> dict[str, ModelPrice]:
    """The price table with config's rows on top: {model: {input, output, cache_write, cache_read}}.

    A row for a known model may give only the fields it changes; a new model needs all four.
    Raises ConfigError naming the model and field that are wrong.
    """
    table = dict(PRICES)
    for model, row in (overrides or {}).items():
        where = f"prices.{model}"
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {', '.join(PRICE_FIELDS)}")
        unknown = sorted(set(row) - set(PRICE_FIELDS))
        if unknown:
            raise ConfigError(
                f"{where}.{unknown[0]}: unknown key (expected {', '.join(PRICE_FIELDS)})"
            )
        base = table.get(model) or table.get(_DATED.sub("", model))
        missing = [name for name in PRICE_FIELDS if name not in row]
        if base is None and missing:
            raise ConfigError(
                f"{where}: a model without a built-in price needs every field; missing {', '.join(missing)}"
            )
        values = {}
        for name in PRICE_FIELDS:
            if name not in row:
                values[name] = getattr(base, name)
                continue
            value = row[name]
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ConfigError(f"{where}.{name}: expected a number of USD per million tokens")
            try:
                amount = Decimal(str(value))
            except ArithmeticError as exc:
                raise ConfigError(f"{where}.{name}: {value!r} is not a number") from exc
            if not amount.is_finite() or amount < 0:
                raise ConfigError(f"{where}.{name}: must be a number >= 0, not {value!r}")
            values[name] = amount
        table[model] = ModelPrice(**values)
    return table


def price_for(model: str, table: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The row for `model` (a dated snapshot id falls back to its alias), or None."""
    prices = PRICES if table is None else table
    return prices.get(model) or prices.get(_DATED.sub("", model))


def cost_decimal(price: ModelPrice, usage: TokenUsage) -> Decimal:
    """Exact USD for `usage` at `price`."""
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / _MILLION


def cost_usd(model: str, usage: object, overrides: Mapping[str, Any] | None = None) -> float | None:
    """USD for `usage` on `model`, or None when there is no price for it (see `unpriced_note`)."""
    price = price_for(model, parse_prices(overrides) if overrides else None)
    if price is None:
        return None
    return float(cost_decimal(price, TokenUsage.of(usage)))


def unpriced_note(model: str) -> str:
    """What the report says when a model has no price."""
    return (
        f"no price known for model {model}: cost not computed"
        f" (add prices.{model} with {', '.join(PRICE_FIELDS)} in USD per million tokens)"
    )
