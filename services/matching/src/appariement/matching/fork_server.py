"""Imported first by the matching engine's fork server (engine/processes.py): Ctrl-C ignored
from its start, before the engine is imported.

A terminal's Ctrl-C reaches every process of the run. The server ignores it once its preloads
are imported, but importing the engine takes 0.4 s, and a Ctrl-C then printed the server's
KeyboardInterrupt over the caller's clean stop (6 of 40 Ctrl-Cs at random moments of a
threaded run). The workers it forks inherit the setting, so none prints one while it starts.
This module sits outside the engine package: importing anything inside it imports the whole
engine first, the window this closes.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
