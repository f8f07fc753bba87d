"""The operations index: the port (`base`), shared ranking (`ranking`), one adapter per store.

`appsync.index.factory.open_index(url, *, dimensions)` picks the adapter from `APPSYNC_INDEX_URL`:
`sqlite:///<path>` (the default, a file under `APPSYNC_DATA_DIR`) or `postgresql://…`.
"""
