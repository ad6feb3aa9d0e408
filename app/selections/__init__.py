"""Named selections of items that exports can filter on (a diverse subset, a hand-picked set)."""
