"""What every command shares, whichever package it lives in: the argument parser
(one-line mistakes, plain help with defaults) and the error path (one line on
stderr naming the problem and the fix, a non-zero exit, the traceback with -v).

A leaf: it imports nothing else of ``streaming``, so ``tools``, ``serving`` and
``training`` all use the same rules.
"""
