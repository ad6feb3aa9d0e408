"""The project dashboard (progress, sources, ratings, annotators) and the agreement page.

``repository`` holds the SQL (one GROUP BY per figure), ``service`` and ``agreement`` turn it
into figures (agreement through the pure ``app.agreement`` algorithms), ``charts`` lays out
the inline SVG, ``pages`` and ``router`` serve HTML and JSON.
"""
