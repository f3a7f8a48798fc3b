"""Receiver for Tableau webhooks. Tableau signs nothing, so an event is used only once it passed
every check in `receiver.py`, the last of which asks the REST API whether it really happened."""
