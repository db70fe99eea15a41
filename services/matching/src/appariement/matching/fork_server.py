"""Imported first by the matching engine's fork server: Ctrl-C ignored from its start.

multiprocessing makes the server ignore Ctrl-C only once every preload is imported, and the
engine takes 0.4 s to import: a Ctrl-C meanwhile printed the server's KeyboardInterrupt over
the caller's clean stop (figures: engine/processes.py). The workers it forks inherit the
setting. This module sits outside the engine package, whose __init__ imports the whole engine.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
