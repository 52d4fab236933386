"""TLC trip files -> a fitted model -> the artifact the runtime loads.

``tlc`` reads and cleans NYC TLC files into the feature columns; ``train`` fits
and selects the model; ``export`` turns scikit-learn's trees into tree tables;
``skops_writer`` saves a generic regressor; ``modelcard`` writes the card.
scikit-learn, pandas and pyarrow are imported here and never by the runtime.
Imports ``streaming.model`` (the artifact format) and ``streaming.consumer``
(the feature builder the served model sees).
"""
