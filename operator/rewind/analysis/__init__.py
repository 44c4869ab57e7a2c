"""Canary analysis in three steps: render PromQL from a template, run it, judge the value.

- `render`: pure; substitutes the query placeholders, escaping every value for PromQL label matchers.
- `provider` / `prometheus`: the tiny backend interface and its Prometheus implementation (the only I/O).
- `judge`: pure; turns a measured value into Pass, Fail or Inconclusive against a metric's thresholds.
- `check`: runs the three steps for every metric of a ModelDeployment.
"""
