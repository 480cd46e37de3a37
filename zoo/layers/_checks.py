"""The layers' argument checks: they live in `zoo.checks` (public, shared by
the models, callbacks and decoder); this name is kept for the modules that
import it from here."""

from zoo.checks import boolean, finite_number, integer, non_negative_int, positive_int, rank, rate

__all__ = ["boolean", "finite_number", "integer", "non_negative_int", "positive_int", "rank", "rate"]
