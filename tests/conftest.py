"""Shared fixtures: every bench component is a pytest plugin under testbench/fixtures/."""

pytest_plugins = [
    "testbench.fixtures.kafka",
    "testbench.fixtures.kube",
    "testbench.fixtures.postgres",
    "testbench.fixtures.redis",
    "testbench.fixtures.slack",
]
