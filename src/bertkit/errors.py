"""Typed errors, one class per kind of failure. Each message is one line that names the problem.

Each kind carries its own exit code (CLI) and HTTP status (server), so the mapping is written once, here:

| class            | what failed                                                    | exit | HTTP |
|------------------|----------------------------------------------------------------|------|------|
| `InputError`     | arguments or request data: empty question, stride >= max_length | 2    | 422  |
| `DataError`      | a file the user gave: missing, not UTF-8, wrong format           | 2    | 422  |
| `OutputError`    | a place to write: missing folder, read-only, a file for a folder | 2    | 422  |
| `ModelLoadError` | a model: unknown path, Hub id while offline, unsafe weights      | 2    | 503  |

>>> DataError("x.json: file not found").exit_code, DataError("x").http_status
(2, 422)
"""


class BertkitError(Exception):
    """Base class: anything bertkit reports to a user as a one-line error."""

    exit_code = 2
    http_status = 422


class InputError(BertkitError, ValueError):
    """Bad arguments or request data: empty question, stride >= max_length, wrong JSON types, ..."""


class DataError(BertkitError, ValueError):
    """An input file that cannot be used as given: missing, unreadable, not UTF-8, or not in its format
    (names the file, and the line or example id where there is one)."""


class OutputError(BertkitError, OSError):
    """A destination that cannot be written: its folder is missing or read-only, or it is a directory where
    a file is wanted (or the reverse). Checked before the work starts wherever possible."""


class ModelLoadError(BertkitError, OSError):
    """A model that cannot be loaded: unknown path, Hub id while offline, corrupt or unsafe files."""

    http_status = 503
