"""The review fixtures (reviewers, seeding through the import) serve the pair tests too."""

from tests.review.conftest import member, reviewer, reviewer2, seed

__all__ = ["member", "reviewer", "reviewer2", "seed"]
