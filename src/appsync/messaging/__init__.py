"""Everything between this service and the Inngest server.

The SDK client, bounded sends and storage confirmation, the server's REST API and its
credentials, the guard on the calls the server makes to `/api/inngest`, and the envelope that
gives functions the event's `user` and `v` back.
"""
