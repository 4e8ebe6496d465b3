"""HTTP routes: thin functions; the work happens in the service modules they call."""
