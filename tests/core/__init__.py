"""Tests of asynchttp_lowhaio, the core, against real local servers."""
