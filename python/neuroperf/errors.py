"""The exceptions neuroperf raises. Every one derives from neuroperf.Error and from the matching
builtin, so `except ValueError:` catches neuroperf.ValueError too; the message names the
argument, what was expected and what was given (as in the C++ library).

    Error          base of them all (an Exception)
    ValueError     an argument outside its domain (also a ValueError)
    ShapeError     wrong rank, shape, layout or dtype (a neuroperf.ValueError)
    TypeError      an argument of the wrong type (also a TypeError)
    BackendError   a BLAS library or compiler missing or failing (also a RuntimeError)
    IOError        reading or writing a file failed (also an OSError)
    NotBuiltError  a feature not built into this library (also a NotImplementedError)
    TaskError      a task of a parallel call failed (also a RuntimeError; .task_index, __cause__)
    WorkerError    a worker process crashed, was killed or timed out (also a RuntimeError)

`from neuroperf.errors import *` (and `from neuroperf import *`) leaves the builtins ValueError,
TypeError and IOError alone: use `neuroperf.ValueError` or `errors.ValueError` for ours.
"""

from ._core import (  # noqa: F401
    BackendError, Error, IOError, NotBuiltError, ShapeError, TaskError, TypeError, ValueError, WorkerError)

# Not "ValueError", "TypeError", "IOError": a star import would replace the builtins in the
# importer's namespace (its `except ValueError:` would stop catching int("x")).
__all__ = ["Error", "ShapeError", "BackendError", "NotBuiltError", "TaskError", "WorkerError"]
