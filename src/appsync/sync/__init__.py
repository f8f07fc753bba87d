"""The sync pipeline's domain, without Inngest.

Fetching specs safely, decoding bodies, documents → batch events, batch signatures, and a sync's
status.
"""
