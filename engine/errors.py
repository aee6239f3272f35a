"""Typed errors raised by the engine; pages turn them into plain messages."""


class VisionLabError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidImage(VisionLabError):
    """The input is not a readable image, or is too large to decode safely."""


class NoFaceFound(VisionLabError):
    """An operation that needs a face got an image without one."""


class ModelFileError(VisionLabError):
    """A model file is missing, truncated, or not the model we expected."""


class ModelMismatch(VisionLabError):
    """Embeddings of one model were compared with or stored beside another model's."""
