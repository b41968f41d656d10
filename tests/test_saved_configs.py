"""Saved configs (model, prune, train) read back through one checker: newer keys or versions are a clear
one-line UserError, never a TypeError from the dataclass."""
from __future__ import annotations

import pytest

from vitsdk.errors import UserError
from vitsdk.models.config import CONFIG_VERSION, ViTConfig
from vitsdk.sparsity.config import BlockPruneConfig
from vitsdk.training.config import TrainConfig, TokenLevel


@pytest.mark.parametrize("config", [ViTConfig(name="x", keep_rate=0.7), BlockPruneConfig(ratio=0.25),
                                    TrainConfig(epochs=3, token=TokenLevel(0.6))], ids=lambda c: type(c).__name__)
def test_round_trip(config):
    assert type(config).from_dict(config.to_dict()) == config


@pytest.mark.parametrize("cls,what", [(ViTConfig, "model config"), (BlockPruneConfig, "prune config"),
                                      (TrainConfig, "train config")])
def test_unknown_keys_and_newer_versions_are_refused_by_name(cls, what):
    data = cls().to_dict()
    with pytest.raises(UserError, match=rf"^{what} has unknown keys \['from_the_future'\]"):
        cls.from_dict({**data, "from_the_future": 1})
    with pytest.raises(UserError, match=rf"^{what} version 999 is newer than this vitsdk supports"):
        cls.from_dict({**data, "version": 999})


def test_nested_level_keys_are_checked_too():
    data = TrainConfig(token=TokenLevel(0.7)).to_dict()
    data["token"]["curvature"] = 2
    with pytest.raises(UserError, match=r"train config 'token' has unknown keys \['curvature'\]"):
        TrainConfig.from_dict(data)


def test_current_version_loads():
    assert ViTConfig.from_dict({"name": "x", "version": CONFIG_VERSION}).name == "x"
