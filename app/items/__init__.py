"""What examples and preference pairs share: the model for a kind, fetching one in a project,
snapshots, revisions (recording, history, reverting), status changes, the "content changed"
announcement and filtered listing. Examples and pairs keep only what is specific to them."""
