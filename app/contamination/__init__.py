"""Contamination checks: find eval-set items that leak into training data.

Pure algorithms (``text``, ``sketch``, ``ngrams``, ``align``, ``anchors``, ``detector``) know
nothing of the web or the database; ``service``/``repository``/``handlers`` wire them to projects,
eval sets and the job queue.
"""
