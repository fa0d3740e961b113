"""asynchttp: httplib2-compatible promises over a background asyncio loop."""
