"""fer: real-time facial expression recognition engine (detection, preprocessing, inference, training).

Importing this package imports neither TensorFlow nor Streamlit: heavy modules load lazily so a
process can import aiortc before TensorFlow (the other order crashes).
"""
