"""Keyword-only configuration records shared by the components (MKLConfig, ParallelConfig, ...)."""

from __future__ import annotations

from . import _core


class _Config:
    """A record of named fields with defaults: unknown keywords raise neuroperf.TypeError, values
    of the wrong type neuroperf.TypeError, bad values neuroperf.ValueError (checked by the C++
    library when the component is built, and by `validate()`)."""

    _fields: dict = {}  # name -> (default, accepted types, description)

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self._fields))
        if unknown:
            raise _core.TypeError(
                f"{type(self).__name__}: unknown field(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(self._fields)}")
        for name, (default, types, _doc) in self._fields.items():
            value = kwargs.get(name, default)
            if value is not None and (not isinstance(value, types) or
                                      (isinstance(value, bool) and bool not in types)):
                expected = " or ".join(t.__name__ for t in types)
                raise _core.TypeError(
                    f"{type(self).__name__}.{name}: expected {expected}, got {type(value).__name__} ({value!r})")
            object.__setattr__(self, name, value)
        self.validate()

    def validate(self) -> None:  # overridden: checks the values through the C++ library
        pass

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise _core.TypeError(f"{type(self).__name__}: unknown field {name}")
        kwargs = self.to_dict()
        kwargs[name] = value
        type(self)(**kwargs)  # validates
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other):
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


def resolve_config(owner: str, config_type: type, config, kwargs: dict):
    """The config a component is built from: `config` (an instance of config_type) or
    config_type(**kwargs); both given, or a config of another type, raise neuroperf.TypeError."""
    if config is None:
        return config_type(**kwargs)
    if kwargs:
        raise _core.TypeError(f"{owner}: pass either a {config_type.__name__} or keyword fields, not both")
    if not isinstance(config, config_type):
        raise _core.TypeError(f"config: expected neuroperf.{config_type.__name__}, got {type(config).__name__}")
    return config
