"""Built-in examples for `losswatch demo`: a simulated training job, nothing to download."""
