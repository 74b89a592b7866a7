"""The REST server and web page: every task behind the same routes, with request limits and micro-batching."""
