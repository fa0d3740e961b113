"""The hostile-server suite: a catalogue of misbehaving servers run against both packages (issue 6)."""
