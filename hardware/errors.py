"""The hardware layer's exceptions: one small tree, like gpiozero's."""


class HardwareError(Exception):
    """A device cannot be opened or used; the message says what to check."""


class GPIOUnavailable(HardwareError):
    """The configured pin factory or a pin cannot be opened."""


class ReaderUnavailable(HardwareError):
    """The NFC reader cannot be opened at its device path."""


class NoReaderAnswered(HardwareError):
    """A virtual card was presented but no reader sensed it in time."""
