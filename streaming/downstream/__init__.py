"""What the services downstream of our streams share: tolerant, bounded readers
of prediction events (``predictions``) and ride-finished events (``finished``),
used by ``streaming evaluate`` and the monitoring function alike."""
