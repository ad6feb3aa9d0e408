"""Evaluation: scorers, intervals, gates and the verdict, generation backends, the item runner.

Pure library code: nothing here imports the web app, SQLAlchemy or the database, so a GPU host
(or the CLI) can score a model with only these modules and the model's own dependencies.
"""
