"""trainwise: from a dataset to a well-trained, evaluated and documented neural network."""

__version__ = "0.1.0"
