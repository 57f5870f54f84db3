"""Typed errors. Each message is one line that names the problem; the CLI prints it and exits with code 2."""


class BertkitError(Exception):
    """Base class: anything bertkit reports to a user as a one-line error."""


class InputError(BertkitError, ValueError):
    """Bad arguments or request data: empty question, stride >= max_length, wrong JSON types, ..."""


class DataError(BertkitError, ValueError):
    """A dataset file that cannot be used as given (names the file and the example id)."""


class ModelLoadError(BertkitError, OSError):
    """A model that cannot be loaded: unknown path, Hub id while offline, corrupt or unsafe files."""
