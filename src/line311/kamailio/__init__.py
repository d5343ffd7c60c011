"""Kamailio as the SIP edge in front of several Asterisks (``asterisks >= 2``)."""
