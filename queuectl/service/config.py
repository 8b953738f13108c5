"""Settings stored in the database: values, defaults and what each key means."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from queuectl import config as cfg

if TYPE_CHECKING:
    from queuectl.store.base import Store


class ConfigItem(msgspec.Struct, frozen=True):
    """One key as a settings page shows it; `type` is "integer" or "number"."""

    key: str
    value: str
    default: str
    is_default: bool
    meaning: str
    type: str


def config_items(store: Store) -> list[ConfigItem]:
    stored = store.get_config()
    items = []
    for name, key in cfg.KEYS.items():
        default = cfg.default_text(name)
        items.append(
            ConfigItem(
                key=name,
                value=stored.get(name, default),
                default=default,
                is_default=name not in stored,
                meaning=key.help,
                type=key.type_name,
            )
        )
    return items


def config_item(store: Store, key: str) -> ConfigItem:
    """One key (hyphens or underscores); UnknownConfigKey (a NotFound) otherwise."""
    name = cfg.canonical_key(key)
    return next(item for item in config_items(store) if item.key == name)


def config_values(store: Store) -> dict[str, str]:
    return cfg.effective_values(store.get_config())


def config_get(store: Store, key: str) -> str:
    name = cfg.canonical_key(key)
    return config_values(store)[name]


def config_set(store: Store, key: str, value: str) -> tuple[str, str]:
    """Validate and store; returns (canonical key, value as stored)."""
    name, stored = cfg.parse_value(key, value)
    store.set_config(name, stored)
    return name, stored


def config_reset(store: Store, key: str | None) -> str | None:
    """Forget one key's value (or all); returns the canonical key name."""
    name = cfg.canonical_key(key) if key is not None else None
    store.reset_config(name)
    return name
