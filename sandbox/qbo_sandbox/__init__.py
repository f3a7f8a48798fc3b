"""Local QuickBooks Online Accounting API v3 sandbox (wire-faithful, minorversion 75).

Modules: ``app`` (ASGI app: API, OAuth, ``/_sandbox`` control API), ``store`` (realms, overlay,
the interface ``reports.py`` reads), ``generator``/``company`` (deterministic lazy data),
``query`` (QBO query language), ``mutations`` (writes), ``oauth``, ``webhooks``, ``balances``,
``wire`` (JSON bytes, timestamps, faults), ``clock``, ``testing`` (QboSandboxServer),
``pytest_plugin`` (fixtures), ``cli`` (``qbo-sandbox serve``). See sandbox/README.md.
"""
