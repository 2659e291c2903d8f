"""The IR layer: building tensor-level IR (`builder`), matching it (`matchers`)
and the dialects every context knows (`context`). It imports only `dialects`."""
