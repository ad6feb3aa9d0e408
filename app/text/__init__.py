"""Pure text machinery both checks use: folding and words, n-gram hashing and MinHash sketches,
and the text of an item's turns. No web, no database."""
