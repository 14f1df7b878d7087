"""What the demo and the tests run on without downloads: synthetic clips with known captions (`synthetic`) and tiny
checkpoints of every family (`tiny`)."""
