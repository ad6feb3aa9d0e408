"""The contamination check's job kinds and detection methods."""

CHECK_JOB = "contamination_check"
CHUNK_JOB = "contamination_chunk"
INDEX_JOB = "eval_index"
CHUNK_SIZE = 2000
METHODS = ("minhash", "containment", "embedding")
