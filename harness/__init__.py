"""Test and benchmark helpers: real servers on loopback, and readers of the Inngest server."""
