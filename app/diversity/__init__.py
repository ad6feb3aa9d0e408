"""Diversity checks: what a training set covers, what it repeats, and what to keep.

The pure algorithms know nothing of the web or the database, so the CLI runs them on files and
tests call them directly: ``neighbours`` (exact kNN and close pairs; usearch above 200,000
rows), ``lexical`` and ``groups`` (near-duplicate groups), ``clusters`` (seeded k-means),
``vendi`` (Vendi score), ``subset`` (DEITA-style diverse subset), ``projection`` (2D map),
``scores`` (per-item and dataset scores, one-row re-scoring) and ``files``
(``trellis check diversity``).  The service, repository and routes wire them to projects.
"""
