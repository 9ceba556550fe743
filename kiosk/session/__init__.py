"""Guest sessions: the durable journal, the session store and the retention policy."""
