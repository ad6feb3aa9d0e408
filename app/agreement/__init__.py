"""Inter-annotator agreement: pure algorithms, no database and no web.

``alpha`` (Krippendorff's alpha over a coincidence matrix: nominal, ordinal and interval data,
missing values allowed), ``kappa`` (percent agreement and Cohen's kappa for two raters over
nominal categories, and every rater pair of a set of units) and ``disagreements`` (the units
raters disagree on, for adjudication). ``app.dashboard.agreement`` feeds them a project's labels.
"""
