"""Baseline 2: the Channels tutorial's chat room, what a Django developer writes first
(https://channels.readthedocs.io/en/stable/tutorial/part_3.html), served by Daphne.

No authentication and no database: only the consumer and the channel layer are measured.
"""
