"""The ``phonelocker`` command line.

:mod:`kiosk.cli.base` is the shared API (group, context, decorators); one module per
command group; :mod:`kiosk.cli.main` puts them together (the console script).
"""
