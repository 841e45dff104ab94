"""Median, min and max over repetitions, and how the tables print them."""
import statistics


def summarize(values):
    """{"median", "min", "max", "n"} of a list of numbers (None for an empty list)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt_ns(x):
    """A nanosecond figure as the tables show it: 1,234 ns; 12.3 us; 1.23 ms."""
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return "%.2f ms" % (x / 1e6)
    if abs(x) >= 1e4:
        return "%.1f us" % (x / 1e3)
    return "{:,.0f} ns".format(x)


def fmt_range(s, fmt=fmt_ns):
    """'median (min-max)' of a summarize() result."""
    if s is None:
        return "-"
    return "%s (%s-%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))


def ratio(a, b):
    """a / b of two medians as 'x1.23', '-' when either is missing."""
    if a is None or b is None or b["median"] == 0:
        return "-"
    return "x%.2f" % (a["median"] / b["median"])
