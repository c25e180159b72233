"""A small PromQL-aware reader, for checking alert rules and dashboard queries without a Prometheus server:
the expression is tokenised, its brackets must pair, every function must be one PromQL has, and the series
names it selects are returned (to compare with what the services export). Not a full parser: promtool is the
full check where it is installed."""

from __future__ import annotations

import re

FUNCTIONS = {
    # aggregation operators
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"),
    "quantile",
    # functions
    *("abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month"),
    *("day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_quantile"),
    *("holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10"),
    *("minute", "month", "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt"),
    *("time", "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time"),
    *("count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time"),
    *("present_over_time", "label_values"),  # label_values: Grafana's variable query, not PromQL
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
KEYWORDS |= {"inf", "nan"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[\s*\d+[smhdwy](?:\s*:\s*(?:\d+[smhdwy])?)?\s*\]")
DURATION_OR_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])?\b")
LABEL_VALUES_LABEL = re.compile(r"(label_values\([^()]*?),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)")  # Grafana's (series, label)
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
PAIRS = {")": "(", "]": "[", "}": "{"}


class PromQLError(ValueError):
    pass


def check_brackets(expr: str) -> None:
    stack: list[str] = []
    for char in STRING.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in PAIRS and (not stack or stack.pop() != PAIRS[char]):
            raise PromQLError(f"unbalanced {char!r} in {expr!r}")
    if stack:
        raise PromQLError(f"unclosed {stack[-1]!r} in {expr!r}")


def metric_names(expr: str) -> set[str]:
    """The series names `expr` selects; raises PromQLError on an unknown function or unpaired brackets."""
    if not expr.strip():
        raise PromQLError("empty expression")
    check_brackets(expr)
    text = STRING.sub('""', expr)
    text = LABEL_VALUES_LABEL.sub(r"\1)", text)
    text = MATCHERS.sub("", text)
    text = GROUPING.sub(" ", text)
    text = RANGE.sub("", text)
    text = DURATION_OR_NUMBER.sub(" ", text)
    names: set[str] = set()
    for found in IDENTIFIER.finditer(text):
        word = found.group()
        called = text[found.end() :].lstrip().startswith("(")
        if called:
            if word not in FUNCTIONS:
                raise PromQLError(f"unknown function {word!r} in {expr!r}")
        elif word.lower() not in KEYWORDS:
            names.add(word)
    return names
