"""Configuration: strict YAML → typed ``Config`` (see README "Configuration reference")."""

from .load import config_from_mapping, load_config, read_yaml
from .schema import Config, pick

__all__ = ["Config", "config_from_mapping", "load_config", "pick", "read_yaml"]
