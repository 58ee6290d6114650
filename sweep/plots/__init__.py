"""Pictures of runs, sweeps and payment days, drawn from the stored tables alone.

Two layers, so that a test can check what a figure shows against what was stored:

* **frames** (`run_frames`, `sweep_frames`, `llm_frames`, `day_frames`): small
  `pyarrow.Table`s built from the Parquet tables (or the engine's event trace) — one row per
  plotted point, money in int64 cents as stored;
* **drawing** (`draw_run`, `draw_sweep`, `draw_llm`, `draw_day`): one matplotlib `Figure`
  per frame set, dollars on the axes. Every data artist carries a ``gid`` naming its series,
  so its data can be read back from the figure.

`figures` ties them together (`run_figures`, `sweep_figures`, `save_figure`); `source` reads
a store and turns bad input (no sweep, an unknown run id) into one-line `ConfigError`s.
matplotlib is used without pyplot (no global state, no GUI backend: the Agg canvas).
"""
