"""Per-family placement and memory rules, one module per NPU family.

Each module exposes ``check(analysis, board) -> FamilyResult`` (``predict.rules.base``); the
family spec (``targets/families/<family>.toml``) names the module in ``[family].rules``, so
adding a family adds no table here. May import predict.rules.base, errors, schema, targets,
analysis.
"""
