"""The typed run spec, its YAML form and command-line overrides."""

from trainwise.spec.io import apply_overrides, dump_yaml, load_spec, parse_spec, spec_from_kwargs
from trainwise.spec.model import Spec

__all__ = ["Spec", "apply_overrides", "dump_yaml", "load_spec", "parse_spec", "spec_from_kwargs"]
