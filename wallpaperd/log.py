"""Logging: structlog, readable on a terminal, one key=value line per event otherwise.

Under systemd (``JOURNAL_STREAM`` set) the journal stamps each line itself, so the
records carry no timestamp of their own.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    tty = sys.stderr.isatty()
    renderer = structlog.dev.ConsoleRenderer(colors=True) if tty else structlog.processors.LogfmtRenderer(
        key_order=["level", "event"], drop_missing=True)
    processors = [structlog.processors.add_log_level]
    if not os.environ.get("JOURNAL_STREAM"):
        processors.append(structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False))
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Looked up per logger, so a replaced sys.stderr (tests, redirection) is honoured.
        logger_factory=lambda *args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The libraries' own chatter (dtype notes, progress bars) is not the user's business.
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
