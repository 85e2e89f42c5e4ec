"""`paperchat eval`: gold questions x configs -> scores -> a typed summary -> a report.

Data flows one way, one module per step:
- `gold`: gold question files, checked against the corpus;
- `configs`: named presets (retriever, settings overrides, answer backend);
- `runner`: runs configs over gold items and scores every item once (`metrics`, `judge`);
- `summary`: aggregates the per-item scores into an `EvalSummary` (typed);
- `report`: renders a summary as report.md, charts and metrics.json;
- `baseline`: the plain LlamaIndex retriever compared against.
"""
