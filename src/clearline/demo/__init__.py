"""The demo room: what `make run` and `clearline demo` show.

- `live` runs the live demo: a simulated world's later days as HTTP traffic through a fresh
  platform, on a dashboard, then the API stays up until Ctrl-C. Its parts: `options` (what a run
  is asked and what it leaves), `world` (the world, the training world and the model, each made
  once and cached), `history` (warming the feature state and installing the model), `platform`
  (the one seam onto the payments service and the API), `server` (uvicorn in a thread),
  `dashboard` (what is shown), `errors`, and `traffic` (the separate process that sets the world
  up and replays it through HTTP; `python -m clearline.demo.traffic`).
- `burst` is the older ledger-only burst demo (`clearline demo --ledger-burst`).

This package imports nothing itself, so the traffic child process loads only what it uses.
"""
