"""The one exception family that callers show to people as a one-line message.

Anything raised as a `StudioError` is an expected fault (bad file, bad input, bad value)
whose text is fit for a user: the CLI prints it and exits non-zero, the app shows it with
`st.error`. Anything else is a bug and keeps its traceback.
"""


class StudioError(Exception):
    """An expected fault with a message written for the person who caused it."""


class DataError(StudioError):
    """A data file is missing, malformed or fails its checksum."""


class InputError(StudioError):
    """An image, value or name given by the user cannot be used."""


class ModelError(StudioError):
    """A model file or run directory cannot be loaded."""


class SpecError(InputError):
    """A network spec that cannot be used: the line names the layer (position and type)."""
