"""The real model router in tests: the fake model servers it routes to and its process."""
