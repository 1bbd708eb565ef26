"""The record format: how a commit is stored, whatever the database.

The record codec (a commit's events in one row, with its checksum), the head
a stream's last row implies, the hash-chain link each record carries, the
events table's columns both backends share, and a commit as the global log
hands it out.  May import ``domain`` and the eventsourcing library only: both
backends and the rest of ``stores`` build on it.
"""
