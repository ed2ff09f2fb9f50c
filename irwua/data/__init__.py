"""The user's data: sample inputs checked against the model and streamed in batches, data files
and labels."""
