"""Pin factories for gpiozero, chosen by name and always passed in explicitly.

``mock`` is gpiozero's own :class:`~gpiozero.pins.mock.MockFactory`, a working
fake. Any other name must open for real: there is no silent fallback to
emulation, because a kiosk that quietly drives imaginary pins would leave
phones unlockable.
"""

from __future__ import annotations

import importlib
import logging

from gpiozero import Factory

from hardware.errors import GPIOUnavailable

log = logging.getLogger(__name__)

FACTORIES = {
    "mock": ("gpiozero.pins.mock", "MockFactory"),
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
    "native": ("gpiozero.pins.native", "NativeFactory"),
}


def make_pin_factory(name: str) -> Factory:
    """Open the gpiozero pin factory called ``name`` or raise :class:`GPIOUnavailable`."""
    try:
        module_name, class_name = FACTORIES[name]
    except KeyError:
        raise GPIOUnavailable(
            f"unknown pin factory {name!r}: use one of {', '.join(FACTORIES)}"
        ) from None
    try:
        factory_class = getattr(importlib.import_module(module_name), class_name)
        return factory_class()
    except Exception as error:
        raise GPIOUnavailable(
            f"cannot open GPIO with pin factory {name!r} ({type(error).__name__}: {error}). "
            "Check that this is a Raspberry Pi, that the library is installed "
            "(python3-lgpio for 'lgpio'), that /dev/gpiochip* exists and that this user "
            "is in the 'gpio' group. For a laptop demo set [gpio] pin_factory = \"mock\"."
        ) from error
