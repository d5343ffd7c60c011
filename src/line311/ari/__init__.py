"""The ARI edge: line311's own thin async client for Asterisk's REST Interface.

- `line311.ari.client.AriClient`: REST calls (typed models, `line311.ari.rest`), event
  waiters, and the event loop with ordered per-channel delivery (`line311.ari.lanes`) and
  reconnect-with-backoff.
- `line311.ari.translate.translate`: the only place ARI JSON becomes core events.
- `line311.ari.controller.Controller`: runs each call's `CallSession` against Asterisk.
- `line311.ari.errors`: the `AriError` tree; foreign exceptions are mapped in
  `line311.ari.rest.map_exceptions`.
"""
